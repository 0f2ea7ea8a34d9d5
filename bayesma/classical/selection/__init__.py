"""Selection models for publication bias (metafor 3.8 ``selmodel``): the step function
of Vevea & Hedges (1995), the beta function of Citkowicz & Vevea (2017) and the
half-normal, negative-exponential, logistic and power functions of Preston, Ashby &
Smyth (2004), fitted by maximum likelihood.

References
----------
Citkowicz, M., & Vevea, J. L. (2017). Psychological Methods, 22(1), 28-41.
Iyengar, S., & Greenhouse, J. B. (1988). Statistical Science, 3(1), 109-117.
Preston, C., Ashby, D., & Smyth, R. (2004). Biometrics, 60(2), 374-382.
Vevea, J. L., & Hedges, L. V. (1995). Psychometrika, 60(3), 419-435.
Viechtbauer, W. (2010). Journal of Statistical Software, 36(3), 1-48 (metafor).
"""

from bayesma.classical.selection.fitting import selmodel
from bayesma.classical.selection.result import SelectionModelWarning, SelModelResult
from bayesma.classical.selection.types import SELECTION_TYPES, SelectionType

__all__ = [
    "SELECTION_TYPES",
    "SelModelResult",
    "SelectionModelWarning",
    "SelectionType",
    "selmodel",
]
