"""A tiny torch `Dataset` over labelled images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset

from synth.images import ImageSet


class ImageDataset(Dataset):
    """(image, label) pairs: the image a float tensor (C, H, W) in [0, 1], the label an int.

    `transform`, if given, is applied to that tensor (e.g. torchvision-style
    normalisation or augmentation). `class_names[label]` names the class.
    """

    def __init__(self, images: ImageSet, transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.images = images
        self.class_names = list(images.class_names)
        self.transform = transform
        self._pixels = torch.from_numpy(images.images).permute(0, 3, 1, 2)  # uint8 (N, C, H, W), a view

    @classmethod
    def from_published(cls, folder: str | Path, transform=None) -> ImageDataset:
        """The images of a published version folder (`images.npz`)."""
        from synth.images.layout import read_published

        return cls(read_published(folder), transform)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self._pixels[index].float() / 255.0
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.images.labels[index])
