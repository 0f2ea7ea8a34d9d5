# Reference data and classical twins for the Bayesian three-level model (issue 11).
# Writes the datasets as CSV (metadat 1.x: dat.konstantopoulos2011, dat.assink2016) and the
# REML fits of metafor's rma.mv (~ 1 | cluster/effect) with CR2 robust SEs (clubSandwich
# via metafor's robust(..., clubSandwich = TRUE)) as JSON.
# Run from this folder: Rscript make_multilevel_reference.R
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})

fit_one <- function(dat, formula, cluster) {
  res <- rma.mv(yi, vi, random = formula, data = dat, method = "REML")
  rob <- robust(res, cluster = dat[[cluster]], clubSandwich = TRUE)
  list(estimate = unname(coef(res)), se = unname(res$se), sigma2 = unname(res$sigma2),
       ll = as.numeric(logLik(res)), robust_se = unname(rob$se),
       robust_df = unname(rob$dfs), robust_ci = c(rob$ci.lb, rob$ci.ub))
}

k11 <- dat.konstantopoulos2011
write.csv(k11[, c("district", "school", "study", "year", "yi", "vi")],
          "konstantopoulos2011.csv", row.names = FALSE)
a16 <- dat.assink2016
write.csv(a16[, c("study", "esid", "id", "yi", "vi", "pubstatus", "year", "deltype")],
          "assink2016.csv", row.names = FALSE)

out <- list(
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  metadat = as.character(packageVersion("metadat")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  konstantopoulos2011 = fit_one(k11, ~ 1 | district/school, "district"),
  assink2016 = fit_one(a16, ~ 1 | study/esid, "study")
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "multilevel_reference.json")
