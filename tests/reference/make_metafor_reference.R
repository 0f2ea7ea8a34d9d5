# Regenerate the metafor / clubSandwich reference values in tests/reference/metafor/*.json
# from the data in tests/reference/data/*.csv.
#
#   Rscript tests/reference/make_metafor_reference.R [OUTDIR]
#
# OUTDIR defaults to a new temporary folder (the shipped files are never overwritten);
# compare with `python tests/reference/compare_reference.py OUTDIR`.
# Written for R 4.2 + metafor 3.8-1, metadat 1.2-0, clubSandwich 0.5.8 (Debian bookworm's
# r-cran-* packages); the field meanings are documented in tests/reference/README.md.
#
# Every fit except rma.methods / rma.confint uses tight convergence (TIGHT below), so the
# values are the exact estimates to ~1e-10. Numbers are written with sprintf("%.17g") so
# each parses to the IEEE double R held; NA, NaN and +-Inf are written as null.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(clubSandwich)
})

args <- commandArgs(trailingOnly = TRUE)
here <- local({
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
datadir <- file.path(here, "data")
outdir <- if (length(args)) args[1] else tempfile("metafor_reference_")
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

TIGHT <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
METHODS <- c("EE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "PMM", "GENQ")
ITERATIVE <- c("ML", "REML", "EB", "PM", "PMM")

# ----------------------------------------------------------------------------- JSON writer
# A list with names -> object; a list without names -> array; an atomic vector of length 1
# -> scalar unless wrapped in arr(); NULL -> null.
arr <- function(x) structure(list(x), class = "json_array")
num <- function(x) {
  if (is.na(x) || !is.finite(x)) return("null")
  if (x == round(x) && abs(x) < 1e15) return(sprintf("%.0f", x))
  sprintf("%.17g", x)
}
str_json <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  paste0("\"", s, "\"")
}
atom <- function(x) {
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  if (is.numeric(x)) return(num(x))
  if (is.na(x)) return("null")
  str_json(as.character(x))
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (inherits(x, "json_array")) {
    v <- unclass(x)[[1]]
    if (is.list(v)) return(paste0("[", paste(vapply(v, to_json, ""), collapse = ", "), "]"))
    return(paste0("[", paste(vapply(seq_along(v), function(i) atom(v[i]), ""), collapse = ", "), "]"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (is.list(x)) {
    if (!is.null(names(x))) {
      items <- vapply(names(x), function(n) paste0(str_json(n), ": ", to_json(x[[n]])), "")
      return(paste0("{", paste(items, collapse = ", "), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ", "), "]"))
  }
  x <- unname(x)
  if (length(x) == 1) return(atom(x))
  paste0("[", paste(vapply(seq_along(x), function(i) atom(x[i]), ""), collapse = ", "), "]")
}

# run an R call; errors become {"error": msg}, warnings are kept beside the values
capture <- function(expr) {
  warns <- character()
  val <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(list(error = conditionMessage(e)), class = "failed")),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  list(value = val, warnings = warns)
}
failed <- function(v) inherits(v, "failed")
with_warnings <- function(fields, warns) {
  if (length(warns)) fields$warnings <- arr(unique(warns))
  fields
}
na_null <- function(x) if (is.null(x) || all(is.na(x))) NULL else x

# ----------------------------------------------------------------------------- rma fields
fit_stats <- function(fit) {
  fs <- fit$fit.stats
  out <- list()
  for (type in c("ML", "REML")) {
    out[[type]] <- list(ll = fs["ll", type], dev = fs["dev", type], AIC = fs["AIC", type],
                        BIC = fs["BIC", type], AICc = fs["AICc", type])
  }
  out
}

stat_fields <- function(fit, vec = FALSE) {
  wrap <- if (vec) arr else identity
  out <- list(b = wrap(as.vector(fit$beta)), se = wrap(fit$se))
  if (fit$test == "z") {
    out$zval <- wrap(fit$zval)
  } else {
    out$tval <- wrap(fit$zval)
    out$df <- fit$ddf[1]
  }
  c(out, list(pval = wrap(fit$pval), ci.lb = wrap(fit$ci.lb), ci.ub = wrap(fit$ci.ub)))
}

het_fields <- function(fit) {
  list(tau2 = fit$tau2, se.tau2 = fit$se.tau2, tau = sqrt(fit$tau2), I2 = fit$I2, H2 = fit$H2,
       QE = fit$QE, QEdf = fit$k - fit$p, QEp = fit$QEp)
}

rma_fields <- function(fit) {
  c(list(method = fit$method, test = fit$test, k = fit$k, p = fit$p), stat_fields(fit),
    het_fields(fit), list(fit_stats = fit_stats(fit)))
}

rma_call <- function(d, method, control = NULL, ...) {
  if (method == "GENQ") {
    return(rma(yi, vi, data = d, weights = 1 / vi, method = "GENQ", slab = seq_len(nrow(d)), ...))
  }
  if (is.null(control)) rma(yi, vi, data = d, method = method, slab = seq_len(nrow(d)), ...)
  else rma(yi, vi, data = d, method = method, slab = seq_len(nrow(d)), control = control, ...)
}

fitted_section <- function(expr, fields) {
  r <- capture(expr)
  if (failed(r$value)) return(with_warnings(unclass(r$value), r$warnings))
  with_warnings(fields(r$value), r$warnings)
}

# ----------------------------------------------------------------------------- sections
section_rma <- function(d) {
  methods <- list()
  for (m in METHODS) {
    methods[[m]] <- fitted_section(rma_call(d, m), function(f) {
      x <- rma_fields(f)
      if (m == "GENQ") x$weights <- "1/vi"
      x
    })
  }
  tight <- list()
  for (m in ITERATIVE) tight[[m]] <- fitted_section(rma_call(d, m, TIGHT), rma_fields)
  fit_of <- function(m, test = "z") rma_call(d, m, if (m %in% ITERATIVE) TIGHT else NULL, test = test)
  knha <- list()
  for (m in c("DL", "REML")) knha[[m]] <- fitted_section(fit_of(m, "knha"), rma_fields)
  pred <- list()
  for (m in c("DL", "REML")) {
    for (t in c("z", "knha")) {
      key <- if (t == "z") m else paste0(m, "_knha")
      pred[[key]] <- fitted_section(predict(fit_of(m, t)), function(p) {
        list(pred = p$pred, se = p$se, ci.lb = p$ci.lb, ci.ub = p$ci.ub,
             pi.lb = p$pi.lb, pi.ub = p$pi.ub)
      })
    }
  }
  ci_fields <- function(ci) {
    r <- ci$random
    row <- function(i) list(estimate = r[i, "estimate"], ci.lb = r[i, "ci.lb"], ci.ub = r[i, "ci.ub"])
    list(tau2 = row(1), tau = row(2), I2 = row(3), H2 = row(4),
         lb.sign = ci$lb.sign, ub.sign = ci$ub.sign, type = "QP")
  }
  confint_default <- list()
  confint_tight <- list()
  for (m in c("DL", "REML")) {
    confint_default[[m]] <- fitted_section(confint(rma_call(d, m)), ci_fields)
    confint_tight[[m]] <- fitted_section(confint(fit_of(m), control = list(tol = 1e-12)), ci_fields)
  }
  list(methods = methods, methods_tight = tight, knha = knha, predict = pred,
       confint = confint_default, confint_tight = confint_tight)
}

metareg_fields <- function(fit, formula) {
  x <- list(formula = formula, method = fit$method, test = fit$test, k = fit$k, p = fit$p,
            coef_names = arr(rownames(fit$beta)))
  x <- c(x, stat_fields(fit, vec = TRUE), het_fields(fit))
  qmdf <- if (fit$test == "z") fit$QMdf[1] else fit$QMdf
  c(x, list(R2 = fit$R2, QM = fit$QM, QMdf = arr(qmdf), QMp = fit$QMp, fit_stats = fit_stats(fit)))
}

section_metareg <- function(d, cont, cat) {
  if (is.null(cont) && is.null(cat)) return(NULL)
  one <- function(rhs) {
    if (is.null(rhs)) return(NULL)
    form <- as.formula(paste("~", rhs))
    run <- function(test) {
      r <- capture(rma(yi, vi, mods = form, data = d, method = "REML", test = test,
                       slab = seq_len(nrow(d)), control = TIGHT))
      if (failed(r$value)) return(with_warnings(unclass(r$value), r$warnings))
      x <- with_warnings(metareg_fields(r$value, paste("~", rhs)), r$warnings)
      if (!is.null(cat)) {
        lv <- sort(unique(as.character(d[[cat]][!is.na(d[[cat]])])))
        if (grepl("factor", rhs)) {
          x$factor_levels <- arr(lv)
          x$reference_level <- lv[1]
        }
      }
      x
    }
    x <- run("z")
    kn <- run("knha")
    kn[c("formula", "factor_levels", "reference_level", "warnings")] <- NULL
    x$knha <- kn
    x
  }
  fac <- if (!is.null(cat)) sprintf("factor(%s)", cat) else NULL
  list(continuous = one(cont), categorical = one(fac),
       both = if (!is.null(cont) && !is.null(cat)) one(paste(cont, "+", fac)) else NULL)
}

section_subgroup <- function(d, g) {
  if (is.null(g)) return(NULL)
  levels <- sort(unique(as.character(d[[g]])))
  fits <- list()
  b <- c()
  se <- c()
  used <- c()
  for (lv in levels) {
    sub <- d[as.character(d[[g]]) == lv, , drop = FALSE]
    r <- capture(rma(yi, vi, data = sub, method = "REML", slab = seq_len(nrow(sub)), control = TIGHT))
    if (failed(r$value)) {
      fits[[lv]] <- with_warnings(unclass(r$value), r$warnings)
    } else {
      fits[[lv]] <- with_warnings(rma_fields(r$value)[-length(rma_fields(r$value))], r$warnings)
      b <- c(b, r$value$beta[1])
      se <- c(se, r$value$se)
      used <- c(used, lv)
    }
  }
  form <- as.formula(sprintf("~ factor(%s)", g))
  mr <- rma(yi, vi, mods = form, data = d, method = "REML", control = TIGHT)
  sep <- rma(yi = b, sei = se, method = "FE")
  list(moderator = g, levels = arr(levels), fits = fits,
       test_metareg = list(call = sprintf("rma(yi, vi, mods=~factor(%s), method=\"REML\")", g),
                           QM = mr$QM, QMdf = arr(mr$QMdf[1]), QMp = mr$QMp),
       test_separate = list(call = "rma(yi=b_g, sei=se_g, method=\"FE\") over the per-level REML fits",
                            levels_used = arr(used), Qb = sep$QE, df = sep$k - 1, pval = sep$QEp))
}

fit_tight <- function(d, m, ...) rma_call(d, m, if (m %in% ITERATIVE) TIGHT else NULL, ...)

section_leave1out <- function(d) {
  out <- list()
  for (m in c("REML", "DL", "EE")) {
    out[[m]] <- fitted_section(leave1out(fit_tight(d, m)), function(l) {
      list(method = m, omitted_row = arr(as.integer(l$slab)), estimate = arr(l$estimate),
           se = arr(l$se), zval = arr(l$zval), pval = arr(l$pval), ci.lb = arr(l$ci.lb),
           ci.ub = arr(l$ci.ub), Q = arr(l$Q), Qp = arr(l$Qp),
           tau2 = if (is.null(na_null(l$tau2))) NULL else arr(l$tau2),
           I2 = arr(l$I2), H2 = arr(l$H2))
    })
  }
  out
}

section_influence <- function(d) {
  fitted_section(influence(fit_tight(d, "REML")), function(i) {
    inf <- i$inf
    list(method = "REML", row = arr(as.integer(i$ids)), rstudent = arr(inf$rstudent),
         dffits = arr(inf$dffits), cook.d = arr(inf$cook.d), cov.r = arr(inf$cov.r),
         tau2.del = arr(inf$tau2.del), QE.del = arr(inf$QE.del), hat = arr(inf$hat),
         weight = arr(inf$weight), dfbs = arr(i$dfbs$intrcpt), inf = arr(as.logical(i$is.infl)))
  })
}

section_trimfill <- function(d) {
  out <- list()
  for (m in c("REML", "EE")) {
    # trimfill passes `...` to its refits: keep them tight too
    out[[m]] <- fitted_section(trimfill(fit_tight(d, m), control = TIGHT), function(tf) {
      c(list(estimator = "L0", k0 = tf$k0, se.k0 = tf$se.k0, side = tf$side),
        rma_fields(tf)[-length(rma_fields(tf))],
        list(yi = arr(as.vector(tf$yi)), vi = arr(as.vector(tf$vi)), fill = arr(as.logical(tf$fill))))
    })
  }
  out
}

section_egger <- function(d) {
  rt_rma <- function(m) {
    fitted_section(regtest(fit_tight(d, m)), function(r) {
      list(model = "rma", predictor = "sei", method = m, zval = r$zval, pval = r$pval,
           est = r$est, ci.lb = r$ci.lb, ci.ub = r$ci.ub, fit_b = arr(as.vector(r$fit$beta)),
           fit_se = arr(r$fit$se))
    })
  }
  lm_fields <- function(r) {
    cf <- coef(summary(r$fit))
    list(model = "lm", predictor = "sei", method = NULL, tval = r$zval, df = r$dfs,
         pval = r$pval, est = r$est, ci.lb = r$ci.lb, ci.ub = r$ci.ub,
         fit_b = arr(unname(cf[, 1])), fit_se = arr(unname(cf[, 2])))
  }
  list(regtest_REML = rt_rma("REML"), regtest_EE = rt_rma("EE"),
       regtest_lm = fitted_section(regtest(fit_tight(d, "REML"), model = "lm"), lm_fields),
       ranktest = fitted_section(ranktest(fit_tight(d, "REML")),
                                 function(r) list(tau = r$tau, pval = r$pval)),
       fsn = fitted_section(fsn(yi, vi, data = d), function(f) {
         list(type = f$type, fsnum = f$fsnum, alpha = f$alpha, pval = f$pval)
       }))
}

section_cumulative <- function(d, year) {
  if (is.null(year)) return(NULL)
  out <- list()
  for (m in c("REML", "EE")) {
    fit <- fit_tight(d, m)
    # cumul() looks `order` up in the fit's data: pass the column by name
    call <- bquote(cumul(fit, order = .(as.name(year))))
    out[[m]] <- fitted_section(eval(call), function(c) {
      rows <- as.integer(c$slab)
      list(method = m, order_by = year, row = arr(rows), order_value = arr(d[[year]][rows]),
           estimate = arr(c$estimate), se = arr(c$se), zval = arr(c$zval), pval = arr(c$pval),
           ci.lb = arr(c$ci.lb), ci.ub = arr(c$ci.ub), Q = arr(c$Q), Qp = arr(c$Qp),
           tau2 = if (is.null(na_null(c$tau2))) NULL else arr(c$tau2),
           I2 = arr(c$I2), H2 = arr(c$H2))
    })
  }
  out
}

section_weights <- function(d) {
  out <- list()
  for (m in c("REML", "DL", "EE")) out[[m]] <- arr(unname(weights(fit_tight(d, m))))
  out
}

# --- dependent effects: rma.mv + clubSandwich (konstantopoulos2011)
mv_fields <- function(fit, d, cluster, mods, random) {
  x <- list(method = fit$method, k = fit$k, p = fit$p, coef_names = arr(rownames(fit$beta)),
            b = arr(as.vector(fit$beta)), se = arr(fit$se), zval = arr(fit$zval),
            pval = arr(fit$pval), ci.lb = arr(fit$ci.lb), ci.ub = arr(fit$ci.ub),
            sigma2 = arr(fit$sigma2), sigma2_names = arr(fit$s.names),
            sigma2_nlevels = arr(fit$s.nlevels), QE = fit$QE, QEdf = fit$k - fit$p,
            QEp = fit$QEp, QM = fit$QM, QMdf = arr(fit$QMdf[1]), QMp = fit$QMp,
            logLik = as.numeric(logLik(fit)), mods = mods, random = random)
  ct <- coef_test(fit, vcov = "CR2", cluster = d[[cluster]], test = "Satterthwaite")
  x$CR2_coef_test <- list(coef_names = arr(rownames(fit$beta)), beta = arr(ct$beta),
                          SE = arr(ct$SE), tstat = arr(ct$tstat), df = arr(ct$df_Satt),
                          p = arr(ct$p_Satt))
  if (fit$p > 1) {
    wt <- Wald_test(fit, constraints = constrain_zero(2:fit$p), vcov = "CR2",
                    cluster = d[[cluster]], test = "HTZ")
    x$CR2_wald_test <- list(test = "HTZ", Fstat = wt$Fstat, df_num = wt$df_num,
                            df_denom = wt$df_denom, p_val = wt$p_val)
  }
  rob <- function(r) {
    list(coef_names = arr(rownames(r$beta)), b = arr(as.vector(r$beta)), se = arr(r$se),
         tval = arr(r$zval), df = arr(rep_len(r$ddf, length(r$beta))), pval = arr(r$pval), ci.lb = arr(r$ci.lb),
         ci.ub = arr(r$ci.ub), QM = r$QM, QMdf = arr(r$QMdf), QMp = r$QMp, n_clusters = r$n)
  }
  x$metafor_robust_clubSandwich <- rob(robust(fit, cluster = d[[cluster]], clubSandwich = TRUE))
  x$metafor_robust_default <- rob(robust(fit, cluster = d[[cluster]]))
  x
}

section_rve <- function(d, cluster, inner, moderator) {
  if (is.null(cluster)) return(NULL)
  nested <- sprintf("~1 | %s/%s", cluster, inner)
  rand3 <- as.formula(nested)
  mform <- as.formula(moderator)
  three <- list(
    intercept = mv_fields(rma.mv(yi, vi, random = rand3, data = d), d, cluster, "~ 1", nested),
    moderator = mv_fields(rma.mv(yi, vi, mods = mform, random = rand3, data = d), d, cluster,
                          moderator, nested)
  )
  V <- impute_covariance_matrix(d$vi, cluster = d[[cluster]], r = 0.8, return_list = FALSE)
  rand2 <- sprintf("~1 | %s", cluster)
  ce <- list(
    r = 0.8,
    V_call = sprintf("clubSandwich::impute_covariance_matrix(vi, cluster=%s, r=0.8, return_list=FALSE)", cluster),
    intercept = mv_fields(rma.mv(yi, V, random = as.formula(rand2), data = d), d, cluster, "~ 1", rand2),
    moderator = mv_fields(rma.mv(yi, V, mods = mform, random = as.formula(rand2), data = d), d,
                          cluster, moderator, rand2)
  )
  list(cluster = cluster, inner = inner, n_clusters = length(unique(d[[cluster]])),
       moderator = moderator, three_level = three, correlated_effects = ce)
}

# ----------------------------------------------------------------------------- data sets
# name, metadat object (NULL: constructed), row filter, escalc measures (first = primary;
# NULL: yi/vi given in the data), arguments, columns
ARGS_2x2_BCG <- "ai=tpos, bi=tneg, ci=cpos, di=cneg"
ARGS_ARMS <- "m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i"
DATASETS <- list(
  bcg = list(obj = "dat.bcg", measures = c("RR", "OR", "RD"), args = ARGS_2x2_BCG,
             year = "year", cont = "ablat", cat = "alloc"),
  normand1999 = list(obj = "dat.normand1999", measures = c("MD", "SMD", "SMDH", "ROM"), args = ARGS_ARMS),
  bangertdrowns2004 = list(obj = "dat.bangertdrowns2004", given = "SMD", year = "year",
                           cont = "length", cat = "grade"),
  raudenbush1985 = list(obj = "dat.raudenbush1985", given = "SMD", year = "year",
                        cont = "weeks", cat = "tester"),
  hackshaw1998 = list(obj = "dat.hackshaw1998", given = "OR", year = "year", cont = "year", cat = "design"),
  molloy2014 = list(obj = "dat.molloy2014", measures = "ZCOR", args = "ri=ri, ni=ni",
                    year = "year", cont = "meanage", cat = "design"),
  yusuf1985 = list(obj = "dat.yusuf1985", measures = c("OR", "RR", "RD", "PETO"),
                   args = "ai=ai, n1i=n1i, ci=ci, n2i=n2i",
                   row_filter = "table == \"9\" and non-missing counts"),
  konstantopoulos2011 = list(obj = "dat.konstantopoulos2011", given = "SMD", year = "year",
                             cont = "year", cluster = "district", inner = "school", moderator = "~year"),
  edge_k2 = list(given = "GEN"),
  edge_k3_homogeneous = list(given = "GEN"),
  edge_extreme_variance = list(given = "GEN")
)

rd_text <- function(obj, section) {
  db <- tools::Rd_db("metadat")
  rd <- db[[paste0(obj, ".Rd")]]
  if (is.null(rd)) return(NA)
  tags <- vapply(rd, function(x) attr(x, "Rd_tag"), "")
  hit <- which(tags == section)
  if (!length(hit)) return(NA)
  txt <- paste(unlist(rd[[hit[1]]]), collapse = "")
  txt <- gsub("\\s+", " ", txt)
  txt <- gsub("--", "-", txt, fixed = TRUE)  # Rd's en dash in page ranges
  trimws(txt)
}

# the CSV holds the metadat columns unchanged (after the row filter): check that
check_against_metadat <- function(name, d, spec) {
  if (is.null(spec$obj)) return(invisible())
  src <- get(spec$obj)
  if (name == "yusuf1985") {
    src <- src[src$table == "9" & !is.na(src$ai) & !is.na(src$ci), ]
  }
  stopifnot(nrow(src) == nrow(d))
  for (col in intersect(names(src), names(d))) {
    a <- src[[col]]
    b <- d[[col]]
    if (is.numeric(b) && !is.numeric(a)) a <- suppressWarnings(as.numeric(as.character(a)))
    if (is.numeric(a)) {
      ok <- (is.na(a) & is.na(b)) | (!is.na(a) & !is.na(b) & abs(a - b) <= 1e-12 * pmax(1, abs(a)))
    } else {
      ok <- (is.na(a) & is.na(b)) | (!is.na(a) & !is.na(b) & as.character(a) == as.character(b))
    }
    if (!all(ok)) stop(sprintf("%s: column %s differs from metadat's %s", name, col, spec$obj))
  }
}

section_escalc <- function(name, d, spec) {
  measures <- list()
  if (!is.null(spec$given)) {
    measures[[spec$given]] <- list(measure = spec$given, source = "given", call = NULL,
                                   yi = arr(d$yi), vi = arr(d$vi))
    return(list(primary = spec$given, measures = measures))
  }
  for (m in spec$measures) {
    call <- sprintf("escalc(measure=\"%s\", %s, data=%s)", m, spec$args, spec$obj)
    es <- eval(parse(text = sprintf("escalc(measure=\"%s\", %s, data=d)", m, spec$args)))
    measures[[m]] <- list(measure = m, source = "escalc", call = call, add = 0.5, to = "only0",
                          drop00 = FALSE, vtype = "LS", yi = arr(as.vector(es$yi)),
                          vi = arr(as.vector(es$vi)))
  }
  list(primary = spec$measures[1], measures = measures)
}

versions <- list(
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  metadat = as.character(packageVersion("metadat")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  jsonlite = if (requireNamespace("jsonlite", quietly = TRUE)) as.character(packageVersion("jsonlite")) else NULL
)

for (name in names(DATASETS)) {
  spec <- DATASETS[[name]]
  d <- read.csv(file.path(datadir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  check_against_metadat(name, d, spec)
  k <- nrow(d)
  cat <- spec$cat
  out <- list(
    schema_version = 1L, dataset = name, set = "public", data_file = sprintf("data/%s.csv", name),
    source = list(metadat_object = spec$obj,
                  title = if (is.null(spec$obj)) "constructed edge case" else rd_text(spec$obj, "\\title"),
                  citation = if (is.null(spec$obj)) NULL else rd_text(spec$obj, "\\source"),
                  row_filter = spec$row_filter),
    versions = versions, k = k,
    columns = list(yi = "yi", vi = "vi", year = spec$year, continuous = spec$cont,
                   categorical = cat, subgroup = cat, cluster = spec$cluster),
    escalc = section_escalc(name, d, spec),
    rma = section_rma(d),
    metareg = section_metareg(d, spec$cont, cat),
    subgroup = section_subgroup(d, cat),
    leave1out = section_leave1out(d),
    influence = section_influence(d),
    trimfill = section_trimfill(d),
    egger = section_egger(d),
    cumulative = section_cumulative(d, spec$year),
    forest_weights = section_weights(d),
    rve = section_rve(d, spec$cluster, spec$inner, spec$moderator)
  )
  # keep every top-level key, null when a section does not apply
  writeLines(to_json(lapply(out, function(v) if (is.null(v)) NULL else v)),
             file.path(outdir, paste0(name, ".json")))
  message("wrote ", name)
}
message("output in ", outdir)
