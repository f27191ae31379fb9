"""Labelled images: one in-memory type, loaders, the published layout and a torch Dataset.

`ImageSet` is what every image generator fits on and samples: uint8 pixels
shaped (N, H, W, C) with C = 1 (grayscale) or 3 (RGB), an integer label per
image and the class names. The modules around it:

- `synth.images.sources`: read a spec's source (a folder of PNG/JPEG files
  with one subfolder per class, a NumPy `.npz`, MNIST-style IDX files, or
  scikit-learn's bundled 8×8 digits), convert colour and resize explicitly;
  bad files are reported by name.
- `synth.images.layout`: write and read a published image version
  (`images.npz`, a PNG folder per class, `labels.csv`).
- `synth.images.dataset`: `ImageDataset`, a tiny torch `Dataset` over an
  `ImageSet` or a published version.

NumPy only at import time; torch is imported where tensors are made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synth.errors import DataError, GeneratorInputError

if TYPE_CHECKING:
    import torch

#: Generator kinds that fit and sample images (the others fit tables).
IMAGE_KINDS = ("ddpm", "dcgan", "conv_vae")
#: The one condition key image generators take: `--condition label=3` or `label=sneaker`.
LABEL = "label"


@dataclass
class ImageSet:
    """Labelled images: `images` uint8 (N, H, W, C), `labels` int64 (N,) in [0, len(class_names))."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    def __post_init__(self) -> None:
        if self.images.ndim == 3:  # (N, H, W) grayscale
            self.images = self.images[..., None]
        problems = []
        if self.images.dtype != np.uint8:
            problems.append(f"images must be uint8, got {self.images.dtype}")
        if self.images.ndim != 4 or self.images.shape[-1] not in (1, 3):
            problems.append(f"images must be (N, H, W) or (N, H, W, C) with C 1 or 3, got shape {self.images.shape}")
        self.labels = np.asarray(self.labels).astype(np.int64, copy=False)
        if self.labels.shape != (len(self.images),):
            problems.append(f"{len(self.images)} images but labels of shape {self.labels.shape}")
        elif len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            problems.append(f"labels must lie in [0, {len(self.class_names)}) for {len(self.class_names)} classes, "
                            f"got [{self.labels.min()}, {self.labels.max()}]")
        if problems:
            raise DataError("; ".join(problems))
        self.class_names = [str(c) for c in self.class_names]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of every image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> np.ndarray:
        """Images per class, shape (num_classes,)."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def subset(self, index: np.ndarray) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], list(self.class_names))

    def to_tensor(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """float32 (N, C, H, W) scaled to [-1, 1], the range every generator models."""
        import torch

        x = torch.from_numpy(self.images).to(device).permute(0, 3, 1, 2).float()
        return x / 127.5 - 1.0

    def label_index(self, value: Any) -> int:
        return label_index(value, self.class_names)

    def dataset(self, transform=None):
        """A torch `Dataset` of (image tensor (C, H, W) in [0, 1], label)."""
        from synth.images.dataset import ImageDataset

        return ImageDataset(self, transform=transform)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Generator output (N, C, H, W) in [-1, 1] → uint8 (N, H, W, C)."""
    import torch

    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def label_index(value: Any, class_names: list[str]) -> int:
    """A class given by index (3, "3") or by name ("sneaker") → its index; a clear error otherwise."""
    names = [str(c) for c in class_names]
    text = str(value).strip()
    if text in names:  # a name first: digits are named "0".."9", which are also their indexes
        return names.index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
        return int(text)
    raise GeneratorInputError(
        f"condition {LABEL}={value!r}: not a class of this model; "
        f"use an index 0-{len(names) - 1} or a name from {names}"
    )


def plan_labels(
    n: int, conditions: dict[str, Any] | None, class_names: list[str], class_counts: list[int] | np.ndarray, seed: int
) -> np.ndarray:
    """The label of each of `n` images to generate, shuffled with `seed`.

    With `conditions={"label": c}` every image is class c. Without, the
    classes follow the training class frequencies exactly (largest-remainder
    rounding), so an unconditional sample is as balanced as the real set.
    """
    if n < 1:
        raise GeneratorInputError(f"n must be a positive number of images, got {n}")
    if conditions:
        unknown = [k for k in conditions if k != LABEL]
        if unknown:
            raise GeneratorInputError(f"image generators condition only on {LABEL!r} (e.g. {LABEL}=3), "
                                      f"not on {unknown}")
        return np.full(n, label_index(conditions[LABEL], class_names), dtype=np.int64)
    counts = proportional_counts(n, np.asarray(class_counts, dtype=float))
    labels = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(labels)


def proportional_counts(n: int, weights: np.ndarray) -> np.ndarray:
    """Split `n` into integer counts proportional to `weights` (largest remainder)."""
    share = n * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(-(share - counts), kind="stable")[: n - counts.sum()]] += 1
    return counts


def is_image_model(folder: str | Path) -> bool:
    """Whether a saved model folder holds an image generator (read from its config.json)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return False
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):  # unreadable or not JSON: synth.models.io.read_config says which
        return False
    return isinstance(config, dict) and config.get("kind") in IMAGE_KINDS


__all__ = ["IMAGE_KINDS", "LABEL", "ImageSet", "is_image_model", "label_index", "plan_labels", "proportional_counts",
           "to_uint8"]
