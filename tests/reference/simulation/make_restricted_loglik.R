# Restricted (REML) log-likelihood of tau2 from metafor, for bayesma's empirical_prior.
# Run from the repository root: Rscript tests/reference/simulation/make_restricted_loglik.R
library(metafor)  # 3.8-1
library(jsonlite)
yi <- c(0.12, -0.35, 0.48, 0.05, 0.91)
vi <- c(0.04, 0.10, 0.07, 0.21, 0.15)
tau2 <- c(0, 0.01, 0.1, 0.5, 2)
ll <- sapply(tau2, function(t) {
  fit <- rma(yi, vi, tau2 = t, method = "REML")
  as.numeric(logLik(fit))
})
write_json(list(yi = yi, vi = vi, tau2 = tau2, loglik_reml = ll,
                note = "metafor 3.8-1 logLik(rma(yi, vi, tau2 = t, method = 'REML'))"),
           "tests/reference/simulation/restricted_loglik.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
