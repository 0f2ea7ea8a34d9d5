# Reference values for bm.selmodel: metafor 3.8's selmodel() on three metadat datasets
# (dat.baskerville2012, dat.hahn2001, dat.hackshaw1998; CSVs in this folder, written
# from metadat with the columns used) x the six selection functions, plus moderators,
# a cut point for a continuous type, two-sided p-values and the "empty interval" error.
#
# Each case is fitted twice:
#   "default":  (step functions only, to keep the run short) selmodel() with metafor's defaults (optim BFGS, reltol 1e-8; integrate()
#               with rel.tol = eps^0.25 for the continuous types);
#   "accurate": the same model with tight optimiser and integration tolerances
#               (reltol = 1e-12; intCtrl rel.tol = 1e-10, 1000 subdivisions), falling
#               back to nlminb when optim stops with an error.
# The tests compare bayesma with "accurate" (1e-4 relative); "default" is kept to show
# how far metafor's own defaults are from the maximum (see test_selmodel.py).
#
# Run: Rscript make_selmodel.R   (from this folder; writes selmodel_reference.json)
suppressMessages(library(metafor))
library(jsonlite)

bask <- read.csv("baskerville2012.csv")
hahn <- read.csv("hahn2001.csv")
hack <- read.csv("hackshaw1998.csv")

cases <- list()
add <- function(name, data, method, type, alternative, steps = NULL, mods = NULL) {
  cases[[name]] <<- list(data = data, method = method, type = type,
                         alternative = alternative, steps = steps, mods = mods)
}
sets <- list(
  baskerville2012 = list("REML", "greater", c(0.025), c(0.025, 0.1)),
  hahn2001        = list("EE",   "less",    c(0.025), c(0.025, 0.5)),
  hackshaw1998    = list("REML", "greater", c(0.025), c(0.025, 0.5)))
for (ds in names(sets)) {
  s <- sets[[ds]]
  # continuous types on all three datasets (R's integrate() makes these slow)
  for (ty in c("beta", "halfnorm", "negexp", "logistic", "power"))
      add(paste(ds, ty, sep = "/"), ds, s[[1]], ty, s[[2]])
  add(paste(ds, "stepfun1", sep = "/"), ds, s[[1]], "stepfun", s[[2]], s[[3]])
  add(paste(ds, "stepfun2", sep = "/"), ds, s[[1]], "stepfun", s[[2]], s[[4]])
}
add("baskerville2012/mods_stepfun1", "baskerville2012", "REML", "stepfun", "greater",
    c(0.025), mods = "blind")
add("hackshaw1998/stepfun_twosided", "hackshaw1998", "REML", "stepfun", "two.sided", c(0.05))
add("baskerville2012/stepfun_empty", "baskerville2012", "REML", "stepfun", "greater",
    c(0.025, 0.5))

fit_one <- function(cs, accurate) {
  d <- get(substr(cs$data, 1, 4))
  res <- if (is.null(cs$mods)) rma(yi, vi, data = d, method = cs$method)
         else rma(yi, vi, mods = as.formula(paste("~", cs$mods)), data = d, method = cs$method)
  args <- list(res, type = cs$type, alternative = cs$alternative)
  if (!is.null(cs$steps)) args$steps <- cs$steps
  optimiser <- "optim BFGS"
  if (accurate) {
    args$control <- list(reltol = 1e-12, intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L))
  }
  warns <- character(0)
  sel <- tryCatch(withCallingHandlers(do.call(selmodel, args),
           warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
           error = function(e) e)
  if (inherits(sel, "error") && accurate) {
    args$control <- list(optimizer = "nlminb", eval.max = 10000, iter.max = 10000,
                         rel.tol = 1e-14, x.tol = 1e-12,
                         intCtrl = list(rel.tol = 1e-10, subdivisions = 1000L))
    optimiser <- "nlminb"
    warns <- character(0)
    sel <- tryCatch(withCallingHandlers(do.call(selmodel, args),
             warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }),
             error = function(e) e)
  }
  if (inherits(sel, "error")) return(list(error = conditionMessage(sel)))
  list(beta = c(sel$beta), se = sel$se, zval = sel$zval, pval = sel$pval,
       ci_lb = sel$ci.lb, ci_ub = sel$ci.ub,
       tau2 = sel$tau2, se_tau2 = sel$se.tau2, delta = c(sel$delta),
       se_delta = sel$se.delta, zval_delta = sel$zval.delta, pval_delta = sel$pval.delta,
       ci_lb_delta = sel$ci.lb.delta, ci_ub_delta = sel$ci.ub.delta,
       ll = sel$ll, ll0 = sel$ll0, LRT = sel$LRT, LRTdf = sel$LRTdf, LRTp = sel$LRTp,
       LRT_tau2 = sel$LRT.tau2, LRTp_tau2 = sel$LRTp.tau2, QM = sel$QM, QMp = sel$QMp,
       k = sel$k, pvals = sel$pvals, ptable = if (is.data.frame(sel$ptable)) sel$ptable$k else NULL,
       optimiser = optimiser, warnings = warns)
}

meta <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
             metadat = as.character(packageVersion("metadat")),
             numDeriv = as.character(packageVersion("numDeriv")),
             datasets = c(baskerville2012 = "metadat::dat.baskerville2012 (yi = smd, vi = se^2)",
                          hahn2001 = "metadat::dat.hahn2001, escalc('OR', drop00 = TRUE), rows with yi NA removed",
                          hackshaw1998 = "metadat::dat.hackshaw1998 (log odds ratios)"))
save <- function() write_json(list(meta = meta, cases = out), "selmodel_reference.json", digits = NA,
           auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null")
out <- list()
for (nm in names(cases)) {
  cs <- cases[[nm]]
  message(nm)
  out[[nm]] <- list(data = cs$data, method = cs$method, type = cs$type,
                    alternative = cs$alternative, steps = cs$steps, mods = cs$mods,
                    default = if (cs$type == "stepfun") fit_one(cs, FALSE) else NULL,
                    accurate = fit_one(cs, TRUE))
  save()  # after every case, so a long run leaves what it has
}
