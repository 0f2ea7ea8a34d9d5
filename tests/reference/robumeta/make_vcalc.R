# Reference values of metafor 3.8's vcalc() for bayesma's bm.vcalc (issue 11).
#
# Data (written as CSV, then read back so R and Python use the same numbers):
#   assink2016.csv  : metadat's dat.assink2016 (written by make_robumeta.R)
#   ishak2007.csv   : metadat's dat.ishak2007 in long format (time points; as in ?vcalc)
#   kalaian1996.csv : metadat's dat.kalaian1996 (verbal / math outcomes)
#   vcalc_groups.csv: constructed multi-arm studies (treatment arms against a shared
#                     control, two time points, group sizes as weights, a subgroup)
# Each setup stores the non-zero entries of V as (row, col, value), 1-based.
#
# Run from this folder: Rscript make_vcalc.R
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})

ish <- dat.ishak2007
ish <- reshape(ish, direction = "long", idvar = "study", v.names = c("yi", "vi"),
               varying = list(c(2, 4, 6, 8), c(3, 5, 7, 9)))
ish <- ish[order(ish$study, ish$time), ]
ish <- ish[!is.na(ish$yi), ]
rownames(ish) <- NULL
write.csv(ish[, c("study", "time", "yi", "vi")], "ishak2007.csv", row.names = FALSE)
write.csv(dat.kalaian1996, "kalaian1996.csv", row.names = FALSE)

grp <- data.frame(
  study = c(1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 4, 5),
  sub = c("a", "a", "a", "a", "a", "a", "b", "a", "a", "a", "a", "b", "b", "a"),
  trt = c("T1", "T2", "T1", "T2", "T1", "T2", "T1", "T1", "T1", "T1", "T2", "T1", "T2", "T1"),
  ctl = "C",
  time = c(1, 1, 3, 3, 1, 1, 1, 1, 2, 0, 0, 4, 4, 1),
  n1 = c(20, 25, 18, 22, 40, 35, 30, 15, 15, 50, 45, 50, 45, 60),
  n2 = c(30, 30, 28, 28, 40, 40, 30, 16, 14, 55, 55, 52, 52, 60),
  vi = c(0.09, 0.08, 0.11, 0.10, 0.05, 0.055, 0.07, 0.13, 0.14, 0.04, 0.042, 0.041, 0.043, 0.033)
)
write.csv(grp, "vcalc_groups.csv", row.names = FALSE)

ass <- read.csv("assink2016.csv")
ish <- read.csv("ishak2007.csv")
kal <- read.csv("kalaian1996.csv")
grp <- read.csv("vcalc_groups.csv")

triplets <- function(V) {
  idx <- which(V != 0, arr.ind = TRUE)
  list(k = nrow(V), row = unname(idx[, 1]), col = unname(idx[, 2]), value = unname(V[idx]))
}

# V and the warnings (metafor warns for each cluster whose matrix is not positive definite)
run <- function(expr) {
  warn <- character(0)
  V <- withCallingHandlers(expr, warning = function(w) {
    warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning")})
  list(V = V, warnings = warn)
}

pair_rho <- matrix(c(1, 0.5, 0.3, 0.5, 1, 0.6, 0.3, 0.6, 1), 3, 3,
                   dimnames = list(c("general", "overt", "covert"),
                                   c("general", "overt", "covert")))

setups <- list(
  obs_scalar = list(data = "assink2016", args = list(cluster = "study", obs = "esid", rho = 0.6),
                    V = run(vcalc(vi, cluster = study, obs = esid, data = ass, rho = 0.6))),
  type_obs = list(data = "assink2016",
                  args = list(cluster = "study", type = "deltype", obs = "esid", rho = c(0.7, 0.5)),
                  V = run(vcalc(vi, cluster = study, type = deltype, obs = esid, data = ass,
                            rho = c(0.7, 0.5)))),
  type_obs_matrix = list(data = "assink2016",
                         args = list(cluster = "study", type = "deltype", obs = "esid",
                                     rho = 0.5, rho_matrix = pair_rho),
                         V = run(vcalc(vi, cluster = study, type = deltype, obs = esid,
                                       data = ass, rho = list(0.5, pair_rho)))),
  type_matrix = list(data = "assink2016",
                     args = list(cluster = "study", type = "deltype", rho_matrix = pair_rho),
                     V = run(vcalc(vi, cluster = study, type = deltype, data = ass, rho = pair_rho))),
  type_scalar = list(data = "kalaian1996", args = list(cluster = "study", type = "outcome", rho = 0.66),
                     V = run(vcalc(vi, cluster = study, type = outcome, data = kal, rho = 0.66))),
  time_ar1 = list(data = "ishak2007", args = list(cluster = "study", time1 = "time", phi = 0.97),
                  V = run(vcalc(vi, cluster = study, time1 = time, phi = 0.97, data = ish))),
  groups = list(data = "vcalc_groups",
                args = list(cluster = "study", grp1 = "trt", grp2 = "ctl", w1 = "n1", w2 = "n2"),
                V = run(vcalc(vi, cluster = study, grp1 = trt, grp2 = ctl, w1 = n1, w2 = n2,
                          data = grp))),
  groups_time = list(data = "vcalc_groups",
                     args = list(cluster = "study", subgroup = "sub", obs = "trt", rho = 0.4,
                                 grp1 = "trt", grp2 = "ctl", w1 = "n1", w2 = "n2",
                                 time1 = "time", phi = 0.8),
                     V = run(vcalc(vi, cluster = study, subgroup = sub, obs = trt, rho = 0.4,
                               grp1 = trt, grp2 = ctl, w1 = n1, w2 = n2, time1 = time,
                               phi = 0.8, data = grp))),
  groups_time2 = list(data = "vcalc_groups",
                      args = list(cluster = "study", grp1 = "trt", grp2 = "ctl",
                                  time1 = "time", time2 = "time", phi = 0.5),
                      V = run(vcalc(vi, cluster = study, grp1 = trt, grp2 = ctl, time1 = time,
                                time2 = time, phi = 0.5, data = grp)))
)

# a per-pair matrix that is not positive definite: metafor warns naming the clusters
bad_rho <- matrix(c(1, 0.9, -0.9, 0.9, 1, 0.9, -0.9, 0.9, 1), 3, 3,
                  dimnames = list(c("general", "overt", "covert"),
                                  c("general", "overt", "covert")))
warn <- character(0)
Vbad <- withCallingHandlers(
  vcalc(vi, cluster = study, type = deltype, obs = esid, rho = list(0.5, bad_rho), data = ass),
  warning = function(w) {warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning")})

out <- list(
  versions = list(R = R.version.string,
                  metafor = as.character(packageVersion("metafor")),
                  metadat = as.character(packageVersion("metadat")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  setups = lapply(setups, function(s) list(data = s$data, args = s$args, V = triplets(s$V$V),
                                           warnings = s$V$warnings)),
  not_pd = list(data = "assink2016", obs_rho = 0.5, rho_matrix = bad_rho, warnings = warn,
                V = triplets(Vbad))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE), "vcalc_reference.json")
