# Reference values for bayesma's rma_mh, rma_peto and rma_glmm (helper G, issue 13).
# Run from this folder: Rscript make_pooling.R  (writes pooling_reference.json and the CSVs)
# Data: metadat's dat.bcg (Colditz et al. 1994), dat.nielweise2007 (Niel-Weise et al. 2007),
# dat.hart1999 (Hart et al. 1999), dat.pritz1997 (Pritz 1997), dat.debruin2009
# (de Bruin et al. 2009) and a constructed sparse table with zero and double-zero studies.
suppressMessages({library(metafor); library(lme4); library(jsonlite)})

sparse <- data.frame(study = paste("S", 1:6), ai = c(0, 2, 0, 5, 1, 3), n1i = c(20, 35, 15, 60, 40, 50),
                     ci = c(1, 4, 0, 9, 0, 6), n2i = c(22, 33, 15, 58, 41, 52))
rates <- data.frame(study = paste("R", 1:5), x1i = c(3, 0, 12, 7, 2), t1i = c(120.5, 80, 400, 230, 95),
                    x2i = c(6, 2, 20, 7, 0), t2i = c(118, 85.5, 390, 260, 90))
bcg <- dat.bcg[, c("author", "year", "tpos", "tneg", "cpos", "cneg")]
niel <- dat.nielweise2007[, c("study", "author", "year", "ai", "n1i", "ci", "n2i")]
hart <- dat.hart1999[, c("study", "x1i", "t1i", "x2i", "t2i")]
pritz <- dat.pritz1997[, c("study", "xi", "ni")]
debruin <- dat.debruin2009[, c("author", "year", "xi", "ni")]
write.csv(bcg, "bcg.csv", row.names = FALSE)
write.csv(niel, "nielweise2007.csv", row.names = FALSE)
write.csv(hart, "hart1999.csv", row.names = FALSE)
write.csv(pritz, "pritz1997.csv", row.names = FALSE)
write.csv(debruin, "debruin2009.csv", row.names = FALSE)
write.csv(sparse, "sparse.csv", row.names = FALSE)
write.csv(rates, "rates.csv", row.names = FALSE)

nz <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NULL else unname(x)
pack <- function(r) list(estimate = unname(c(r$beta)), se = r$se, zval = r$zval, pval = r$pval,
  ci_low = r$ci.lb, ci_high = r$ci.ub, q = r$QE, q_pval = r$QEp, i2 = r$I2, h2 = r$H2,
  cmh = nz(r$MH), cmh_pval = nz(r$MHp), cochran = nz(r$CO), cochran_pval = nz(r$COp),
  breslow_day = nz(r$BD), breslow_day_pval = nz(r$BDp), tarone = nz(r$TA), tarone_pval = nz(r$TAp),
  k = r$k, k_yi = r$k.yi, k_pos = nz(r$k.pos), yi = unname(c(r$yi.f)), vi = unname(c(r$vi.f)),
  ll = r$fit.stats["ll", "ML"])

