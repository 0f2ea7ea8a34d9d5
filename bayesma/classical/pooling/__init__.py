"""Pooling 2x2 tables and counts: Mantel-Haenszel, Peto and binomial-normal GLMMs (metafor 3.8)."""

from __future__ import annotations

from bayesma.classical.pooling.glmm import GLMMResult, rma_glmm
from bayesma.classical.pooling.mh import rma_mh
from bayesma.classical.pooling.peto import rma_peto
from bayesma.classical.pooling.result import PoolingResult

__all__ = ["GLMMResult", "PoolingResult", "rma_glmm", "rma_mh", "rma_peto"]
