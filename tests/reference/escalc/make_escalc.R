# Reference values for bayesma's escalc measures (issue 13), from metafor 3.8.1.
# Run from this folder:  Rscript make_escalc.R
# Writes the input tables (CSV, read back before use so R and Python see the same numbers)
# and escalc.json (cases: measure, data, arguments, options, yi, vi) and transforms.json.
# Data: metadat (Viechtbauer et al.): dat.pritz1997, dat.debruin2009, dat.hart1999,
# dat.nielweise2008, dat.nielweise2007, dat.molloy2014, dat.mcdaniel1994, dat.aloe2013,
# dat.normand1999, dat.curtis1998, dat.bcg, dat.hine1989, dat.bonett2010; the pre-post
# tables of Morris (2008) as given in metafor's escalc documentation; small constructed
# tables with zero counts.
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})

put <- function(df, name) {
  write.csv(df, paste0(name, ".csv"), row.names = FALSE)
  read.csv(paste0(name, ".csv"))
}

d <- list()
d$pritz1997 <- put(dat.pritz1997[, c("study", "xi", "ni")], "pritz1997")
d$debruin2009 <- put(dat.debruin2009[, c("author", "xi", "mi", "ni")], "debruin2009")
d$prop_zero <- put(data.frame(study = paste0("S", 1:5), xi = c(0, 3, 10, 10, 5),
                              ni = c(10, 12, 10, 25, 5)), "prop_zero")
d$hart1999 <- put(dat.hart1999[, c("study", "x1i", "t1i", "x2i", "t2i")], "hart1999")
d$nielweise2008 <- put(dat.nielweise2008[, c("study", "x1i", "t1i", "x2i", "t2i")],
                       "nielweise2008")
d$rate_zero <- put(data.frame(study = paste0("R", 1:5), x1i = c(0, 3, 0, 4, 7),
                              t1i = c(100, 50, 80, 40, 120.5), x2i = c(0, 1, 2, 6, 0),
                              t2i = c(90, 60, 70, 45, 100)), "rate_zero")
d$molloy2014 <- put(dat.molloy2014[, c("authors", "ri", "ni")], "molloy2014")
d$mcdaniel1994 <- put(dat.mcdaniel1994[, c("study", "ri", "ni")], "mcdaniel1994")
d$aloe2013 <- put(dat.aloe2013, "aloe2013")
d$partial_const <- put(data.frame(study = paste0("P", 1:4), tval = c(2.1, -0.8, 4.5, 1.2),
                                  n = c(40, 120, 75, 18), preds = c(3, 6, 1, 4),
                                  R2 = c(0.25, 0.1, 0.45, 0.6)), "partial_const")
d$normand1999 <- put(dat.normand1999[, c("study", "n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i")],
                     "normand1999")
