"""numba machine code of the marginal random-effects and meta-regression log densities.

Importing this module compiles :func:`logp_re`, :func:`expand_re`, :func:`logp_mr` and
:func:`expand_mr` the first time (a few seconds) and loads them from numba's cache
afterwards (``cache=True``: beside this
file, or in the user's cache folder when the package is read-only; keyed by this file,
the signatures and the numba version). The C signatures are nutpie's compiled-model
interface. :mod:`bayesma.bayes.fastpath` documents the density and drives the sampler.

Data buffer (float64): ``k, mu_code, a, b, c, kernel[14], y[k], v[k]`` where the mu prior
is Normal(a, b) (code 0), Student-t with nu = c, location a, scale b (1), Cauchy(a, b) (2)
or flat (3), and the kernel holds the coefficients of
:data:`bayesma.priors.KERNEL_DEFAULTS` in order (``c1 c2 c3 c4 s4 c5 m5 c6 m6 s6 c7 c8
lo hi``).

Meta-regression buffer (float64): ``k, p, kernel[14], prior[p][4], y[k], v[k], X[k][p]``
with one ``(code, a, b, c)`` per coefficient (codes as above) and the design ``X`` row by
row (the intercept column first when the model has one); the sampler's coordinates are
``(b_0 .. b_{p-1}, log tau)``.
"""

from __future__ import annotations

import math

import numba
from numba import types

__all__ = ["expand_mr", "expand_re", "logp_mr", "logp_re"]

_LOGP_SIG = types.int64(types.uint64, types.CPointer(types.double),
                        types.CPointer(types.double), types.CPointer(types.double),
                        types.CPointer(types.double))
_EXPAND_SIG = types.int64(types.uint64, types.uint64, types.CPointer(types.double),
                          types.CPointer(types.double), types.CPointer(types.double))


@numba.njit(cache=True, nogil=True)
def _tau_kernel(lt, d, o):  # pragma: no cover - machine code
    """(log p_tau(tau) + log tau, its derivative in log tau) from the 14 kernel
    coefficients at ``d[o:o + 14]`` (:data:`bayesma.priors.KERNEL_DEFAULTS`)."""
    tau = math.exp(lt)
    t2 = tau * tau
    c1, c2, c3, c4, s4 = d[o], d[o + 1], d[o + 2], d[o + 3], d[o + 4]
    c5, m5, c6, m6, s6 = d[o + 5], d[o + 6], d[o + 7], d[o + 8], d[o + 9]
    c7, c8 = d[o + 10], d[o + 11]
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
    return lp, gl


@numba.njit(cache=True, nogil=True)
def _location_prior(x, code, a, b, c):  # pragma: no cover - machine code
    """(log density up to its constant, derivative) of a coefficient's prior."""
    z = (x - a) / b
    if code == 0:  # Normal(a, b)
        return -0.5 * z * z, -z / b
    if code == 1:  # Student t (nu = c, location a, scale b)
        return -0.5 * (c + 1.0) * math.log1p(z * z / c), -(c + 1.0) * z / (b * (c + z * z))
    if code == 2:  # Cauchy(a, b)
        return -math.log1p(z * z), -2.0 * z / (b * (1.0 + z * z))
    return 0.0, 0.0  # flat


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
    lo, hi = d[17], d[18]
    if not (tau > 0.0) or tau < lo or tau > hi or not math.isfinite(tau):
        out[0] = -math.inf
        g[0] = 0.0
        g[1] = 0.0
        return 4
    # the tau kernel of bayesma.bayes.models.tau_kernel, plus the Jacobian log tau
    lp, gl = _tau_kernel(lt, d, 5)
    # the mu prior, up to its constant
    lpm, gm = _location_prior(mu, int(d[1]), d[2], d[3], d[4])
    lp += lpm
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


@numba.cfunc(_LOGP_SIG, cache=True, nogil=True)
def logp_mr(dim, x_, grad_, logp_, data_):  # pragma: no cover - runs as machine code
    """log p(b, log tau | y) + const of the marginal meta-regression
    ``y_i ~ N(x_i' b, v_i + tau²)`` and its gradient (nutpie's C convention)."""
    k = int(data_[0])
    p = int(data_[1])
    if dim != p + 1:
        return -1
    x = numba.carray(x_, (p + 1,))
    g = numba.carray(grad_, (p + 1,))
    out = numba.carray(logp_, (1,))
    d = numba.carray(data_, (16 + 4 * p + 2 * k + k * p,))
    lt = x[p]
    tau = math.exp(lt)
    t2 = tau * tau
    lo, hi = d[14], d[15]
    if not (tau > 0.0) or tau < lo or tau > hi or not math.isfinite(tau):
        out[0] = -math.inf
        for j in range(p + 1):
            g[j] = 0.0
        return 4
    lp, gl = _tau_kernel(lt, d, 2)
    for j in range(p):
        o = 16 + 4 * j
        lpj, gj = _location_prior(x[j], int(d[o]), d[o + 1], d[o + 2], d[o + 3])
        lp += lpj
        g[j] = gj
    oy = 16 + 4 * p
    ov = oy + k
    ox = ov + k
    for i in range(k):
        s2 = d[ov + i] + t2
        r = d[oy + i]
        for j in range(p):
            r -= d[ox + i * p + j] * x[j]
        q = r * r / s2
        lp += -0.5 * (math.log(s2) + q)
        for j in range(p):
            g[j] += r * d[ox + i * p + j] / s2
        gl += (q - 1.0) * t2 / s2
    out[0] = lp
    g[p] = gl
    if not math.isfinite(lp):
        return 4
    for j in range(p + 1):
        if not math.isfinite(g[j]):
            return 3
    return 0


@numba.cfunc(_EXPAND_SIG, cache=True, nogil=True)
def expand_mr(dim, n_expanded, x_, out_, data_):  # pragma: no cover - machine code
    """(b, log tau) -> (beta = b, tau), the variables of the posterior."""
    if n_expanded != dim:
        return -1
    x = numba.carray(x_, (dim,))
    out = numba.carray(out_, (dim,))
    for j in range(dim - 1):
        out[j] = x[j]
    out[dim - 1] = math.exp(x[dim - 1])
    return 0
