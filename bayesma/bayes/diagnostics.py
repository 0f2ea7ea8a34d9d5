"""Sampling diagnostics: divergences, R-hat, effective sample size, small k.

After every MCMC fit bayesma checks

* divergent transitions (any is a problem: the sampler met curvature it could not
  follow, so the draws may be biased; Betancourt 2017, arXiv:1701.02434, sec. 6.2);
* rank-normalized split R-hat > 1.01 (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021,
  Bayesian Anal 16:667, sec. 4: "we recommend ... R-hat < 1.01");
* bulk and tail effective sample size < 400 (same paper, sec. 4: at least 100 per chain
  with 4 chains);
* very small k (2 or 3 studies), where NUTS struggles with the funnel in (mu, tau) even
  in the marginal form (stack-notes section 2) while the exact engine is exact;

and issues *one* :class:`~bayesma.errors.SamplingWarning` that lists what happened and
what to try.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from bayesma.bayes.mcmc_diagnostics import DIAGNOSTIC_COLUMNS, mcmc_diagnostics
from bayesma.errors import SamplingWarning

__all__ = [
    "ESS_MIN",
    "RHAT_MAX",
    "SMALL_K",
    "DiagnosticReport",
    "diagnose",
    "diagnostics_table",
    "warn_if_problems",
]

#: Largest acceptable rank-normalized split R-hat (Vehtari et al. 2021).
RHAT_MAX = 1.01
#: Smallest acceptable bulk/tail ESS (Vehtari et al. 2021: 100 per chain x 4 chains).
ESS_MIN = 400
#: Numbers of studies at or below which NUTS is flagged as unreliable.
SMALL_K = 3


def diagnostics_table(posterior: xr.Dataset, var_names: Sequence[str] | None = None
                      ) -> pd.DataFrame:
    """Per-parameter MCMC diagnostics.

    The numbers and labels of ``arviz.summary(posterior, kind="diagnostics",
    round_to="none")``, computed by :func:`bayesma.bayes.mcmc_diagnostics.mcmc_diagnostics`
    without importing ArviZ (issue 16).

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior draws with dims (chain, draw, ...).
    var_names : sequence of str, optional
        Variables to check (default: all); names not in ``posterior`` are skipped.

    Returns
    -------
    DataFrame
        Index like ArviZ (``mu``, ``theta[Aronson 1948]``, ``x[a, 1]`` for a 2-D
        variable, integer positions for dimensions without coordinates), rows in ArviZ's
        order; float columns ``ess_bulk, ess_tail, r_hat, mcse_mean, mcse_sd``.
    """
    names = list(var_names) if var_names is not None else list(posterior.data_vars)
    names = [n for n in names if n in posterior.data_vars]
    labels: list[str] = []
    blocks: list[np.ndarray] = []
    for name in names:
        da = posterior[name]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        da = da.transpose("chain", "draw", *other)
        n_par = int(np.prod([da.sizes[d] for d in other]))
        blocks.append(np.asarray(da.values, dtype=float).reshape(
            da.sizes["chain"], da.sizes["draw"], n_par))
        if not other:
            labels.append(str(name))
            continue
        # arviz_base BaseLabeller.make_label_flat: "name[v1, v2]" with f"{coord value}"
        values = [da[d].values for d in other]
        labels.extend(f"{name}[{', '.join(f'{v}' for v in combo)}]"
                      for combo in itertools.product(*values))
    if not blocks:
        return pd.DataFrame(np.empty((0, len(DIAGNOSTIC_COLUMNS))),
                            columns=list(DIAGNOSTIC_COLUMNS), dtype=float)
    # one vectorised call over all parameters of all variables
    diag = mcmc_diagnostics(np.concatenate(blocks, axis=2))
    data = np.stack([diag[c] for c in DIAGNOSTIC_COLUMNS], axis=1)
    return pd.DataFrame(data, index=labels, columns=list(DIAGNOSTIC_COLUMNS), dtype=float)


@dataclass
class DiagnosticReport:
    """Outcome of the checks of one fit.

    Attributes
    ----------
    divergences : int
        Divergent transitions after tuning (all chains).
    n_draws : int
        Total draws (chains x draws).
    table : DataFrame
        :func:`diagnostics_table` of the checked parameters.
    problems : list of str
        One sentence per problem found (empty when the fit looks fine).
    advice : list of str
        What to try, in order.
    """

    divergences: int
    n_draws: int
    table: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def message(self, model: str = "model") -> str:
        """The warning text: what happened, then what to try."""
        head = f"{model}: " + "; ".join(self.problems) + "."
        if self.advice:
            head += " Try: " + "; ".join(self.advice) + "."
        return head


def _worst(series: pd.Series, largest: bool) -> tuple[str, float]:
    s = series.dropna()
    if s.empty:
        return "", float("nan")
    name = s.idxmax() if largest else s.idxmin()
    return str(name), float(s[name])


def diagnose(
    posterior: xr.Dataset,
    sample_stats: xr.Dataset,
    *,
    var_names: Sequence[str] | None = None,
    k: int | None = None,
    parameterization: str | None = None,
    alternatives: Sequence[str] | None = None,
    normal_model: bool = True,
    tune: int | None = None,
    target_accept: float | None = None,
) -> DiagnosticReport:
    """Check one fit.

    Parameters
    ----------
    posterior, sample_stats : xarray.Dataset
        The fit's posterior draws and sampler statistics.
    var_names : sequence of str, optional
        Parameters to check (default all posterior variables).
    k : int, optional
        Number of studies (k <= 3 is flagged).
    parameterization : str, optional
        The model's parameterization, used to suggest another one.
    alternatives : sequence of str, optional
        The other parameterizations the model offers (default: those of the normal
        models).
    normal_model : bool
        True for the normal-normal model, which the exact engine solves exactly.
    tune, target_accept : optional
        The settings used, so the advice can say "more than N".

    Returns
    -------
    DiagnosticReport
    """
    div = int(np.asarray(sample_stats["diverging"]).sum()) if "diverging" in sample_stats else 0
    n = int(posterior.sizes.get("chain", 1) * posterior.sizes.get("draw", 0))
    table = diagnostics_table(posterior, var_names)
    problems: list[str] = []
    if k is not None and k <= SMALL_K:
        problems.append(
            f"only k = {k} studies: with so little information about tau the posterior "
            "has a funnel that NUTS explores unreliably (biased tau even without "
            "divergences)"
        )
    if div:
        problems.append(f"{div} divergent transition{'s' if div > 1 else ''} after tuning "
                        f"({100 * div / max(n, 1):.1f}% of {n} draws)")
    name, val = _worst(table["r_hat"], largest=True)
    if name and val > RHAT_MAX:
        nbad = int((table["r_hat"] > RHAT_MAX).sum())
        problems.append(f"R-hat > {RHAT_MAX} for {nbad} parameter(s) (worst {name}: {val:.3f})")
    for col in ("ess_bulk", "ess_tail"):
        name, val = _worst(table[col], largest=False)
        if name and val < ESS_MIN:
            nbad = int((table[col] < ESS_MIN).sum())
            problems.append(f"{col} < {ESS_MIN} for {nbad} parameter(s) (lowest {name}: "
                            f"{val:.0f})")
    advice: list[str] = []
    if problems:
        if div or (k is not None and k <= SMALL_K):
            ta = f" (used {target_accept})" if target_accept is not None else ""
            advice.append(f"a higher target_accept, e.g. 0.95-0.99{ta}")
        if any(p.startswith(("R-hat", "ess")) for p in problems):
            advice.append(f"more tuning and draws (tune={tune})" if tune else
                          "more tuning and draws")
        if parameterization is not None:
            if alternatives is None:
                alternatives = [p for p in ("marginal", "noncentered", "centered")
                                if p != parameterization]
            # the marginal form first: it samples best (benchmarks/results/bayes_mcmc.txt)
            alts = [p for p in alternatives if p != "centered"] or list(alternatives)
            if alts:
                other = " or ".join(repr(p) for p in alts)
                advice.append(f"parameterization={other} (now {parameterization!r})")
        if normal_model:
            advice.append("bm.exact_posterior(...), which computes this normal-normal model "
                          "exactly by quadrature and needs no sampling")
    return DiagnosticReport(div, n, table, problems, advice)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn_if_problems(report: DiagnosticReport, *, model: str = "model") -> None:
    """Issue one :class:`SamplingWarning` if ``report`` found problems.

    The warning is attributed to the first caller outside the bayesma package.
    """
    if report.problems:
        warnings.warn(report.message(model), SamplingWarning,
                      skip_file_prefixes=(_PACKAGE_DIR,))
