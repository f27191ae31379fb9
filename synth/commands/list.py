"""`synth list`: every published dataset and version, with its key scores."""

from __future__ import annotations

import argparse
from pathlib import Path

from synth.commands import EXIT_OK

COLUMNS = ("dataset", "version", "published", "generator", "rows", "quality", "detection", "dcr", "epsilon", "gate")


def register(commands) -> None:
    parser = commands.add_parser(
        "list", help="list published datasets: versions, when, generator, rows, scores, ε, gate",
        description="List every published version in the catalog (LATEST marked with *).",
    )
    parser.add_argument("--root", type=Path, help="catalog root (default: SYNTH_CATALOG_ROOT or data/published)")


def execute(args: argparse.Namespace) -> int:
    from synth import catalog

    rows = catalog.summary(args.root)
    if not rows:
        print(f"no published datasets under {catalog.root_folder(args.root)}")
        return EXIT_OK
    cells = [[_fmt(row[c]) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    return EXIT_OK


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
