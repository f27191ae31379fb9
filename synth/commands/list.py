"""`synth list`: every published dataset and version, with its key scores, and recent failed runs."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from synth.commands import EXIT_OK

COLUMNS = ("dataset", "version", "when", "generator", "rows", "quality", "detection", "dcr", "epsilon", "gate")


def register(commands) -> None:
    parser = commands.add_parser(
        "list", help="list published datasets: versions, when, generator, rows, scores, ε, gate",
        description="List every published version in the catalog (LATEST marked with *), newest first, with its "
        "generator, rows, quality score, detection AUC, DCR share, privacy budget ε (- when not trained with "
        "differential privacy) and gate result. Runs whose gate failed since the newest version are listed too, "
        "with version '-': they published nothing. A version whose card.json cannot be read is listed with gate "
        "'unreadable' and one warning line on stderr naming the file; the others are listed as usual and the exit "
        "code stays 0.",
    )
    parser.add_argument("--root", type=Path, help="catalog root (default: SYNTH_CATALOG_ROOT or data/published)")
    parser.add_argument("--all-failed", action="store_true",
                        help="list every recorded failed run, not only recent ones")


def execute(args: argparse.Namespace) -> int:
    from synth import catalog

    rows = catalog.summary(args.root, all_failed=args.all_failed)
    for row in rows:  # one damaged version is reported, and never hides the others
        if row.get("error"):
            print(f"synth list: warning: {row['dataset']} {row['version'].rstrip('*')} is unreadable: "
                  f"{_fmt(row['error'])}", file=sys.stderr)
    if not rows:
        print(f"no published datasets under {catalog.root_folder(args.root)}")
        return EXIT_OK
    cells = [[_fmt(row[c]) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return EXIT_OK


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _CONTROL.sub("\ufffd", str(value))  # a card edited by hand must not break the table or drive the terminal


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
