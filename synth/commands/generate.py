"""`synth generate MODEL`: a one-off batch from a saved model."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from synth.commands import EXIT_OK


def register(commands) -> None:
    generate = commands.add_parser(
        "generate",
        help="sample a one-off batch from a saved model, without retraining",
        description="Sample rows from a saved model folder (e.g. data/published/adult/v1/model).",
    )
    generate.add_argument("model", type=Path, help="model folder holding config.json and weights")
    generate.add_argument("--rows", type=int, required=True, help="number of rows to generate")
    generate.add_argument("--out", type=Path, required=True,
                          help="output file: .parquet or .csv (image models: a new folder, or a .npz file)")
    generate.add_argument("--seed", type=int, default=None, help="seed for a reproducible batch")
    generate.add_argument(
        "--condition", action="append", default=[], metavar="COLUMN=VALUE",
        help='fix a categorical column exactly, e.g. --condition income=">50K"; repeat for several columns',
    )


def parse_conditions(texts: list[str], flag: str = "--condition") -> dict[str, str]:
    conditions = {}
    for text in texts:
        column, sep, value = text.partition("=")
        if not sep or not column:
            from synth.errors import SynthError

            raise SynthError(f"{flag} {text!r}: expected COLUMN=VALUE, e.g. {flag} income='>50K'")
        if column in conditions:
            from synth.errors import SynthError

            raise SynthError(f"{flag} {text!r}: column {column!r} is already fixed to {conditions[column]!r}; give each column once")
        conditions[column] = value
    return conditions


def execute(args: argparse.Namespace) -> int:
    from synth.errors import SynthError

    if args.rows < 1:
        raise SynthError(f"--rows must be a positive number, got {args.rows}")
    from synth.images import is_image_model

    if is_image_model(args.model):  # images: --out FOLDER or .npz, --condition label=3
        from synth.images.generate import generate_images

        return generate_images(args)
    suffix = args.out.suffix.lower()
    if suffix not in {".parquet", ".csv"}:
        raise SynthError(f"--out {args.out}: use a .parquet or .csv file name")
    if not args.out.parent.exists():
        raise SynthError(f"--out {args.out}: folder {args.out.parent} does not exist")
    conditions = parse_conditions(args.condition)

    from synth.models import load_generator
    from synth.settings import get_settings, resolve_device

    model = load_generator(args.model, device=resolve_device(get_settings().device))
    if suffix == ".parquet":  # streamed in chunks: memory stays bounded for any --rows
        from synth.sampling import sample_to_parquet

        seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
        sample_to_parquet(model, args.out, args.rows, seed=seed, conditions=conditions or None)
        print(f"wrote {args.rows} rows to {args.out}")
        return EXIT_OK
    table = model.sample(args.rows, conditions=conditions or None, seed=args.seed)
    # write next to the target and rename, so a failed write leaves nothing behind
    tmp = args.out.with_name(f".{args.out.name}.partial")
    try:
        table.to_csv(tmp, index=False)
        tmp.replace(args.out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {len(table)} rows to {args.out}")
    return EXIT_OK
