"""`synth generate` for image models: a batch of images into a folder (the published layout) or one `.npz`."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np

from synth.errors import SynthError


def generate_images(args: argparse.Namespace) -> int:
    """Sample `args.rows` images (all of one class with `--condition label=C`) and write them atomically.

    `--out x.npz`: arrays images, labels, class_names. `--out FOLDER` (a new
    or empty folder): `images.npz`, a PNG folder per class and `labels.csv`,
    as in a published version. Nothing is left behind if writing fails. An
    existing target is replaced only with `--force`, and a folder only if it
    holds nothing but what this command writes.
    """
    from synth.commands.generate import check_out, parse_conditions, write_error

    out: Path = args.out
    as_npz = out.suffix.lower() == ".npz"
    if not as_npz and out.suffix:
        raise SynthError(f"--out {out}: image models write a folder (no suffix) or a .npz file")
    check_out(out, args.force, folder=not as_npz)
    if not as_npz and out.is_dir() and any(out.iterdir()) and not (args.force and _written_by_generate(out)):
        raise SynthError(f"--out {out}: already exists and is not an empty folder; choose a new folder name"
                         + ("" if args.force else " (or pass --force to replace a folder synth generate wrote)"))
    conditions = parse_conditions(args.condition, flag="--condition")
    if set(conditions) - {"label"}:
        raise SynthError(f"--condition: image models condition on 'label' only (e.g. --condition label=3), "
                         f"got {sorted(conditions)}")

    from synth.images.layout import write_published
    from synth.models import load_generator
    from synth.sampling import publish_file, publish_folder, staging_folder, temporary_file
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
                pixels = images.images[..., 0] if images.shape[2] == 1 else images.images
                with open(tmp, "wb") as handle:  # a file object: np.savez would add ".npz" to a name
                    np.savez_compressed(handle, images=pixels, labels=images.labels,
                                        class_names=np.array(images.class_names, dtype=str))
                publish_file(tmp, out, overwrite=args.force)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            staging = staging_folder(out)
            try:
                write_published(images, staging)
                publish_folder(staging, out, replace_if=lambda folder: args.force and _written_by_generate(folder))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as err:
        raise write_error(out, err) from None
    counts = {images.class_names[c]: int(k) for c, k in enumerate(images.class_counts()) if k}
    print(f"wrote {len(images)} images to {out} (per class: {counts})")
    return 0


def _written_by_generate(folder: Path) -> bool:
    """Whether `folder` holds only what `synth generate` writes (so --force may replace it, and nothing else)."""
    from synth.images.layout import LABELS_NAME, NPZ_NAME, PNG_FOLDER

    return {p.name for p in folder.iterdir()} <= {NPZ_NAME, PNG_FOLDER, LABELS_NAME}
