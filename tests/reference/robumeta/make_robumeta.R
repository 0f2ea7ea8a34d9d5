# Reference values of robumeta 2.0's robu() and sensitivity() for bayesma's bm.robu (issue 11).
#
# Data (written here as CSV, then read back so R and Python use the same numbers):
#   corrdat.csv, hierdat.csv : robumeta 2.0's example data (Tanner-Smith & Tipton 2014,
#                              Research Synthesis Methods 5:13-30; illustrative data)
#   assink2016.csv           : metadat's dat.assink2016 (Assink & Wibbelink 2016, TQMP 12:154)
# For each dataset: CORR and HIER working models, small = TRUE / FALSE, an intercept-only
# model and a meta-regression; CORR also with rho = 0.5. sensitivity(): robumeta's
# sensitivity() only prints (3 significant digits), so its full-precision values are the
# robu() fits at rho = 0, .2, ..., 1 (sensitivity() repeats robu's steps with the new tau2);
# the printed table is stored too.
#
# Run from this folder: Rscript make_robumeta.R
suppressPackageStartupMessages({library(robumeta); library(metadat); library(jsonlite)})

data(corrdat, package = "robumeta")
data(hierdat, package = "robumeta")
write.csv(corrdat, "corrdat.csv", row.names = FALSE)
write.csv(hierdat, "hierdat.csv", row.names = FALSE)
write.csv(dat.assink2016, "assink2016.csv", row.names = FALSE)
corr <- read.csv("corrdat.csv")
hier <- read.csv("hierdat.csv")
assink <- read.csv("assink2016.csv")

datasets <- list(
  corrdat = list(data = corr, yi = "effectsize", vi = "var", study = "studyid",
                 mods = c("males", "college", "binge")),
  hierdat = list(data = hier, yi = "effectsize", vi = "var", study = "studyid",
                 mods = c("binge", "followup", "sreport", "age")),
  assink2016 = list(data = assink, yi = "yi", vi = "vi", study = "study",
                    mods = c("deltype", "year"))
)

fit_robu <- function(d, mods, weights, small, rho = 0.8, userweights = NULL) {
  rhs <- if (length(mods)) paste(mods, collapse = " + ") else "1"
  f <- as.formula(paste(d$yi, "~", rhs))
  dat <- d$data
  dat$.study <- dat[[d$study]]
  dat$.vi <- dat[[d$vi]]
  if (is.null(userweights)) {
    fit <- eval(bquote(robu(.(f), data = dat, studynum = .study, var.eff.size = .vi,
                            modelweights = .(weights), rho = .(rho), small = .(small))))
  } else {
    dat$.uw <- eval(parse(text = userweights), dat)
    fit <- eval(bquote(robu(.(f), data = dat, studynum = .study, var.eff.size = .vi,
                            userweights = .uw, small = .(small))))
  }
  tab <- fit$reg_table
  out <- list(formula = paste(deparse(f), collapse = ""), modelweights = weights,
              small = small, rho = rho, labels = as.character(tab$labels),
              estimate = as.numeric(tab$b.r), se = as.numeric(tab$SE),
              stat = as.numeric(tab$t), df = as.numeric(tab$dfs),
              pval = as.numeric(tab$prob), ci_low = as.numeric(tab$CI.L),
              ci_high = as.numeric(tab$CI.U), vcov = unname(fit$VR.r),
              tau2 = if (is.null(userweights)) as.numeric(fit$mod_info$tau.sq) else NA,
              N = fit$N, M = fit$M, userweights = if (is.null(userweights)) NA else userweights,
              printout = paste(capture.output(print(fit)), collapse = "\n"))
  if (!is.null(userweights)) {
    # no working model
  } else if (weights == "CORR") {
    out$i2 <- as.numeric(fit$mod_info$I.2)
    out$term1 <- as.numeric(fit$mod_info$term1)
    out$term2 <- as.numeric(fit$mod_info$term2)
  } else {
    out$omega2 <- as.numeric(fit$mod_info$omega.sq)
  }
  list(fit = fit, out = out)
}

rho_grid <- seq(0, 1, 0.2)
cases <- list()
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  for (weights in c("CORR", "HIER")) {
    for (small in c(TRUE, FALSE)) {
      for (reg in c(FALSE, TRUE)) {
        mods <- if (reg) d$mods else character(0)
        r <- fit_robu(d, mods, weights, small)
        case <- r$out
        case$dataset <- nm
        case$yi <- d$yi; case$vi <- d$vi; case$study <- d$study; case$mods <- mods
        if (weights == "CORR") {
          sens <- lapply(rho_grid, function(rh) {
            s <- fit_robu(d, mods, weights, small, rho = rh)$out
            list(rho = rh, estimate = s$estimate, se = s$se, tau2 = s$tau2)
          })
          case$sensitivity <- sens
          # sensitivity() itself fails where a cluster's I - H_jj has a zero eigenvalue
          # (it lacks robu's 1e-10 cut-off): the error text is stored instead
          case$sensitivity_printout <- tryCatch(
            paste(capture.output(sensitivity(r$fit)), collapse = "\n"),
            error = function(e) paste("sensitivity() error:", conditionMessage(e)))
        }
        cases[[length(cases) + 1]] <- case
        if (weights == "CORR" && small && reg) {
          r5 <- fit_robu(d, mods, weights, small, rho = 0.5)$out
          r5$dataset <- nm
          r5$yi <- d$yi; r5$vi <- d$vi; r5$study <- d$study; r5$mods <- mods
          cases[[length(cases) + 1]] <- r5
        }
      }
    }
  }
}

# user-specified weights (robu's userweights): an R expression of the data's columns,
# the same weights in the Python tests
user <- list(corrdat = "1 / var", hierdat = "1 / (var + 0.05)", assink2016 = "1 / (vi + 0.1)")
for (nm in names(datasets)) {
  d <- datasets[[nm]]
  for (small in c(TRUE, FALSE)) {
    for (reg in c(FALSE, TRUE)) {
      mods <- if (reg) d$mods else character(0)
      case <- fit_robu(d, mods, "CORR", small, userweights = user[[nm]])$out
      case$modelweights <- "USER"
      case$dataset <- nm
      case$yi <- d$yi; case$vi <- d$vi; case$study <- d$study; case$mods <- mods
      cases[[length(cases) + 1]] <- case
    }
  }
}

out <- list(
  versions = list(R = R.version.string,
                  robumeta = as.character(packageVersion("robumeta")),
                  metadat = as.character(packageVersion("metadat")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  cases = cases
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "robumeta_reference.json")
