"""numba machine code of the marginal random-effects log density, cached on disk.

Importing this module compiles :func:`logp_re` and :func:`expand_re` the first time
(about 2 s) and loads them from numba's cache afterwards (``cache=True``: beside this
file, or in the user's cache folder when the package is read-only; keyed by this file,
the signatures and the numba version). The C signatures are nutpie's compiled-model
interface. :mod:`bayesma.bayes.fastpath` documents the density and drives the sampler.

Data buffer (float64): ``k, mu_code, a, b, c, kernel[14], y[k], v[k]`` where the mu prior
is Normal(a, b) (code 0), Student-t with nu = c, location a, scale b (1), Cauchy(a, b) (2)
or flat (3), and the kernel holds the coefficients of
:data:`bayesma.priors.KERNEL_DEFAULTS` in order (``c1 c2 c3 c4 s4 c5 m5 c6 m6 s6 c7 c8
lo hi``).
"""

from __future__ import annotations

import math

import numba
from numba import types

__all__ = ["expand_re", "logp_re"]

_LOGP_SIG = types.int64(types.uint64, types.CPointer(types.double),
                        types.CPointer(types.double), types.CPointer(types.double),
                        types.CPointer(types.double))
_EXPAND_SIG = types.int64(types.uint64, types.uint64, types.CPointer(types.double),
                          types.CPointer(types.double), types.CPointer(types.double))


@numba.cfunc(_LOGP_SIG, cache=True, nogil=True)
def logp_re(dim, x_, grad_, logp_, data_):  # pragma: no cover - runs as machine code
    """log p(mu, log tau | y) + const and its gradient, in nutpie's C convention
    (return 0 on success, 3 for a non-finite gradient, 4 outside the support)."""
    if dim != 2:
        return -1
    x = numba.carray(x_, (2,))
    g = numba.carray(grad_, (2,))
    out = numba.carray(logp_, (1,))
    k = int(data_[0])
    d = numba.carray(data_, (19 + 2 * k,))
    mu = x[0]
    lt = x[1]
    tau = math.exp(lt)
    t2 = tau * tau
    # the tau kernel of bayesma.bayes.models.tau_kernel, plus the Jacobian log tau
    c1, c2, c3, c4, s4 = d[5], d[6], d[7], d[8], d[9]
    c5, m5, c6, m6, s6 = d[10], d[11], d[12], d[13], d[14]
    c7, c8, lo, hi = d[15], d[16], d[17], d[18]
    if not (tau > 0.0) or tau < lo or tau > hi or not math.isfinite(tau):
        out[0] = -math.inf
        g[0] = 0.0
        g[1] = 0.0
        return 4
    u5 = lt - m5
    u6 = lt - m6
    lp = (c1 * lt + c2 * tau + c3 * t2 + c4 * math.log1p(t2 / s4) + c5 * u5 * u5
          + c6 * math.log1p(u6 * u6 / s6) + lt)
    gl = (c1 + c2 * tau + 2.0 * c3 * t2 + c4 * 2.0 * t2 / (s4 + t2) + 2.0 * c5 * u5
          + c6 * 2.0 * u6 / (s6 + u6 * u6) + 1.0)
    if c7 != 0.0:
        lp += c7 / tau
        gl -= c7 / tau
    if c8 != 0.0:
        lp += c8 / t2
        gl -= 2.0 * c8 / t2
    # the mu prior, up to its constant
    code = int(d[1])
    a, b, c = d[2], d[3], d[4]
    z = (mu - a) / b
    gm = 0.0
    if code == 0:  # Normal(a, b)
        lp += -0.5 * z * z
        gm = -z / b
    elif code == 1:  # Student t (nu = c, location a, scale b)
        lp += -0.5 * (c + 1.0) * math.log1p(z * z / c)
        gm = -(c + 1.0) * z / (b * (c + z * z))
    elif code == 2:  # Cauchy(a, b)
        lp += -math.log1p(z * z)
        gm = -2.0 * z / (b * (1.0 + z * z))
    # marginal likelihood y_i ~ N(mu, v_i + tau²) (Röver 2020, eq. 3), up to 2 pi
    for i in range(k):
        s2 = d[19 + k + i] + t2
        r = d[19 + i] - mu
        q = r * r / s2
        lp += -0.5 * (math.log(s2) + q)
        gm += r / s2
        gl += (q - 1.0) * t2 / s2
    out[0] = lp
    g[0] = gm
    g[1] = gl
    if not math.isfinite(lp):
        return 4
    if not (math.isfinite(gm) and math.isfinite(gl)):
        return 3
    return 0


@numba.cfunc(_EXPAND_SIG, cache=True, nogil=True)
def expand_re(dim, n_expanded, x_, out_, data_):  # pragma: no cover - machine code
    """(mu, log tau) -> (mu, tau), the variables of the posterior."""
    if dim != 2 or n_expanded != 2:
        return -1
    x = numba.carray(x_, (2,))
    out = numba.carray(out_, (2,))
    out[0] = x[0]
    out[1] = math.exp(x[1])
    return 0
