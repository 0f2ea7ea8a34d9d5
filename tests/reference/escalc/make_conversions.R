# Reference values for bayesma's conv_fivenum and conv_wald (issue 13).
# metafor 3.8.1 has no conv.fivenum / conv.wald (added in 3.9-x, first on CRAN in 4.0-0),
# so this script sources R/conv.fivenum.r and R/conv.wald.r of metafor 4.0-0 (git
# github.com/wviechtb/metafor, commit 60e76dd8 "Version bump to 4.0-0 for CRAN release")
# into metafor 3.8.1's namespace (their helpers .level, replmiss... are there), with 4.0-0's
# .getx and .is.numeric (R/misc.func.hidden.r: .getx gained a "default" argument), extracted by
#   awk '/^\.(getx|is.numeric) <- function/,/^}/' R/misc.func.hidden.r > R/getx.r
# Run from this folder:  METAFOR40_R=/path/to/metafor/R Rscript make_conversions.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
src <- Sys.getenv("METAFOR40_R")
if (src == "") stop("set METAFOR40_R to the R/ folder of metafor 4.0-0")
env <- new.env(parent = asNamespace("metafor"))
sys.source(file.path(src, "getx.r"), envir = env)
sys.source(file.path(src, "conv.fivenum.r"), envir = env)
sys.source(file.path(src, "conv.wald.r"), envir = env)

put <- function(df, name) {
  write.csv(df, paste0(name, ".csv"), row.names = FALSE)
  read.csv(paste0(name, ".csv"))
}
# constructed five-number summaries: the three cases, partial rows, n < 5, a skewed row,
# existing means/SDs (kept with replace="ifna"), large n
fa <- put(data.frame(
  study = paste0("F", 1:10),
  min = c(2, NA, 2, NA, 1, 10, 3, NA, 5, 0.5),
  q1 = c(NA, 4, 4, NA, NA, 20, 5, 12, NA, 2),
  median = c(6, 6, 6, NA, 5, 30, 7, 15, 6, 3),
  q3 = c(NA, 10, 10, NA, NA, 42, 9, 19, NA, 4.5),
  max = c(14, NA, 14, NA, 40, 70, 12, NA, 9, 8),
  mean = c(NA, NA, NA, 7.0, NA, NA, NA, NA, NA, NA),
  sd = c(NA, NA, NA, 4.2, NA, NA, NA, NA, NA, NA),
  n = c(20, 20, 20, 20, 12, 150, 4, 60, 33, 1000)), "fivenum_a")
fb <- put(data.frame(
  study = paste0("G", 1:8),
  min = c(1.2, 0.8, NA, 2.5, 10, NA, 0.3, 4),
  q1 = c(2.0, 1.5, 3.1, 3.0, 14, 22, 0.9, NA),
  median = c(2.6, 2.1, 3.9, 3.4, 17, 25, 1.4, 6.5),
  q3 = c(3.5, 2.9, 5.2, 4.1, 21, 31, 2.2, NA),
  max = c(6.1, 5.0, NA, 6.0, 29, NA, 3.8, 11),
  n = c(25, 48, 73, 15, 240, 9, 31, 17)), "fivenum_b")

fcases <- list()
fcase <- function(data, opts) {
  x <- get(data)
  cl <- c(list(min = x$min, q1 = x$q1, median = x$median, q3 = x$q3, max = x$max, n = x$n,
               data = x), opts)
  res <- suppressWarnings(do.call(env$conv.fivenum, cl))
  fcases[[length(fcases) + 1]] <<- list(
    data = data, options = opts, mean = as.numeric(res$mean), sd = as.numeric(res$sd),
    tval = as.numeric(attr(res$mean, "tval")), crit = as.numeric(attr(res$mean, "crit")),
    sig = as.logical(attr(res$mean, "sig")))
}
for (data in c("fa", "fb")) {
  fcase(data, list())
  fcase(data, list(test = FALSE))
  for (m in c("hozo2005", "wan2014", "bland2015", "walter2007"))
    fcase(data, list(method = m, test = FALSE))
  fcase(data, list(method = c("luo2016", "shi2020"), test = FALSE))
  fcase(data, list(method = c("wan2014", "hozo2005"), test = FALSE))
  fcase(data, list(dist = "lnorm", test = FALSE))
  fcase(data, list(dist = "lnorm", transf = FALSE, test = FALSE))
  fcase(data, list(replace = "all", test = FALSE))
}