mh <- list()
for (m in c("OR", "RR", "RD")) {
  for (cr in c(TRUE, FALSE)) {
    nm <- paste0("bcg_", m, if (cr) "" else "_nocorrect")
    mh[[nm]] <- c(list(data = "bcg.csv", measure = m, correct = cr, level = 95,
      args = list(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg")),
      pack(rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg, measure = m, correct = cr)))
  }
  mh[[paste0("niel_", m)]] <- c(list(data = "nielweise2007.csv", measure = m, correct = TRUE, level = 95,
      args = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i")),
      pack(rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = niel, measure = m)))
  mh[[paste0("sparse_", m, "_level90")]] <- c(list(data = "sparse.csv", measure = m, correct = TRUE, level = 90,
      args = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i")),
      pack(suppressWarnings(rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = sparse, measure = m, level = 90))))
  mh[[paste0("sparse_", m, "_keep00")]] <- c(list(data = "sparse.csv", measure = m, correct = TRUE, level = 95,
      drop00 = FALSE, to = "all", add = 0.25,
      args = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i")),
      pack(rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = sparse, measure = m,
                  drop00 = FALSE, to = "all", add = 0.25)))
}
for (m in c("IRR", "IRD")) {
  for (cr in c(TRUE, FALSE)) {
    mh[[paste0("hart_", m, if (cr) "" else "_nocorrect")]] <- c(list(data = "hart1999.csv", measure = m, correct = cr,
      level = 95, args = list(x1i = "x1i", t1i = "t1i", x2i = "x2i", t2i = "t2i")),
      pack(rma.mh(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = hart, measure = m, correct = cr)))
  }
  mh[[paste0("rates_", m)]] <- c(list(data = "rates.csv", measure = m, correct = TRUE, level = 95,
      args = list(x1i = "x1i", t1i = "t1i", x2i = "x2i", t2i = "t2i")),
      pack(rma.mh(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = rates, measure = m)))
}

peto <- list(
  bcg = c(list(data = "bcg.csv", level = 95, args = list(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg")),
          pack(rma.peto(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg))),
  niel = c(list(data = "nielweise2007.csv", level = 95, args = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i")),
           pack(rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = niel))),
  sparse_level90 = c(list(data = "sparse.csv", level = 90, args = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i")),
           pack(suppressWarnings(rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = sparse, level = 90)))))

# --- GLMMs: rma.glmm with its defaults, and the same glmer model with a tight optimizer
tight <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12,
  optCtrl = list(xtol_rel = 1e-14, ftol_rel = 1e-15, ftol_abs = 1e-15, xtol_abs = 1e-14, maxeval = 1e5))
tight2 <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-11, maxfun = 1e6))
glmm_tables <- function(ai, bi, ci, di, model, nAGQ) {
  keep <- !((ai == 0 & ci == 0) | (bi == 0 & di == 0))  # rma.glmm's drop00 = TRUE
  ai <- ai[keep]; bi <- bi[keep]; ci <- ci[keep]; di <- di[keep]
  k <- length(ai)
  y <- cbind(xi = c(rbind(ai, ci)), mi = c(rbind(bi, di)))
  X.fit <- rep(c(1, 0), times = k); group <- rep(c(1/2, -1/2), times = k)
  study <- factor(rep(seq_len(k), each = 2L)); const <- rep(1, 2 * k)
  out <- list()
  for (nm in c("nloptwrap", "bobyqa")) {
    ctl <- if (nm == "nloptwrap") tight else tight2
    f <- if (model == "UM.FS") y ~ -1 + X.fit + study + (group - 1 | study)
         else y ~ -1 + X.fit + const + (group || study)
    g <- try(suppressMessages(glmer(f, family = binomial, nAGQ = nAGQ, control = ctl)), silent = TRUE)
    if (inherits(g, "try-error")) { message("glmer failed: ", model, " ", nm, " nAGQ ", nAGQ); next }
    vc <- VarCorr(g)
    out[[nm]] <- list(estimate = unname(fixef(g)[1]), se = sqrt(vcov(g)[1, 1]),
      tau2 = if (model == "UM.FS") vc[[1]][1] else vc[[2]][1],
      sigma2 = if (model == "UM.FS") NULL else vc[[1]][1],
      loglik = c(logLik(g)), deviance_resid = deviance(g))
  }
  out
}
glmm_props <- function(xi, ni, nAGQ) {
  y <- cbind(xi = xi, mi = ni - xi); study <- factor(seq_along(xi)); X.fit <- rep(1, length(xi))
  out <- list()
  for (nm in c("nloptwrap", "bobyqa")) {
    ctl <- if (nm == "nloptwrap") tight else tight2
    g <- try(suppressMessages(glmer(y ~ -1 + X.fit + (1 | study), family = binomial, nAGQ = nAGQ, control = ctl)), silent = TRUE)
    if (inherits(g, "try-error")) { message("glmer failed: PLO ", nm); next }
    out[[nm]] <- list(estimate = unname(fixef(g)[1]), se = sqrt(vcov(g)[1, 1]), tau2 = VarCorr(g)[[1]][1],
      loglik = c(logLik(g)), deviance_resid = deviance(g))
  }
  out
}
gpack <- function(r) list(estimate = unname(c(r$beta)), se = r$se, zval = r$zval, pval = r$pval,
  ci_low = r$ci.lb, ci_high = r$ci.ub, tau2 = r$tau2, sigma2 = nz(r$sigma2), k = r$k,
  ll = r$fit.stats["ll", "ML"], QE_Wld = r$QE.Wld, QEp_Wld = r$QEp.Wld, QE_LRT = r$QE.LRT, QEp_LRT = r$QEp.LRT)

glmm <- list()
tab <- list(bcg = list(d = bcg, a = "tpos", b = "tneg", c = "cpos", dd = "cneg", file = "bcg.csv"),
            niel = list(d = niel, file = "nielweise2007.csv"))
for (dn in names(tab)) {
  t <- tab[[dn]]
  if (dn == "bcg") { ai <- bcg$tpos; bi <- bcg$tneg; ci <- bcg$cpos; di <- bcg$cneg
    args <- list(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg") }
  else { ai <- niel$ai; bi <- niel$n1i - niel$ai; ci <- niel$ci; di <- niel$n2i - niel$ci
    args <- list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i") }
  for (model in c("UM.FS", "UM.RS")) {
    nAGQ <- if (model == "UM.FS") 7 else 1
    r <- suppressWarnings(rma.glmm(measure = "OR", ai = ai, bi = bi, ci = ci, di = di, model = model, nAGQ = nAGQ))
    glmm[[paste(dn, model, sep = "_")]] <- list(data = t$file, measure = "OR", model = model, nAGQ = nAGQ,
      args = args, metafor = gpack(r), tight = glmm_tables(ai, bi, ci, di, model, nAGQ))
  }
  r <- rma.glmm(measure = "OR", ai = ai, bi = bi, ci = ci, di = di, model = "UM.FS", nAGQ = 1)
  glmm[[paste(dn, "UM.FS_nAGQ1", sep = "_")]] <- list(data = t$file, measure = "OR", model = "UM.FS", nAGQ = 1,
    args = args, metafor = gpack(r), tight = glmm_tables(ai, bi, ci, di, "UM.FS", 1))
}
for (dn in c("pritz", "debruin")) {
  d <- if (dn == "pritz") pritz else debruin
  for (nAGQ in c(7, 1)) {
    r <- rma.glmm(measure = "PLO", xi = xi, ni = ni, data = d, nAGQ = nAGQ)
    glmm[[paste0(dn, "_PLO_nAGQ", nAGQ)]] <- list(data = paste0(if (dn == "pritz") "pritz1997" else "debruin2009", ".csv"),
      measure = "PLO", model = "UM.FS", nAGQ = nAGQ, args = list(xi = "xi", ni = "ni"),
      metafor = gpack(r), tight = glmm_props(d$xi, d$ni, nAGQ))
  }
}

out <- list(versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
  lme4 = as.character(packageVersion("lme4")), metadat = as.character(packageVersion("metadat"))),
  mh = mh, peto = peto, glmm = glmm)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE),
           "pooling_reference.json")
