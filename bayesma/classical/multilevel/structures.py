"""Variance structures of ``rma_mv(random="~ inner | outer", struct=...)`` (metafor 3.8 ``rma.mv``).

With ``random = ~ inner | outer`` the random effects of the rows of one ``outer`` cluster
(e.g. a trial) are correlated through the ``n x n`` matrix ``G`` over the levels of the
``inner`` factor (e.g. the outcome): ``Cov(u_i, u_j) = G[inner_i, inner_j]`` when rows
``i`` and ``j`` share their outer level, 0 otherwise (metafor's ``Z_G1 G Z_G1' * Z_G2 Z_G2'``).
The structures are metafor's (``help(rma.mv)``, "Specifying Random Effects"):

* ``"CS"`` compound symmetry: ``G = tau² [rho + (1 - rho) I]``;
* ``"HCS"`` heteroscedastic compound symmetry: ``G_ab = tau_a tau_b rho`` (a != b),
  ``G_aa = tau²_a``;
* ``"UN"`` unstructured: any positive semi-definite ``G`` (``tau²_a`` and ``rho_ab``);
* ``"DIAG"`` diagonal: ``G = diag(tau²_a)``;
* ``"ID"`` scaled identity: ``G = tau² I``.

Each structure maps an unconstrained parameter vector ``theta`` to ``G``: log variances,
Fisher's z (``atanh``) of the correlations, and a log-Cholesky factor for ``UN`` (Pinheiro &
Bates 1996, "Unconstrained parametrizations for variance-covariance matrices").
``G`` is linear in its upper-triangle entries ``w``, so the (restricted) likelihood and its
gradient in ``w`` come from the linear-components model, and the chain rule
``dl/dtheta = (dw/dtheta)' dl/dw`` gives the gradient in ``theta``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesma.errors import DataError, SpecError

__all__ = ["STRUCTS", "Structure", "split_struct_random"]

STRUCTS = ("CS", "HCS", "UN", "DIAG", "ID")


def split_struct_random(random) -> tuple[str, str] | None:
    """``"~ inner | outer"`` -> ``(inner, outer)``; ``None`` for intercepts (``~ 1 | ...``)."""
    if not isinstance(random, str):
        return None
    f = random.strip()
    if f.startswith("~"):
        f = f[1:]
    if "|" not in f:
        return None
    lhs, rhs = (s.strip() for s in f.split("|", 1))
    if lhs == "1":
        return None
    inner, outer = lhs.strip("`"), rhs.strip("`")
    bad = r"[|~+*:/ ]"
    if not inner or not outer or re.search(bad, inner) or re.search(bad, outer):
        raise DataError(
            f"cannot read the random-effects formula {random!r}: use '~ inner | outer' with "
            "one column on each side (e.g. '~ outcome | trial')"
        )
    return inner, outer


def _tanh_deriv(x: float) -> float:
    return 1.0 - np.tanh(x) ** 2


@dataclass(frozen=True)
class Structure:
    """One of metafor's structures for ``n`` inner levels, parameterised without constraints."""

    name: str
    n: int

    def __post_init__(self):
        if self.name not in STRUCTS:
            raise SpecError(f"struct must be one of {', '.join(STRUCTS)}, got {self.name!r}")

    @property
    def n_par(self) -> int:
        """Number of estimated variance parameters (metafor's count of tau² and rho)."""
        n = self.n
        return {"CS": 2, "HCS": n + 1, "UN": n * (n + 1) // 2, "DIAG": n, "ID": 1}[self.name]

    @property
    def has_correlation(self) -> bool:
        return self.name in ("CS", "HCS", "UN")

    def start(self, tau2: np.ndarray, rho: float) -> np.ndarray:
        """``theta`` for per-level variances ``tau2`` and a common correlation ``rho``."""
        t2 = np.maximum(np.asarray(tau2, dtype=float), 1e-8)
        z = float(np.arctanh(np.clip(rho, -0.95, 0.95)))
        if self.name == "CS":
            return np.array([np.log(np.mean(t2)), z])
        if self.name == "HCS":
            return np.append(np.log(t2), z)
        if self.name == "DIAG":
            return np.log(t2)
        if self.name == "ID":
            return np.array([np.log(np.mean(t2))])
        s = np.sqrt(t2)
        G = np.outer(s, s) * (rho + (1 - rho) * np.eye(self.n))
        Lc = np.linalg.cholesky(G)
        return self._pack_chol(Lc)

    # -------------------------------------------------------------- G and its Jacobian
    def _pack_chol(self, Lc: np.ndarray) -> np.ndarray:
        out = []
        for i in range(self.n):
            for j in range(i + 1):
                out.append(np.log(Lc[i, i]) if i == j else Lc[i, j])
        return np.array(out)

    def _unpack_chol(self, theta: np.ndarray) -> np.ndarray:
        Lc = np.zeros((self.n, self.n))
        t = 0
        for i in range(self.n):
            for j in range(i + 1):
                Lc[i, j] = np.exp(theta[t]) if i == j else theta[t]
                t += 1
        return Lc

    def cov(self, theta: np.ndarray) -> np.ndarray:
        """The ``n x n`` matrix ``G`` at ``theta``."""
        G, _ = self.cov_and_jacobian(theta)
        return G

    def cov_and_jacobian(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``G`` and ``dG/dtheta`` (shape ``(n_par, n, n)``)."""
        n = self.n
        th = np.asarray(theta, dtype=float)
        J = np.zeros((th.size, n, n))
        eye = np.eye(n)
        if self.name in ("ID", "CS"):
            t2 = float(np.exp(th[0]))
            rho = float(np.tanh(th[1])) if self.name == "CS" else 0.0
            C = rho + (1.0 - rho) * eye if self.name == "CS" else eye
            G = t2 * C
            J[0] = G
            if self.name == "CS":
                J[1] = t2 * _tanh_deriv(th[1]) * (1.0 - eye)
            return G, J
        if self.name == "DIAG":
            t2 = np.exp(th)
            for a in range(n):
                J[a, a, a] = t2[a]
            return np.diag(t2), J
        if self.name == "HCS":
            t2 = np.exp(th[:n])
            s = np.sqrt(t2)
            rho = float(np.tanh(th[n]))
            C = rho + (1.0 - rho) * eye
            G = np.outer(s, s) * C
            for a in range(n):
                # d(s_a s_b)/d log t2_a = s_a s_b / 2 (b != a), d t2_a / d log t2_a = t2_a
                E = np.zeros((n, n))
                E[a, :] += 0.5 * G[a, :]
                E[:, a] += 0.5 * G[:, a]
                J[a] = E
            J[n] = np.outer(s, s) * _tanh_deriv(th[n]) * (1.0 - eye)
            return G, J
        # UN: G = L L', L lower triangular with exp() on its diagonal
        Lc = self._unpack_chol(th)
        G = Lc @ Lc.T
        t = 0
        for i in range(n):
            for j in range(i + 1):
                dL = np.zeros((n, n))
                dL[i, j] = Lc[i, i] if i == j else 1.0
                J[t] = dL @ Lc.T + Lc @ dL.T
                t += 1
        return G, J

    # -------------------------------------------------------------- reporting
    def tau2_rho(self, G: np.ndarray, levels: list) -> tuple[np.ndarray, object]:
        """Per-level variances and the correlation(s) as ``rma_mv`` reports them.

        ``tau2[i]`` is always level ``i``'s variance (CS and ID repeat their single value);
        ``rho`` is a float (CS, HCS), a correlation matrix as a DataFrame indexed by level
        (UN) or ``None`` (DIAG, ID).
        """
        tau2 = np.diag(G).copy()
        if self.name in ("CS", "ID"):
            tau2 = np.full(self.n, float(np.mean(tau2)))
        if self.name in ("DIAG", "ID"):
            return tau2, None
        s = np.sqrt(np.maximum(np.diag(G), 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            R = G / np.outer(s, s)
        np.fill_diagonal(R, 1.0)
        if self.name == "UN":
            idx = pd.Index([str(v) for v in levels], name="level")
            return tau2, pd.DataFrame(np.clip(R, -1.0, 1.0), index=idx, columns=idx)
        off = R[~np.eye(self.n, dtype=bool)]
        return tau2, float(np.clip(off[0], -1.0, 1.0)) if off.size else float("nan")
