"""RevMan and Cochrane data in and out: ``.rm5`` files, RevMan's analysis CSV, data packages.

:func:`read_revman` reads a review into a :class:`RevManReview` (outcomes, study tables
with metafor's column names, RevMan's stored results); :meth:`RevManReview.analyse`
recomputes an analysis with RevMan's own methods and :meth:`RevManReview.check` compares
the two. :func:`write_revman_csv` writes study data in RevMan's import layout.
"""

from __future__ import annotations

from bayesma.revman.result import RevManResult
from bayesma.revman.review import RevManReview, read_revman
from bayesma.revman.writing import write_revman_csv

__all__ = ["RevManResult", "RevManReview", "read_revman", "write_revman_csv"]
