# Reference values for bayesma's rma_mv(struct=...) (issue 11): metafor's rma.mv with
# random = ~ inner | outer and struct CS, HCS, UN, DIAG, ID, plus metafor's multilevel I^2
# (metafor FAQ "I^2 for multilevel and multivariate models"; Cheung 2014) of a nested model.
# Data (metadat): dat.berkey1998 (Berkey et al. 1998; two outcomes, known V from v1i/v2i),
# dat.kalaian1996 (Kalaian & Raudenbush 1996; verbal/math, V by vcalc with rho = 0.66),
# dat.ishak2007 (Ishak et al. 2007; four time points, long format, diagonal vi),
# dat.konstantopoulos2011 (nested ~ 1 | district/school, for the multilevel I^2).
# Run from this folder: Rscript make_rma_mv_reference.R
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})

summ <- function(res) {
  list(
    coef_names = rownames(res$beta), b = unname(c(res$beta)), se = unname(res$se),
    zval = unname(res$zval), pval = unname(res$pval),
    ci.lb = unname(res$ci.lb), ci.ub = unname(res$ci.ub),
    tau2 = unname(res$tau2), rho = unname(res$rho),
    logLik = as.numeric(logLik(res)),
    fit_stats = unname(fitstats(res)[, 1]),
    QE = res$QE, QEdf = res$k - res$p, QEp = res$QEp,
    QM = res$QM, QMdf = unname(res$QMdf[1]), QMp = res$QMp,
    k = res$k, p = res$p, method = res$method, struct = res$struct[1],
    g_levels = res$g.levels.f[[1]], g_nlevels = unname(res$g.nlevels.f[1]),
    outer_nlevels = unname(res$g.nlevels[2])
  )
}

structs <- c("CS", "HCS", "UN", "DIAG", "ID")

# --- berkey1998: known V (the blocks of v1i/v2i per trial, as metafor's help page)
b <- dat.berkey1998
Vb <- bldiag(lapply(split(b[, c("v1i", "v2i")], b$trial), as.matrix))
write.csv(b[, c("trial", "author", "year", "ni", "outcome", "yi", "vi", "v1i", "v2i")],
          "berkey1998.csv", row.names = FALSE)

# --- kalaian1996: V from vcalc (correlation 0.66 between verbal and math, metafor's help page)
k <- dat.kalaian1996
Vk <- vcalc(vi, cluster = study, type = outcome, rho = 0.66, data = k)
write.csv(k[, c("id", "study", "year", "outcome", "yi", "vi", "hrs")], "kalaian1996.csv",
          row.names = FALSE)

# --- ishak2007 in long format (one row per study and time point)
w <- dat.ishak2007
long <- do.call(rbind, lapply(1:4, function(t) data.frame(
  study = w$study, time = paste0("t", t), yi = w[[paste0("y", t, "i")]],
  vi = w[[paste0("v", t, "i")]])))
long <- long[!is.na(long$yi), ]
long <- long[order(long$study, long$time), ]
rownames(long) <- NULL
write.csv(long, "ishak2007_long.csv", row.names = FALSE)

# --- constructed: 40 studies, up to three outcomes (A, B, C), simulated once with a seed;
# between-study correlations 0.6, 0.3, 0.5; within-study correlation 0.4 (V by vcalc)
set.seed(20261205)
tau <- c(0.2, 0.3, 0.25)
R <- matrix(c(1, 0.6, 0.3, 0.6, 1, 0.5, 0.3, 0.5, 1), 3)
Tm <- diag(tau) %*% R %*% diag(tau)
rows <- list()
for (s in 1:40) {
  has <- which(runif(3) < 0.75)
  if (length(has) == 0) has <- sample(1:3, 1)
  u <- c(t(chol(Tm)) %*% rnorm(3))
  vi <- runif(length(has), 0.01, 0.06)
  S <- diag(sqrt(vi), length(has)) %*% (0.4 + 0.6 * diag(length(has))) %*%
    diag(sqrt(vi), length(has))
  e <- c(t(chol(S)) %*% rnorm(length(has)))
  rows[[s]] <- data.frame(study = sprintf("S%02d", s), outcome = c("A", "B", "C")[has],
                          yi = round(c(0.3, 0.5, 0.1)[has] + u[has] + e, 4),
                          vi = round(vi, 5), x = round(s / 40, 3))
}
sim <- do.call(rbind, rows)
write.csv(sim, "simulated3.csv", row.names = FALSE)
Vs <- vcalc(vi, cluster = study, type = outcome, rho = 0.4, data = sim)

# metafor's default optimiser settings (nlminb, rel.tol = 1e-10): its variance components
# can be ~1e-5 (relative) short of the optimum, which bayesma's tests allow for (a tighter
# rel.tol makes nlminb stop with convergence = 1 on these data)
fits <- list()
for (s in structs) {
  for (m in c("REML", "ML")) {
    fits[[paste("berkey1998", "V", s, m, sep = "_")]] <-
      summ(rma.mv(yi, Vb, mods = ~ outcome - 1, random = ~ outcome | trial, struct = s,
                  data = b, method = m))
  }
  fits[[paste("berkey1998", "vi", s, "REML", sep = "_")]] <-
    summ(rma.mv(yi, vi, mods = ~ outcome - 1, random = ~ outcome | trial, struct = s,
                data = b))
  fits[[paste("kalaian1996", "V", s, "REML", sep = "_")]] <-
    summ(rma.mv(yi, Vk, mods = ~ outcome - 1, random = ~ outcome | study, struct = s,
                data = k))
  fits[[paste("kalaian1996", "vi", s, "REML", sep = "_")]] <-
    summ(rma.mv(yi, vi, random = ~ outcome | study, struct = s, data = k))
  fits[[paste("simulated3", "V", s, "REML", sep = "_")]] <-
    summ(rma.mv(yi, Vs, mods = ~ outcome - 1, random = ~ outcome | study, struct = s,
                data = sim))
  fits[[paste("simulated3", "vi", s, "ML", sep = "_")]] <-
    summ(rma.mv(yi, vi, mods = ~ outcome + x, random = ~ outcome | study, struct = s,
                data = sim, method = "ML"))
  fits[[paste("ishak2007", "vi", s, "REML", sep = "_")]] <-
    summ(rma.mv(yi, vi, mods = ~ time - 1, random = ~ time | study, struct = s,
                data = long))
}

# --- metafor FAQ multilevel I^2 (W = V^-1, typical sampling variance (k - p) / tr(P))
k11 <- dat.konstantopoulos2011
i2_of <- function(res) {
  W <- solve(res$V)
  X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  100 * res$sigma2 / (sum(res$sigma2) + (res$k - res$p) / sum(diag(P)))
}
r1 <- rma.mv(yi, vi, random = ~ 1 | district/school, data = k11)
r2 <- rma.mv(yi, vi, mods = ~ I(year - 1990), random = ~ 1 | district/school, data = k11)
i2 <- list(
  intercept = list(sigma2 = r1$sigma2, i2 = i2_of(r1)),
  moderator = list(mods = "I(year - 1990)", sigma2 = r2$sigma2, i2 = i2_of(r2))
)

out <- list(
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  metadat = as.character(packageVersion("metadat")),
  V = list(berkey1998 = unname(Vb), kalaian1996 = unname(as.matrix(Vk)),
           simulated3 = unname(as.matrix(Vs))),
  fits = fits,
  i2_konstantopoulos2011 = i2
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
                  na = "null"), "rma_mv_reference.json")
