# Reference values for rma(test = "adhoc"): metafor 3.8-1's modified Knapp-Hartung
# (the scale factor s2w truncated below at 1), on two data sets, intercept-only and
# meta-regression, under REML and DL. Run from the repository root:
#   Rscript tests/reference/adhoc/make_adhoc.R
# Writes tests/reference/adhoc/adhoc.json. REML runs to threshold 1e-12 (bayesma's default).
suppressMessages({library(metafor); library(jsonlite)})
stopifnot(as.character(packageVersion("metafor")) == "3.8.1")
dd <- "tests/reference/data"
cases <- list(
  list(name = "bcg", mods = NULL),
  list(name = "bcg", mods = "ablat"),
  list(name = "hackshaw1998", mods = NULL),
  list(name = "hackshaw1998", mods = "year")
)
out <- list()
for (cs in cases) {
  d <- read.csv(file.path(dd, paste0(cs$name, ".csv")))
  for (method in c("REML", "DL")) {
    for (test in c("adhoc", "knha")) {
      if (is.null(cs$mods)) {
        r <- rma(yi, vi, data = d, method = method, test = test,
                 control = list(threshold = 1e-12, maxiter = 10000))
        pr <- predict(r)
        pi <- c(pr$pi.lb, pr$pi.ub)
      } else {
        r <- rma(yi, vi, mods = as.formula(paste("~", cs$mods)), data = d,
                 method = method, test = test,
                 control = list(threshold = 1e-12, maxiter = 10000))
        pi <- NULL
      }
      key <- paste(cs$name, if (is.null(cs$mods)) "1" else cs$mods, method, test, sep = "_")
      out[[key]] <- list(
        data = cs$name, mods = cs$mods, method = method, test = test,
        tau2 = r$tau2, s2w = r$s2w, dfs = r$dfs,
        beta = as.vector(r$beta), se = r$se, zval = r$zval, pval = r$pval,
        ci_lb = r$ci.lb, ci_ub = r$ci.ub,
        QM = r$QM, QMp = r$QMp, QMdf = r$QMdf, pi = pi
      )
    }
  }
}
out[["_meta"]] <- list(metafor = as.character(packageVersion("metafor")),
                       R = R.version.string)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null",
                  pretty = TRUE),
           "tests/reference/adhoc/adhoc.json")
