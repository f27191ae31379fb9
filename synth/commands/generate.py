"""`synth generate MODEL`: a one-off batch from a saved model."""

from __future__ import annotations

import argparse
import os
import sys
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
    generate.add_argument("--force", action="store_true",
                          help="replace an existing --out file (or a folder an earlier synth generate wrote)")
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

            raise SynthError(f"{flag} {text!r}: column {column!r} is already fixed to {conditions[column]!r}; "
                             "give each column once")
        conditions[column] = value
    return conditions


def check_out(out: Path, force: bool, *, folder: bool = False) -> None:
    """Refuse an --out that cannot or must not be written, before any model is loaded.

    A file target must not be a directory, and must not exist unless
    `--force`; a folder target (image models) must not be a file. Its folder
    must exist and be writable (the output is staged next to it).
    """
    from synth.errors import SynthError

    parent = out.parent
    if not parent.is_dir():
        raise SynthError(f"--out {out}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SynthError(f"--out {out}: folder {parent} is not writable; choose another place")
    if folder:
        if out.exists() and not out.is_dir():
            raise SynthError(f"--out {out}: exists and is not a folder; choose a new folder name")
        return
    if out.is_dir():
        raise SynthError(f"--out {out}: is a directory; give a file name inside it, e.g. {out / 'rows.parquet'}")
    if os.path.lexists(out) and not force:
        raise SynthError(f"--out {out}: already exists; pass --force to replace it, or choose another name")


def write_error(out: Path, err: OSError):
    """An OS error while writing --out (disk full, permissions) as one line; the temporary file is already gone."""
    from synth.errors import SynthError

    reason = err.strerror or " ".join(str(err).split())[:200]  # pyarrow's errors carry only a message
    return SynthError(f"--out {out}: could not be written ({reason}); nothing was written")


def execute(args: argparse.Namespace) -> int:
    from synth.errors import SynthError

    if args.rows < 1:
        raise SynthError(f"--rows must be a positive number, got {args.rows}")
    from synth.images import IMAGE_KINDS
    from synth.models.io import read_config

    # the folder is untrusted: its config is checked against its kind's schema before anything else
    if read_config(args.model)["kind"] in IMAGE_KINDS:  # images: --out FOLDER or .npz, --condition label=3
        return _generate_images(args)
    suffix = args.out.suffix.lower()
    if suffix not in {".parquet", ".csv"}:
        raise SynthError(f"--out {args.out}: use a .parquet or .csv file name")
    check_out(args.out, args.force)
    conditions = parse_conditions(args.condition)

    from synth.models import load_generator
    from synth.sampling import sample_to_csv, sample_to_parquet
    from synth.settings import get_settings, resolve_device

    model = load_generator(args.model, device=resolve_device(get_settings().device))
    # both stream in chunks from one seeded stream (memory bounded for any --rows) into a temporary file of
    # their own, renamed into place when complete: a failure or a concurrent writer never leaves a broken file
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    try:
        if suffix == ".parquet":  # a progress bar only for a person watching
            sample_to_parquet(model, args.out, args.rows, seed=seed, conditions=conditions or None,
                              overwrite=args.force, progress=sys.stderr.isatty())
        else:
            sample_to_csv(model, args.out, args.rows, seed=seed, conditions=conditions or None, overwrite=args.force)
    except OSError as err:
        raise write_error(args.out, err) from None
    print(f"wrote {args.rows} rows to {args.out}")
    return EXIT_OK


def _generate_images(args: argparse.Namespace) -> int:
    """Sample `args.rows` images (all of one class with `--condition label=C`) and write them atomically.

    `--out x.npz`: arrays images, labels, class_names. `--out FOLDER` (a new
    or empty folder): `images.npz`, a PNG folder per class and `labels.csv`,
    as in a published version. Nothing is left behind if writing fails. An
    existing target is replaced only with `--force`, and a folder only if it
    holds nothing but what this command writes.
    """
    import shutil

    from synth.errors import SynthError
    from synth.images.layout import holds_only_layout, write_npz, write_published

    out: Path = args.out
    as_npz = out.suffix.lower() == ".npz"
    if not as_npz and out.suffix:
        raise SynthError(f"--out {out}: image models write a folder (no suffix) or a .npz file")
    check_out(out, args.force, folder=not as_npz)
    if not as_npz and out.is_dir() and any(out.iterdir()) and not (args.force and holds_only_layout(out)):
        raise SynthError(f"--out {out}: already exists and is not an empty folder; choose a new folder name"
                         + ("" if args.force else " (or pass --force to replace a folder synth generate wrote)"))
    conditions = parse_conditions(args.condition, flag="--condition")
    if set(conditions) - {"label"}:
        raise SynthError(f"--condition: image models condition on 'label' only (e.g. --condition label=3), "
                         f"got {sorted(conditions)}")

    from synth.models import load_generator
    from synth.sampling import (
        publish_file,
        publish_folder,
        staging_folder,
        temporary_file,
    )
    from synth.settings import get_settings, resolve_device

    model = load_generator(args.model, device=resolve_device(get_settings().device))
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    images = model.sample(args.rows, conditions=conditions or None, seed=seed)
    # written next to the target under a hidden name of its own, then renamed into place: a failed write or a
    # concurrent writer leaves nothing half-written at --out
    try:
        if as_npz:
            tmp = temporary_file(out)
            try:
                with open(tmp, "wb") as handle:  # a file object: np.savez would add ".npz" to a name
                    write_npz(images, handle)
                publish_file(tmp, out, overwrite=args.force)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            staging = staging_folder(out)
            try:
                write_published(images, staging)
                publish_folder(staging, out, replace_if=lambda folder: args.force and holds_only_layout(folder))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as err:
        raise write_error(out, err) from None
    counts = {images.class_names[c]: int(k) for c, k in enumerate(images.class_counts()) if k}
    print(f"wrote {len(images)} images to {out} (per class: {counts})")
    return EXIT_OK
