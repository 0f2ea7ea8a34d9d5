"""Compare regenerated reference JSON with the shipped files, leaf by leaf.

    python tests/reference/compare_reference.py NEWDIR [--shipped tests/reference/metafor]
        [--rtol 1e-6] [--atol 1e-10]

Every number must agree to ``rtol`` relative (or ``atol`` absolute near zero); ``null``
must stay ``null``; strings, booleans, keys and array lengths must match. Text fields that
only document (``source.title``, ``source.citation``, ``versions.*``) are listed, not failed.
Exits 1 on any difference. Used for ``make_metafor_reference.R`` (metafor) and
``make_bayes_reference.py`` (exact posteriors).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: paths (prefixes) and keys whose values only document how a file was made
DOC_ONLY = ("source.title", "source.citation", "versions.")
DOC_KEYS = {"quadrature", "software"}


def _doc_only(line: str) -> bool:
    path = line.split(":", 1)[0]
    return path.startswith(DOC_ONLY) or bool(DOC_KEYS & set(path.split(".")))


def _is_num(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def compare(a, b, path: str, out: list[str], rtol: float, atol: float, worst: list[float]):
    """Append a line to ``out`` for every difference between shipped ``a`` and new ``b``."""
    if _is_num(a) and _is_num(b):
        if math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
            if a != 0 and not _doc_only(path):
                worst[0] = max(worst[0], abs(a - b) / abs(a))
            return
        out.append(f"{path}: shipped {a!r} new {b!r}")
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else k
            if k not in b:
                out.append(f"{p}: missing in new")
            elif k not in a:
                out.append(f"{p}: extra in new")
            else:
                compare(a[k], b[k], p, out, rtol, atol, worst)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            compare(x, y, f"{path}[{i}]", out, rtol, atol, worst)
        return
    if a != b:
        out.append(f"{path}: shipped {a!r} new {b!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("new", type=Path)
    ap.add_argument("--shipped", type=Path, default=HERE / "metafor")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--atol", type=float, default=1e-10)
    ap.add_argument("-v", "--verbose", action="store_true", help="also list text-only changes")
    args = ap.parse_args(argv)
    failed = False
    for shipped in sorted(args.shipped.glob("*.json")):
        new = args.new / shipped.name
        if not new.exists():
            print(f"{shipped.name}: not regenerated")
            failed = True
            continue
        diffs: list[str] = []
        worst = [0.0]
        compare(json.loads(shipped.read_text()), json.loads(new.read_text()), "", diffs,
                args.rtol, args.atol, worst)
        doc = [d for d in diffs if _doc_only(d)]
        real = [d for d in diffs if not _doc_only(d)]
        status = "OK" if not real else f"{len(real)} differences"
        print(f"{shipped.name}: {status} (largest relative difference {worst[0]:.1e})")
        for d in real:
            print("   ", d)
        for d in doc:
            if args.verbose:
                print("    (documentation only)", d[:200])
        failed |= bool(real)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
