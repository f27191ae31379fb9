"""`synth generate` for image models: a batch of images into a folder (the published layout) or one `.npz`."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from synth.errors import SynthError


def generate_images(args: argparse.Namespace) -> int:
    """Sample `args.rows` images (all of one class with `--condition label=C`) and write them atomically.

    `--out x.npz`: arrays images, labels, class_names. `--out FOLDER` (a new
    or empty folder): `images.npz`, a PNG folder per class and `labels.csv`,
    as in a published version. Nothing is left behind if writing fails.
    """
    from synth.commands.generate import parse_conditions

    out: Path = args.out
    as_npz = out.suffix.lower() == ".npz"
    if not as_npz and out.suffix:
        raise SynthError(f"--out {out}: image models write a folder (no suffix) or a .npz file")
    if not out.parent.exists():
        raise SynthError(f"--out {out}: folder {out.parent} does not exist")
    if not as_npz and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SynthError(f"--out {out}: already exists and is not an empty folder; choose a new folder name")
    conditions = parse_conditions(args.condition, flag="--condition")
    if set(conditions) - {"label"}:
        raise SynthError(f"--condition: image models condition on 'label' only (e.g. --condition label=3), "
                         f"got {sorted(conditions)}")

    from synth.images.layout import write_published
    from synth.models import load_generator
    from synth.settings import get_settings, resolve_device

    model = load_generator(args.model, device=resolve_device(get_settings().device))
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    images = model.sample(args.rows, conditions=conditions or None, seed=seed)
    # write next to the target under a hidden name, then rename: a failed write leaves nothing
    if as_npz:
        handle, tmp = tempfile.mkstemp(prefix=f".{out.name}-", suffix=".npz", dir=out.parent)
        os.close(handle)
        try:
            pixels = images.images[..., 0] if images.shape[2] == 1 else images.images
            np.savez_compressed(tmp, images=pixels, labels=images.labels, class_names=np.array(images.class_names, dtype=str))
            os.replace(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
    else:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        try:
            write_published(images, staging)
            if out.exists():
                out.rmdir()  # checked empty above
            os.rename(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    counts = {images.class_names[c]: int(k) for c, k in enumerate(images.class_counts()) if k}
    print(f"wrote {len(images)} images to {out} (per class: {counts})")
    return 0
