# Reference values for tests/grade/test_summary_of_findings.py.
# Run from this folder: Rscript make_grade.R  (R 4.2.2, stats, jsonlite)
# Participants per group to compare two proportions: stats::power.prop.test (two-sided,
# alpha 0.05, power 0.8), solved to tol = 1e-12 so the closed form matches at 1e-6.
library(jsonlite)
cases <- list(c(0.2, 0.15), c(0.016, 0.012), c(0.5, 0.375), c(0.05, 0.0375))
out <- lapply(cases, function(p) {
  r <- power.prop.test(p1 = p[1], p2 = p[2], power = 0.8, sig.level = 0.05, tol = 1e-12)
  list(p1 = p[1], p2 = p[2], n = r$n)
})
# continuous: per group 2 (z_{0.975} + z_{0.8})^2 / d^2 for d = 0.2 SD
zz <- qnorm(0.975) + qnorm(0.8)
cont <- list(d = 0.2, n = 2 * zz^2 / 0.2^2)
writeLines(toJSON(list(prop = out, continuous = cont), digits = NA, auto_unbox = TRUE),
           "grade_reference.json")
