"""`synth show NAME[@VERSION]`: a published version's card."""

from __future__ import annotations

import argparse
from pathlib import Path

from synth.commands import EXIT_OK


def register(commands) -> None:
    parser = commands.add_parser(
        "show", help="print the card of a published dataset (LATEST, or NAME@v3)",
        description="Print a published version's card.md: how it was made and how it scored.",
    )
    parser.add_argument("dataset", metavar="NAME[@VERSION]", help="e.g. adult or adult@v2")
    parser.add_argument("--root", type=Path, help="catalog root (default: SYNTH_CATALOG_ROOT or data/published)")


def execute(args: argparse.Namespace) -> int:
    from synth import catalog

    name, _, version = args.dataset.partition("@")
    folder = catalog.version_folder(name, version or None, args.root)
    print((folder / "card.md").read_text())
    print(f"(folder: {folder})")
    return EXIT_OK
