# Reference values for tests/batch/test_batch_rma.py: metafor 3.8-1 rma() per group of a
# small long table (groups cut from metadat's dat.bcg and dat.hackshaw1998, plus two
# k = 2 groups), with test = "z", "knha" and "adhoc" (modified Knapp-Hartung) for REML,
# DL and PM. Run: Rscript make_batch_reference.R  (writes batch_rma.json)
library(metafor)
library(jsonlite)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hk <- dat.hackshaw1998
long <- rbind(
  data.frame(group = "bcg_a", yi = bcg$yi[1:6], vi = bcg$vi[1:6]),
  data.frame(group = "bcg_b", yi = bcg$yi[7:13], vi = bcg$vi[7:13]),
  data.frame(group = "hack_a", yi = hk$yi[1:10], vi = hk$vi[1:10]),
  data.frame(group = "hack_b", yi = hk$yi[11:37], vi = hk$vi[11:37]),
  data.frame(group = "pair_het", yi = c(-0.8, 0.9), vi = c(0.04, 0.05)),
  data.frame(group = "pair_hom", yi = c(0.10, 0.12), vi = c(0.30, 0.25))
)
out <- list(data = long, fits = list())
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
for (g in unique(long$group)) {
  d <- long[long$group == g, ]
  for (method in c("REML", "DL", "PM")) {
    for (test in c("z", "knha", "adhoc")) {
      fit <- rma(yi, vi, data = d, method = method, test = test, control = ctrl)
      pr <- predict(fit)
      out$fits[[length(out$fits) + 1]] <- list(
        group = g, method = method, test = test, estimate = as.numeric(fit$b),
        se = fit$se, ci_low = fit$ci.lb, ci_high = fit$ci.ub, pi_low = pr$pi.lb,
        pi_high = pr$pi.ub, tau2 = fit$tau2, i2 = fit$I2, q = fit$QE, q_pval = fit$QEp)
    }
  }
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE), "batch_rma.json")