d$curtis1998 <- put(dat.curtis1998[, c("id", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")],
                    "curtis1998")
# SMD from t statistics: t of the two-sample t test of dat.normand1999, and constructed
nd <- dat.normand1999
sdp <- sqrt(((nd$n1i - 1) * nd$sd1i^2 + (nd$n2i - 1) * nd$sd2i^2) / (nd$n1i + nd$n2i - 2))
d$smd_t_normand <- put(data.frame(study = nd$study, n1i = nd$n1i, n2i = nd$n2i,
                                  ti = round((nd$m1i - nd$m2i) / sdp /
                                             sqrt(1 / nd$n1i + 1 / nd$n2i), 4)),
                       "smd_t_normand")
d$smd_t_const <- put(data.frame(study = paste0("T", 1:4), ti = c(2.31, -1.05, 0.4, 3.9),
                                n1i = c(15, 40, 22, 60), n2i = c(14, 38, 25, 61)), "smd_t_const")
d$morris_t <- put(data.frame(study = paste0("M", 1:5), m_pre = c(30.6, 23.5, 0.5, 53.4, 35.6),
                             m_post = c(38.5, 26.8, 0.7, 75.9, 36.0),
                             sd_pre = c(15.0, 3.1, 0.1, 14.5, 4.7),
                             sd_post = c(11.6, 4.1, 0.1, 4.4, 4.6), ni = c(20, 50, 9, 10, 14),
                             ri = c(0.47, 0.64, 0.77, 0.89, 0.44)), "morris_t")
d$morris_c <- put(data.frame(study = paste0("M", 1:5), m_pre = c(23.1, 24.9, 0.6, 55.7, 34.8),
                             m_post = c(19.7, 25.3, 0.6, 60.7, 33.4),
                             sd_pre = c(13.8, 4.1, 0.2, 17.3, 3.1),
                             sd_post = c(14.8, 3.3, 0.2, 17.9, 6.9), ni = c(20, 42, 9, 11, 14),
                             ri = c(0.47, 0.64, 0.77, 0.89, 0.44)), "morris_c")
d$bcg <- put(dat.bcg[, c("trial", "tpos", "tneg", "cpos", "cneg")], "bcg")
d$hine1989 <- put(dat.hine1989[, c("study", "ai", "n1i", "ci", "n2i")], "hine1989")
d$nielweise2007 <- put(dat.nielweise2007[, c("study", "ai", "n1i", "ci", "n2i")],
                       "nielweise2007")
d$bonett2010 <- put(dat.bonett2010[, c("study", "ai", "mi", "ni")], "bonett2010")
d$alpha_const <- put(data.frame(study = paste0("A", 1:4), ai = c(0.7, 0.85, 0.92, 0.6),
                                mi = c(5, 10, 20, 3), ni = c(50, 120, 300, 30)), "alpha_const")

cases <- list()
add_case <- function(measure, data, args, opts = list()) {
  x <- d[[data]]
  cl <- c(list(measure = measure), lapply(args, function(col) x[[col]]), opts)
  res <- suppressWarnings(do.call(escalc, cl))
  cases[[length(cases) + 1]] <<- list(
    measure = measure, data = data, args = as.list(args), options = opts,
    yi = as.numeric(res$yi), vi = as.numeric(res$vi))
}

# single proportions
for (m in c("PR", "PLN", "PLO", "PAS", "PFT")) {
  add_case(m, "pritz1997", c(xi = "xi", ni = "ni"))
  add_case(m, "debruin2009", c(xi = "xi", mi = "mi"))
  add_case(m, "prop_zero", c(xi = "xi", ni = "ni"))
}
add_case("PR", "pritz1997", c(xi = "xi", ni = "ni"), list(vtype = "UB"))
add_case("PR", "debruin2009", c(xi = "xi", ni = "ni"), list(vtype = "AV"))
add_case("PLN", "pritz1997", c(xi = "xi", ni = "ni"), list(vtype = "AV"))
add_case("PLO", "debruin2009", c(xi = "xi", ni = "ni"), list(vtype = "AV"))
for (to in c("all", "if0all", "none")) add_case("PLO", "prop_zero", c(xi = "xi", ni = "ni"),
                                                list(to = to))
add_case("PLO", "prop_zero", c(xi = "xi", ni = "ni"), list(add = 0.25))
add_case("PR", "prop_zero", c(xi = "xi", ni = "ni"), list(to = "none"))
add_case("PFT", "prop_zero", c(xi = "xi", ni = "ni"), list(add = 0.5))
add_case("PAS", "prop_zero", c(xi = "xi", ni = "ni"), list(add = 0.5, to = "all"))
# incidence rates, one group
for (m in c("IR", "IRLN", "IRS", "IRFT")) {
  add_case(m, "hart1999", c(xi = "x1i", ti = "t1i"))
  add_case(m, "nielweise2008", c(xi = "x2i", ti = "t2i"))
  add_case(m, "rate_zero", c(xi = "x1i", ti = "t1i"))
}
add_case("IRLN", "rate_zero", c(xi = "x2i", ti = "t2i"), list(to = "if0all"))
add_case("IRFT", "rate_zero", c(xi = "x1i", ti = "t1i"), list(add = 0.5))
# incidence rates, two groups
for (m in c("IRR", "IRD", "IRSD")) {
  add_case(m, "hart1999", c(x1i = "x1i", x2i = "x2i", t1i = "t1i", t2i = "t2i"))
  add_case(m, "nielweise2008", c(x1i = "x1i", x2i = "x2i", t1i = "t1i", t2i = "t2i"))
  add_case(m, "rate_zero", c(x1i = "x1i", x2i = "x2i", t1i = "t1i", t2i = "t2i"))
}
r2 <- c(x1i = "x1i", x2i = "x2i", t1i = "t1i", t2i = "t2i")
add_case("IRR", "rate_zero", r2, list(drop00 = TRUE))
add_case("IRR", "rate_zero", r2, list(to = "all", add = 1))
add_case("IRR", "rate_zero", r2, list(to = "none"))
add_case("IRSD", "rate_zero", r2, list(add = 0.5))
# correlations
for (vt in c("LS", "UB", "AV")) {
  add_case("UCOR", "molloy2014", c(ri = "ri", ni = "ni"), list(vtype = vt))
  add_case("UCOR", "mcdaniel1994", c(ri = "ri", ni = "ni"), list(vtype = vt))
}
add_case("COR", "molloy2014", c(ri = "ri", ni = "ni"), list(vtype = "AV"))
# partial and semi-partial correlations
pa <- c(ti = "tval", ni = "n", mi = "preds")
for (data in c("aloe2013", "partial_const")) {
  add_case("PCOR", data, pa)
  add_case("PCOR", data, pa, list(vtype = "AV"))
  add_case("ZPCOR", data, pa)
  add_case("SPCOR", data, c(pa, r2i = "R2"))
  add_case("SPCOR", data, c(pa, r2i = "R2"), list(vtype = "AV"))
}
# two-group means: variability, SMD <-> log OR, other vtypes, SMD from t
mm <- c(m1i = "m1i", sd1i = "sd1i", n1i = "n1i", m2i = "m2i", sd2i = "sd2i", n2i = "n2i")
for (data in c("normand1999", "curtis1998")) {
  for (m in c("CVR", "D2ORN", "D2ORL")) add_case(m, data, mm)
  add_case("VR", data, c(sd1i = "sd1i", n1i = "n1i", sd2i = "sd2i", n2i = "n2i"))
  add_case("SMD", data, mm, list(vtype = "AV"))
  add_case("SMDH", data, mm, list(vtype = "LS2"))
  add_case("ROM", data, mm, list(vtype = "AV"))
  add_case("ROM", data, mm, list(vtype = "AVHO"))
}
for (data in c("smd_t_normand", "smd_t_const")) {
  add_case("SMD", data, c(ti = "ti", n1i = "n1i", n2i = "n2i"))
  add_case("SMD", data, c(ti = "ti", n1i = "n1i", n2i = "n2i"), list(vtype = "LS2"))
}
# single-group means
add_case("MN", "normand1999", c(mi = "m1i", sdi = "sd1i", ni = "n1i"))
add_case("MN", "curtis1998", c(mi = "m2i", sdi = "sd2i", ni = "n2i"))
for (m in c("MNLN", "CVLN")) {
  add_case(m, "normand1999", c(mi = "m2i", sdi = "sd2i", ni = "n2i"))
  add_case(m, "curtis1998", c(mi = "m1i", sdi = "sd1i", ni = "n1i"))
}
add_case("SDLN", "normand1999", c(sdi = "sd1i", ni = "n1i"))
add_case("SDLN", "curtis1998", c(sdi = "sd2i", ni = "n2i"))
# pre-post
pp <- c(m1i = "m_post", m2i = "m_pre", sd1i = "sd_post", sd2i = "sd_pre", ni = "ni", ri = "ri")
for (data in c("morris_t", "morris_c")) {
  for (m in c("MC", "SMCC", "SMCRH", "ROMC", "CVRC")) add_case(m, data, pp)
  add_case("SMCR", data, c(m1i = "m_post", m2i = "m_pre", sd1i = "sd_pre", ni = "ni",
                           ri = "ri"))
  add_case("SMCR", data, c(m1i = "m_post", m2i = "m_pre", sd1i = "sd_pre", ni = "ni",
                           ri = "ri"), list(vtype = "LS2"))
  add_case("SMCC", data, pp, list(vtype = "LS2"))
  add_case("VRC", data, c(sd1i = "sd_post", sd2i = "sd_pre", ni = "ni", ri = "ri"))
}
# 2x2 tables: probit and log OR as SMD
for (m in c("PBIT", "OR2DN", "OR2DL")) {
  add_case(m, "bcg", c(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg"))
  add_case(m, "hine1989", c(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"))
  add_case(m, "nielweise2007", c(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"))
}
# Cronbach's alpha
for (m in c("ARAW", "AHW", "ABT")) {
  add_case(m, "bonett2010", c(ai = "ai", mi = "mi", ni = "ni"))
  add_case(m, "alpha_const", c(ai = "ai", mi = "mi", ni = "ni"))
}

# --- the remaining measures of metafor 3.8.1's escalc (session 19) ---
# paired binary tables (ai: events under both, bi: event under 1 only, ci: under 2 only,
# di: under neither; ri: the correlation for MPORM), constructed
d$mp_a <- put(data.frame(study = paste0("Q", 1:5), ai = c(12, 5, 30, 8, 20),
                         bi = c(7, 3, 11, 2, 9), ci = c(3, 6, 4, 5, 2),
                         di = c(40, 25, 60, 18, 33), ri = c(0.3, 0.45, 0.2, 0.6, 0.1)), "mp_a")
d$mp_b <- put(data.frame(study = paste0("W", 1:4), ai = c(3, 0, 15, 9), bi = c(10, 4, 6, 0),
                         ci = c(2, 1, 9, 4), di = c(25, 30, 12, 17),
                         ri = c(0.5, 0.25, 0.35, 0.4)), "mp_b")
# genotype counts (ai: homozygous, bi: heterozygous, ci: other homozygous), constructed
d$reh_a <- put(data.frame(study = paste0("H", 1:4), ai = c(120, 45, 300, 80),
                          bi = c(90, 50, 210, 30), ci = c(15, 12, 40, 9)), "reh_a")
d$reh_b <- put(data.frame(study = paste0("J", 1:3), ai = c(60, 210, 33), bi = c(70, 95, 41),
                          ci = c(25, 11, 10)), "reh_b")
t4 <- c(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg")
tn <- c(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i")
# 2x2 tables: arcsine RD, phi, Yule's Q and Y, OR2D (alias of OR2DL)
for (m in c("AS", "PHI", "YUQ", "YUY", "OR2D")) {
  add_case(m, "bcg", t4)
  add_case(m, "hine1989", tn)
  add_case(m, "nielweise2007", tn)
}
for (vt in c("ST", "CS")) {
  add_case("PHI", "bcg", t4, list(vtype = vt))
  add_case("PHI", "hine1989", tn, list(vtype = vt))
}
add_case("AS", "nielweise2007", tn, list(add = 0.5))
add_case("YUQ", "nielweise2007", tn, list(to = "all"))
# RTET: metafor maximises the likelihood with optim (Nelder-Mead, numerical Hessian);
# rtet_exact solves the saturated model exactly (cut points at the margins,
# Phi2(h, k; rho) = ai/ni by uniroot), the values bayesma computes
add_case("RTET", "bcg", t4)
add_case("RTET", "hine1989", tn)
rtet_exact <- function(a, b, c, dd) {
  n <- a + b + c + dd
  h <- qnorm((a + b) / n); k <- qnorm((a + c) / n)
  f <- function(r) mvtnorm::pmvnorm(upper = c(k, h), corr = matrix(c(1, r, r, 1), 2))[1] - a / n
  uniroot(f, c(-0.9999, 0.9999), tol = 1e-13)$root
}
rtet_cases <- list(
  bcg = mapply(rtet_exact, d$bcg$tpos, d$bcg$tneg, d$bcg$cpos, d$bcg$cneg),
  hine1989 = mapply(rtet_exact, d$hine1989$ai, d$hine1989$n1i - d$hine1989$ai, d$hine1989$ci,
                    d$hine1989$n2i - d$hine1989$ci))
# paired binary data (MPORM with ri)
mp <- c(ai = "ai", bi = "bi", ci = "ci", di = "di")
for (data in c("mp_a", "mp_b")) {
  for (m in c("MPRD", "MPRR", "MPOR", "MPORC", "MPPETO")) add_case(m, data, mp)
  add_case("MPORM", data, c(mp, ri = "ri"))
}
# two-group means: SMD with the SD of group 2, point-biserial and biserial r, D2OR
# (curtis1998 has groups of 2, where SMD1, SMD1H and SMN are NA in metafor and an error in
# bayesma; curtis_n3 keeps its rows with both groups >= 3)
d$curtis_n3 <- put(subset(d$curtis1998, n1i >= 3 & n2i >= 3), "curtis_n3")
for (data in c("normand1999", "curtis1998", "curtis_n3")) {
  for (m in c("SMD1", "SMD1H", "RPB", "RBIS", "D2OR")) add_case(m, data, mm)
  add_case("SMD1", data, c(m1i = "m1i", n1i = "n1i", m2i = "m2i", sd2i = "sd2i", n2i = "n2i"))
  add_case("RPB", data, mm, list(vtype = "CS"))
}
# single-group standardized mean
add_case("SMN", "normand1999", c(mi = "m1i", sdi = "sd1i", ni = "n1i"))
add_case("SMN", "curtis1998", c(mi = "m2i", sdi = "sd2i", ni = "n2i"))
add_case("SMN", "curtis_n3", c(mi = "m2i", sdi = "sd2i", ni = "n2i"))
# relative excess heterozygosity
add_case("REH", "reh_a", c(ai = "ai", bi = "bi", ci = "ci"))
add_case("REH", "reh_b", c(ai = "ai", bi = "bi", ci = "ci"))

versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                 metadat = as.character(packageVersion("metadat")),
                 gsl = as.character(packageVersion("gsl")),
                 mvtnorm = as.character(packageVersion("mvtnorm")))
write_json(list(versions = versions, cases = cases, rtet_exact = rtet_cases), "escalc.json", digits = NA,
           auto_unbox = TRUE, na = "null", pretty = FALSE)

# back-transforms (metafor transf.*)
x <- c(-3, -1, -0.2, 0, 0.1, 0.35, 0.6, 0.9, 1.2, 1.5, 1.6, 2.5)
ni <- c(5, 12, 20, 50, 100, 33, 7, 80, 15, 10, 40, 60)
ti <- c(10, 25.5, 100, 300, 8, 45, 60, 150, 30, 12, 90, 500)
xs <- c(0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.55, 0.7, 0.8, 1, 1.5, 2)
tr <- list(
  x = x, ni = ni, ti = ti, xs = xs,
  ilogit = transf.ilogit(x), ztor = transf.ztor(x), exp = exp(x),
  iarcsin = transf.iarcsin(x), isqrt = transf.isqrt(x), iahw = transf.iahw(x),
  iabt = transf.iabt(x), ipft = transf.ipft(x, ni),
  ipft_hm = transf.ipft.hm(x, targs = list(ni = ni)),
  iirft = transf.iirft(xs, ti), logit = transf.logit(c(0.1, 0.5, 0.9)),
  rtoz = transf.rtoz(c(-0.5, 0, 0.7)), pft = transf.pft(c(0, 0.1, 0.5, 1), c(10, 20, 30, 40)),
  irft = transf.irft(c(0, 0.1, 0.5, 2), c(10, 20, 30, 40)))
write_json(list(versions = versions, transforms = tr), "transforms.json", digits = NA,
           na = "null")
cat("cases:", length(cases), "\n")
