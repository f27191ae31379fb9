"""`synth show NAME[@VERSION]`: a published version's card."""

from __future__ import annotations

import argparse
import re
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
    from synth.errors import CatalogError

    name, at, version = args.dataset.partition("@")
    catalog.check_name(name)
    if at:  # "adult@" or "adult@2": say what a version looks like rather than fall back to LATEST
        catalog.check_version(version)
    folder = catalog.version_folder(name, version or None, args.root)
    card_md = folder / "card.md"
    try:  # never through a link, never from a device, never more than a card's size
        text = catalog.read_regular(card_md, catalog.MAX_CARD_BYTES,
                                    f"restore it, or delete the version folder {folder}").decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise CatalogError(f"{folder} has no card.md: not a complete published version") from None
    except UnicodeDecodeError:
        raise CatalogError(f"cannot read {card_md} (not UTF-8 text); restore it, "
                           f"or delete the version folder {folder}") from None
    print(_CONTROL.sub("\ufffd", text))  # a card edited by hand must not drive the terminal
    print(f"(folder: {folder})")
    return EXIT_OK


#: C0 and C1 control characters (and DEL) but newline and tab: what `synth show` never prints raw.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
