# Reference values for bm.pet_peese: R's lm() for PET (yi ~ sei) and PEESE (yi ~ vi),
# weights 1/vi (Stanley & Doucouliagos 2014), on the three datasets of this folder
# (metadat's dat.baskerville2012, dat.hahn2001, dat.hackshaw1998; see make_selmodel.R).
# Run: Rscript make_pet_peese.R   (writes pet_peese_reference.json)
library(jsonlite)
out <- list()
for (ds in c("baskerville2012", "hahn2001", "hackshaw1998")) {
  d <- read.csv(paste0(ds, ".csv"))
  d$sei <- sqrt(d$vi)
  one <- function(f) {
    s <- summary(lm(f, weights = 1 / vi, data = d))
    cf <- coef(s)
    ci <- confint(lm(f, weights = 1 / vi, data = d), level = 0.95)
    list(intercept = cf[1, 1], se = cf[1, 2], tval = cf[1, 3], pval = cf[1, 4],
         slope = cf[2, 1], slope_se = cf[2, 2], slope_pval = cf[2, 4],
         ci_lb = ci[1, 1], ci_ub = ci[1, 2], sigma = s$sigma, df = s$df[2])
  }
  out[[ds]] <- list(pet = one(yi ~ sei), peese = one(yi ~ vi))
}
meta <- list(R = R.version.string)
write_json(list(meta = meta, cases = out), "pet_peese_reference.json", digits = NA,
           auto_unbox = TRUE, pretty = TRUE)
