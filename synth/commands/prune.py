"""`synth prune NAME --keep N`: delete old versions, never the LATEST one."""

from __future__ import annotations

import argparse
from pathlib import Path

from synth.commands import EXIT_OK


def register(commands) -> None:
    parser = commands.add_parser(
        "prune", help="delete all but the newest N versions of a dataset (never LATEST)",
        description="Delete old versions of a published dataset, keeping the newest N and always the LATEST one. "
        "Also removes the hidden staging folders (.incoming-*, .pruning-*) that killed runs left in that dataset's "
        "folder, once their process is gone or they are an hour old, and the gate evidence killed runs left in the "
        "root's .staging/ (same rule; other hosts' after a day).",
    )
    parser.add_argument("dataset", metavar="NAME")
    parser.add_argument("--keep", type=int, required=True, help="how many of the newest versions to keep (at least 1)")
    parser.add_argument("--root", type=Path, help="catalog root (default: SYNTH_CATALOG_ROOT or data/published)")


def execute(args: argparse.Namespace) -> int:
    from flows.staging import remove_stale
    from synth import catalog

    removed = catalog.prune(args.dataset, args.keep, args.root)
    remove_stale(catalog.root_folder(args.root))  # killed runs' real-data evidence: never left for long
    print(f"removed {', '.join(removed)} of {args.dataset}" if removed
          else f"nothing to prune: {args.dataset} has at most {args.keep} versions")
    return EXIT_OK
