"""The published image layout, and reading it back.

A published image version holds, next to `card.json`, `model/` and the rest:

    images.npz        arrays `images` (uint8, N×H×W for grayscale, N×H×W×3 for RGB),
                      `labels` (int64, N) and `class_names` (str, K)
    images/<class>/   one PNG per image, 000000.png, 000001.png, ... (class folder names made file-safe)
    labels.csv        file,label,class_name: one line per PNG, paths relative to the version folder

`images.npz` is what code loads (`read_published`, `catalog.load_images`);
the PNG folders are for people and for tools that read class folders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from synth.errors import DataError
from synth.images import ImageSet

NPZ_NAME = "images.npz"
PNG_FOLDER = "images"
LABELS_NAME = "labels.csv"


def class_folders(class_names: list[str]) -> list[str]:
    """A file-safe, unique folder name per class ("T-shirt/top" → "T-shirt_top")."""
    folders: list[str] = []
    for index, name in enumerate(class_names):
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or f"class_{index}"
        folders.append(safe if safe not in folders else f"{safe}_{index}")
    return folders


def write_npz(images: ImageSet, target: str | Path | BinaryIO) -> None:
    """Write the arrays `images`, `labels` and `class_names` to `target`, a path or an open binary file.

    Grayscale images are stored N×H×W, RGB ones N×H×W×3 (what image tools expect).
    """
    pixels = images.images[..., 0] if images.shape[2] == 1 else images.images
    np.savez_compressed(target, images=pixels, labels=images.labels.astype(np.int64),
                        class_names=np.array(images.class_names, dtype=str))


def holds_only_layout(folder: Path) -> bool:
    """Whether `folder` holds nothing but files of this layout's images (`images.npz`, `images/`, `labels.csv`)."""
    return {p.name for p in folder.iterdir()} <= {NPZ_NAME, PNG_FOLDER, LABELS_NAME}


def write_published(images: ImageSet, folder: str | Path) -> pd.DataFrame:
    """Write `images.npz`, a PNG per image under `images/<class>/` and `labels.csv` into `folder`.

    Returns the index table written to `labels.csv` (file, label, class_name).
    """
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_npz(images, folder / NPZ_NAME)
    pixels = images.images[..., 0] if images.shape[2] == 1 else images.images
    names = class_folders(images.class_names)
    files = []
    for index, (picture, label) in enumerate(zip(pixels, images.labels, strict=True)):
        relative = f"{PNG_FOLDER}/{names[label]}/{index:06d}.png"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(folder / relative)
        files.append(relative)
    index = pd.DataFrame({
        "file": files,
        "label": images.labels.astype(np.int64),
        "class_name": [images.class_names[c] for c in images.labels],
    })
    index.to_csv(folder / LABELS_NAME, index=False)
    return index


def read_published(folder: str | Path) -> ImageSet:
    """The images of a published version folder (or any folder holding an `images.npz` in this layout)."""
    path = Path(folder) / NPZ_NAME
    if not path.is_file():
        raise DataError(f"{folder}: no {NPZ_NAME}; this is not a published image version")
    with np.load(path, allow_pickle=False) as archive:
        return ImageSet(archive["images"], archive["labels"], [str(c) for c in archive["class_names"]])
