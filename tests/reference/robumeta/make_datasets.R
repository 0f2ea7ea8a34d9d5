# The bundled example datasets of issue 11 (bayesma/datasets/data/), from the CSVs that
# make_robumeta.R writes (so the package data and the reference fits use the same numbers):
#   assink2016: metadat's dat.assink2016 as it is (yi, vi given);
#   corrdat, hierdat: robumeta 2.0's examples with effectsize -> yi and var -> vi.
# Run from this folder after make_robumeta.R: Rscript make_datasets.R
out <- file.path("..", "..", "..", "bayesma", "datasets", "data")
write.csv(read.csv("assink2016.csv"), file.path(out, "assink2016.csv"), row.names = FALSE)
for (nm in c("corrdat", "hierdat")) {
  d <- read.csv(paste0(nm, ".csv"))
  names(d)[names(d) == "effectsize"] <- "yi"
  names(d)[names(d) == "var"] <- "vi"
  write.csv(d, file.path(out, paste0(nm, ".csv")), row.names = FALSE)
}
