"""Small-study effects and publication bias: trim-and-fill, Egger-type regression tests,
Begg's rank correlation test and fail-safe N (one module per test; ``common.py`` holds
the shared helpers).

Every function reproduces the metafor 3.8 function of the same name:

* :func:`trimfill` — ``trimfill.rma.uni`` (Duval & Tweedie 2000a, 2000b), estimators
  L0 and R0, side chosen from the sign of the sei slope as metafor does;
* :func:`regtest` — ``regtest.rma`` (Egger et al. 1997; Sterne & Egger 2005), with the
  meta-regression ("rma") or weighted least-squares ("lm") variant;
* :func:`ranktest` — ``ranktest.rma`` (Begg & Mazumdar 1994): Kendall's tau between
  standardized effects and variances, exact p without ties (as R's ``cor.test``);
* :func:`fsn` — ``fsn`` (Rosenthal 1979; Orwin 1983; Rosenberg 2005);
* :func:`pet_peese` — PET and PEESE regressions and the conditional estimate (Stanley &
  Doucouliagos 2014; R's ``lm``).

Each returns a frozen result object with a ``to_frame()`` view and a readable printout.

References
----------
Begg, C. B., & Mazumdar, M. (1994). Biometrics, 50(4), 1088-1101.
Duval, S., & Tweedie, R. (2000a). JASA, 95(449), 89-98.
Duval, S., & Tweedie, R. (2000b). Biometrics, 56(2), 455-463.
Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). BMJ, 315, 629-634.
Orwin, R. G. (1983). Journal of Educational Statistics, 8(2), 157-159.
Pustejovsky, J. E., & Rodgers, M. A. (2019). Research Synthesis Methods, 10(1), 57-71.
Rosenberg, M. S. (2005). Evolution, 59(2), 464-468.
Rosenthal, R. (1979). Psychological Bulletin, 86(3), 638-641.
Stanley, T. D. (2017). Social Psychological and Personality Science, 8(5), 581-591.
Stanley, T. D., & Doucouliagos, H. (2014). Research Synthesis Methods, 5(1), 60-78.
"""

from bayesma.classical.bias.fsn import FailSafeNResult, fsn
from bayesma.classical.bias.pet_peese import PetPeeseFit, PetPeeseResult, pet_peese
from bayesma.classical.bias.ranktest import RankTestResult, ranktest
from bayesma.classical.bias.regtest import RegTestResult, WLSFit, regtest
from bayesma.classical.bias.trimfill import TrimFillResult, trimfill

__all__ = [
    "FailSafeNResult",
    "PetPeeseFit",
    "PetPeeseResult",
    "RankTestResult",
    "RegTestResult",
    "TrimFillResult",
    "WLSFit",
    "fsn",
    "pet_peese",
    "ranktest",
    "regtest",
    "trimfill",
]
