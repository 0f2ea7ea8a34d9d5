"""``read_revman``: a RevMan review (``.rm5``, analysis CSV, data package) as a RevManReview."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bayesma.errors import DataError
from bayesma.revman.analysis import CHECK_COLUMNS, analyse_outcome, compare
from bayesma.revman.csv_export import read_revman_csv
from bayesma.revman.datapackage import MAX_MEMBER_BYTES, read_data_package
from bayesma.revman.outcome import REPORTED_FIELDS, SUBGROUP_TEST_FIELDS, Outcome
from bayesma.revman.result import RevManResult
from bayesma.revman.rm5 import read_rm5

__all__ = ["RevManReview", "read_revman"]

OUTCOME_COLUMNS = ["id", "comparison", "name", "data_type", "method", "measure", "model", "k",
                   "subgroups"]


class RevManReview:
    """The analyses of a RevMan review: study data, RevMan's settings and stored results.

    Made by :func:`read_revman`. Outcomes are addressed by RevMan's id
    ``"CMP-<comparison, 3 digits>.<outcome, 2 digits>"`` (e.g. ``"CMP-001.01"``).

    Attributes
    ----------
    title : str
        The review's title (or first comparison's name when the format has no title).
    path : str
        The file read.
    format : str
        ``"rm5"``, ``"csv"`` or ``"data package"``.
    risk_of_bias : DataFrame
        Judgements per study (rows) and domain (columns), empty if the file holds none.
    """

    def __init__(self, title: str, outcomes: list[Outcome], risk_of_bias: pd.DataFrame, *,
                 path: str = "", format: str = "") -> None:
        self.title = title
        self.path = path
        self.format = format
        self.risk_of_bias = risk_of_bias
        self._outcomes = {o.id: o for o in outcomes}

    def __repr__(self) -> str:
        return (f"RevManReview({self.title!r}, {len(self._outcomes)} outcomes, "
                f"format={self.format!r})")

    @property
    def outcomes(self) -> pd.DataFrame:
        """One row per outcome: ``id, comparison, name, data_type, method, measure, model,
        k`` (data rows) and ``subgroups`` (list of subgroup names)."""
        rows = [{"id": o.id, "comparison": o.comparison, "name": o.name,
                 "data_type": o.data_type, "method": o.method, "measure": o.measure,
                 "model": o.model, "k": len(o.studies), "subgroups": list(o.subgroups)}
                for o in self._outcomes.values()]
        return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)

    def outcome(self, id: str) -> Outcome:
        """The parsed record of outcome ``id`` (settings, studies, stored numbers)."""
        key = str(id).strip()
        if key not in self._outcomes:
            known = ", ".join(list(self._outcomes)[:8])
            more = ", ..." if len(self._outcomes) > 8 else ""
            raise DataError(f"{self.path or 'review'}: no outcome {key!r}; the review has "
                            f"{len(self._outcomes)} outcomes ({known}{more})", column="outcome")
        return self._outcomes[key]

    def data(self, id: str) -> pd.DataFrame:
        """The study table of outcome ``id`` with metafor's column names.

        Columns: ``study, year, subgroup`` and ``ai, n1i, ci, n2i`` (dichotomous),
        ``m1i, sd1i, n1i, m2i, sd2i, n2i`` (continuous), ``yi, sei, n1i, n2i`` (generic
        inverse variance) or ``oe, var_oe, n1i, n2i`` (O-E), then one column per
        risk-of-bias domain the file holds. The table carries ``attrs["measure"]``.
        """
        o = self.outcome(id)
        table = o.studies.drop(columns=["study_id"], errors="ignore").copy()
        rob = self.risk_of_bias
        if rob is not None and not rob.empty:
            extra = rob.reindex(table["study"].to_numpy())
            for col in rob.columns:
                if col not in table.columns:
                    table[col] = extra[col].to_numpy()
        table.attrs["measure"] = o.measure
        return table

    def analyse(self, id: str) -> RevManResult:
        """Outcome ``id`` analysed with RevMan's settings (see :mod:`bayesma.revman.statistics`)."""
        return analyse_outcome(self.outcome(id))

    def reported(self, id: str) -> dict[str, float]:
        """The numbers RevMan stored for outcome ``id`` (the fields of
        :meth:`RevManResult.to_dict`; NaN where the format stores none)."""
        rep = self.outcome(id).reported
        return {f: float(rep.get(f, float("nan"))) for f in (*REPORTED_FIELDS,
                                                              *SUBGROUP_TEST_FIELDS)}

    def reported_subgroups(self, id: str) -> pd.DataFrame:
        """The stored numbers of each subgroup of outcome ``id`` (empty without subgroups)."""
        rep = self.outcome(id).reported_subgroups
        return rep.copy() if rep is not None else pd.DataFrame(columns=["subgroup"])

    def check(self, id: str | None = None) -> pd.DataFrame:
        """Compare :meth:`analyse` with :meth:`reported` for one outcome or all.

        Returns one row per stored number (overall and per subgroup): ``id, subgroup,
        field, analysed, reported, abs_diff, rel_diff, tolerance, ok``. The tolerance is
        the format's stored precision: 1e-6 relative for ``.rm5`` (2e-5 for chi² p-values,
        whose tail areas RevMan computes less exactly), and half a unit of the last
        decimal for the CSV export (8 decimals) and data packages (6 decimals), compared
        on the scale stored (ratios for OR, RR).
        """
        ids = list(self._outcomes) if id is None else [id]
        rows = []
        for oid in ids:
            o = self.outcome(oid)
            rows += compare(o, analyse_outcome(o))
        return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def _kind(path: Path, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") or path.suffix.lower() == ".zip":
        return "data package"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if path.suffix.lower() == ".rm5" or stripped.startswith((b"<?xml", b"<COCHRANE_REVIEW")):
        return "rm5"
    return "csv"


def read_revman(path: str | os.PathLike) -> RevManReview:
    """Read a RevMan review: a RevMan 5 file (``.rm5``), RevMan's analysis CSV export or
    a RevMan Web / Cochrane data package (``.zip``).

    Parameters
    ----------
    path : str or path-like
        The file. The format is recognised from its content (zip, XML) or extension.

    Returns
    -------
    RevManReview
        ``outcomes``, ``data(id)``, ``analyse(id)``, ``reported(id)``, ``check()``.

    Raises
    ------
    DataError
        A missing, unreadable or malformed file (naming the element or line), or an
        archive that is too large.

    Examples
    --------
    >>> rv = read_revman("review.rm5")  # doctest: +SKIP
    >>> rv.check()["ok"].all()  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"read_revman: no file {str(p)!r}")
    if p.stat().st_size > 4 * MAX_MEMBER_BYTES:
        raise DataError(f"read_revman: {p.name} is {p.stat().st_size} bytes; too large for a "
                        f"RevMan review")
    data = p.read_bytes()
    kind = _kind(p, data[:64])
    if kind == "data package":
        title, outcomes, rob = read_data_package(data, source=p.name)
    elif kind == "rm5":
        title, outcomes, rob = read_rm5(data, source=p.name)
    else:
        title, outcomes = read_revman_csv(data, source=p.name)
        rob = pd.DataFrame()
    return RevManReview(title, outcomes, rob, path=str(p), format=kind)
