"""Effect sizes: metafor's ``escalc()`` measures and conversions between effect sizes.

Also :func:`conv_fivenum` (means and SDs from medians, quartiles and ranges) and
:func:`conv_wald` (variances from CIs, z statistics and p-values), metafor's
``conv.fivenum`` and ``conv.wald``; both record the rows they convert in
``attrs["conversions"]``.

:func:`escalc` turns arm-level data (means/SDs/ns, 2x2 counts, correlations) or given
estimates into a table with an effect size ``yi`` and its sampling variance ``vi`` per
row, with metafor's (3.8) formulas and defaults, so that its output matches
``metafor::escalc()`` to floating-point precision.

Differences from metafor, all deliberate (bad input is never silently coerced):

* Input that metafor would turn into ``NA`` is an error naming the column, the row and the
  study: missing values, SD <= 0, group sizes too small to estimate the variance,
  correlations of ±1 for ZCOR, ``ni <= 3`` for correlations, means <= 0 for ROM, and any
  computed sampling variance <= 0.
* Rows whose ``yi``/``vi`` are undefined by construction (double-zero tables with
  ``drop00=True``; zero cells with ``to="none"`` or ``add=0``) become NaN as in metafor,
  but always with an :class:`UndefinedEffectWarning` naming them. :func:`bayesma.rma`
  does not drop NaN rows on its own: remove them explicitly, e.g.
  ``dat.dropna(subset=["yi", "vi"])``.

The conversions (:func:`smd_to_logor`, :func:`logor_to_smd`, :func:`r_to_d`,
:func:`d_to_r`, :func:`r_to_z`, :func:`z_to_r`, and the dispatcher :func:`convert`)
follow Borenstein et al. (2009, ch. 7), Hasselblad & Hedges (1995) and Fisher (1921).
"""

from bayesma.effect_sizes.conversion_log import ConversionWarning
from bayesma.effect_sizes.conversions import (
    Converted,
    convert,
    d_to_r,
    logor_to_smd,
    r_to_d,
    r_to_z,
    smd_to_logor,
    z_to_r,
)
from bayesma.effect_sizes.escalc import escalc
from bayesma.effect_sizes.fivenum import FIVENUM_METHODS, conv_fivenum
from bayesma.effect_sizes.registry import MEASURES, UndefinedEffectWarning
from bayesma.effect_sizes.wald import WALD_TRANSFORMS, conv_wald

__all__ = [
    "FIVENUM_METHODS",
    "MEASURES",
    "WALD_TRANSFORMS",
    "ConversionWarning",
    "Converted",
    "UndefinedEffectWarning",
    "conv_fivenum",
    "conv_wald",
    "convert",
    "d_to_r",
    "escalc",
    "logor_to_smd",
    "r_to_d",
    "r_to_z",
    "smd_to_logor",
    "z_to_r",
]