# Wald-type CIs and p-values: odds ratios (transf = log) and mean differences
wa <- put(data.frame(
  study = paste0("W", 1:7),
  or = c(1.5, 0.8, 2.1, 1.2, 0.65, NA, 3.2),
  lb = c(1.1, 0.5, 1.3, 0.9, NA, NA, 1.4),
  ub = c(2.05, 1.28, 3.39, 1.6, NA, NA, 7.3),
  pval = c(NA, NA, NA, 0.2, 0.03, NA, NA),
  yi = c(NA, NA, NA, NA, NA, 0.4, NA),
  vi = c(NA, NA, NA, NA, NA, 0.05, NA)), "wald_or")
wb <- put(data.frame(
  study = paste0("V", 1:6),
  md = c(2.3, -1.1, 0.4, 5.0, -2.2, 1.7),
  lb = c(0.5, -2.9, -1.0, 1.0, NA, NA),
  ub = c(4.1, 0.7, 1.8, 9.0, NA, NA),
  zval = c(NA, NA, NA, NA, -2.5, NA),
  pval = c(NA, NA, NA, NA, NA, 0.001),
  lev = c(95, 90, 99, 80, 95, 95)), "wald_md")
wcases <- list()
wcase <- function(data, args, opts) {
  x <- get(data)
  cl <- lapply(args, function(col) x[[col]])
  names(cl) <- gsub("_", ".", names(args))  # bayesma's ci_lb is metafor's ci.lb
  res <- suppressWarnings(do.call(env$conv.wald, c(cl, list(data = x), opts)))
  wcases[[length(wcases) + 1]] <<- list(data = data, args = as.list(args),
    options = opts[names(opts) != "transf"], transf = if ("transf" %in% names(opts)) "log" else NULL,
    yi = as.numeric(res$yi), vi = as.numeric(res$vi))
}
wcase("wa", c(out = "or", ci_lb = "lb", ci_ub = "ub", pval = "pval"), list(transf = log))
wcase("wa", c(out = "or", ci_lb = "lb", ci_ub = "ub", pval = "pval"),
      list(transf = log, replace = "all"))
wcase("wa", c(out = "or", ci_lb = "lb", ci_ub = "ub"), list(transf = log, level = 90))
wcase("wb", c(out = "md", ci_lb = "lb", ci_ub = "ub", zval = "zval", pval = "pval"), list())
wcase("wb", c(out = "md", ci_lb = "lb", ci_ub = "ub", zval = "zval", pval = "pval"),
      list(level = 99))
# per-row levels from a column
res <- suppressWarnings(env$conv.wald(out = md, ci.lb = lb, ci.ub = ub, zval = zval,
                                      pval = pval, level = lev, data = wb))
wcases[[length(wcases) + 1]] <- list(data = "wb", args = list(out = "md", ci_lb = "lb",
  ci_ub = "ub", zval = "zval", pval = "pval"), options = list(level = "lev"), transf = NULL,
  yi = as.numeric(res$yi), vi = as.numeric(res$vi))

versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 conv_source = "metafor 4.0-0 R/conv.fivenum.r, R/conv.wald.r (git 60e76dd8)")
# the data names in JSON are the CSV files
rename <- function(cs) lapply(cs, function(c) {
  c$data <- c(fa = "fivenum_a", fb = "fivenum_b", wa = "wald_or", wb = "wald_md")[[c$data]]; c })
write_json(list(versions = versions, fivenum = rename(fcases), wald = rename(wcases)),
           "conversions.json", digits = NA, auto_unbox = TRUE, na = "null")
cat("fivenum:", length(fcases), "wald:", length(wcases), "\n")
