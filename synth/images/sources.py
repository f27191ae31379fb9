"""Reading labelled images: PNG/JPEG class folders, NumPy `.npz`, IDX files, scikit-learn's digits.

Every reader returns an `ImageSet` (uint8, N×H×W×C). Colour conversion and
resizing are explicit (`color`, `image_size`, `resize` in the spec), never
guessed silently: images of different sizes without an `image_size` are an
error that lists the sizes found. A file that cannot be read is reported by
name; with `on_bad_file: skip` it is left out and listed in the card instead.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from synth.errors import DataError
from synth.images import ImageSet
from synth.spec import ImageSourceSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_SHOWN = 10  # bad files quoted in one error message


@dataclass
class LoadedImages:
    """What `load_source` read: the images to split and train on, an optional test set, and provenance."""

    images: ImageSet
    test: ImageSet | None
    info: dict = field(default_factory=dict)


def load_source(source: ImageSourceSpec, seed: int = 0) -> LoadedImages:
    """Read the spec's images (and test set), convert colour, resize; every problem raises `DataError`."""
    images, skipped = _read(source, source.path, source.labels_path, role="source")
    test = None
    if source.test_path is not None:
        test, skipped_test = _read(source, source.test_path, source.test_labels_path, role="test")
        skipped += skipped_test
        if test.shape != images.shape:
            raise DataError(f"{source.test_path}: test images are {test.shape[:2]} with {test.shape[2]} channel(s), "
                            f"the training images {images.shape[:2]} with {images.shape[2]}; they must match")
        if test.num_classes != images.num_classes:
            raise DataError(f"{source.test_path}: {test.num_classes} classes, "
                            f"the training images have {images.num_classes}")
        if source.format == "image_folder" and test.class_names != images.class_names:
            raise DataError(f"{source.test_path}: class folders {test.class_names} differ from the training folders "
                            f"{images.class_names}; both need the same class subfolders")
        test.class_names = images.class_names
    if source.class_names is not None:
        if len(source.class_names) != images.num_classes:
            raise DataError(f"source.class_names lists {len(source.class_names)} names but the images have "
                            f"{images.num_classes} classes ({images.class_names}); list one name per class")
        images.class_names = list(source.class_names)
        if test is not None:
            test.class_names = list(source.class_names)
    if source.max_images is not None and len(images) > source.max_images:
        images = images.subset(stratified_subset(images.labels, source.max_images, seed))
    empty = [images.class_names[c] for c, n in enumerate(images.class_counts()) if n < 2]
    if empty:
        raise DataError(f"{source.path or 'sklearn digits'}: classes {empty} have fewer than 2 images; "
                        "every class needs some to train on and some to hold out")
    info = {
        "path": str(source.path) if source.path else "sklearn.datasets.load_digits",
        "format": source.format,
        "sha256": _fingerprint([source.path, source.labels_path, source.test_path, source.test_labels_path]),
        "rows": len(images),
        "columns": ["image", "label"],
        "image_shape": list(images.shape),
        "class_names": images.class_names,
        "class_counts": images.class_counts().tolist(),
        "test_images": len(test) if test is not None else None,
        "skipped_files": skipped,
    }
    return LoadedImages(images, test, info)


def _read(source: ImageSourceSpec, path: Path | None, labels_path: Path | None,
          role: str) -> tuple[ImageSet, list[str]]:
    """One image set as the spec describes; returns it and the files skipped as unreadable."""
    skipped: list[str] = []
    if source.format == "sklearn_digits":
        raw = read_sklearn_digits()
    else:
        assert path is not None
        if not path.exists():
            key = "test_path" if role == "test" else "path"
            raise DataError(f"{path}: not found; fix source.{key} in the spec")
        if source.format == "image_folder":
            raw, skipped = read_image_folder(path, source.color, source.image_size, source.resize, source.on_bad_file)
            return raw, skipped  # converted and resized file by file
        if source.format == "npz":
            raw = read_npz(path)
        else:
            assert labels_path is not None
            raw = read_idx_pair(path, labels_path)
    raw = convert_color(raw, source.color)
    if source.image_size is not None:
        raw = ImageSet(resize(raw.images, source.image_size, source.resize, origin=str(path or "digits")),
                       raw.labels, raw.class_names)
    return raw, skipped


# -- readers ------------------------------------------------------------------------------
def read_sklearn_digits() -> ImageSet:
    """scikit-learn's bundled 8×8 digits (1,797 images, ships with the package: no download), 0..16 → 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    return ImageSet(images, digits.target, [str(d) for d in range(10)])


def read_npz(path: Path) -> ImageSet:
    """Arrays `images` (uint8, or floats in [0, 1]; N×H×W or N×H×W×C) and `labels`; optional `class_names`."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read as a NumPy .npz archive ({err})") from None
    missing = [k for k in ("images", "labels") if k not in arrays]
    if missing:
        raise DataError(f"{path}: no array {missing}; it holds {sorted(arrays)}. Save with "
                        "np.savez(path, images=uint8 N×H×W[×C], labels=int N)")
    images, labels = arrays["images"], arrays["labels"]
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating) or images.size and (images.min() < 0 or images.max() > 1):
            raise DataError(f"{path}: images are {images.dtype} in [{images.min()}, {images.max()}]; "
                            "give uint8 0..255 or floats in [0, 1]")
        images = np.round(images * 255).astype(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer) or labels.ndim != 1:
        raise DataError(f"{path}: labels must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{path}: labels must be class indexes 0..K-1, found {labels.min()}")
    names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    count = int(labels.max()) + 1 if len(labels) else 0
    if names is not None and len(names) < count:
        raise DataError(f"{path}: class_names has {len(names)} names but labels go up to {count - 1}")
    return _image_set(images, labels, names or [str(c) for c in range(count)], path)


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (MNIST's format, optionally gzipped) as an array; unsigned bytes only."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read ({err}); is it an IDX file (gzipped only if it ends in .gz)?") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (the first two bytes of the magic number must be 0)")
    if data[2] != 0x08:
        raise DataError(f"{path}: IDX data type 0x{data[2]:02x} is not supported; only unsigned bytes (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} = {int(np.prod(dims))} bytes of data, "
                        f"the file has {len(data) - header}; the file is truncated or not IDX")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images_path: Path, labels_path: Path) -> ImageSet:
    """An images IDX file (N×H×W or N×H×W×C) and its labels IDX file (N)."""
    if not labels_path.is_file():
        raise DataError(f"{labels_path}: labels file not found; fix source.labels_path / test_labels_path")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim not in (3, 4):
        raise DataError(f"{images_path}: an images IDX file has 3 dimensions (N×H×W), this one {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: a labels IDX file has 1 dimension, this one {labels.shape}; "
                        "are images and labels swapped?")
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    return _image_set(images, labels, [str(c) for c in range(int(labels.max()) + 1)], images_path)


def read_image_folder(
    folder: Path,
    color: Literal["grayscale", "rgb"] | None,
    image_size: int | None,
    method: str,
    on_bad_file: Literal["error", "skip"],
) -> tuple[ImageSet, list[str]]:
    """One subfolder of PNG/JPEG files per class (sorted by name; the name is the class).

    Files with other suffixes and hidden files are ignored. Every unreadable
    file is collected; with `on_bad_file="error"` they are reported together,
    by name, before anything else happens.
    """
    from PIL import Image, UnidentifiedImageError

    if not folder.is_dir():
        raise DataError(f"{folder}: format image_folder needs a folder with one subfolder per class")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder}: no class subfolders; put each class's images in a subfolder named after it "
                        f"({folder}/cat/001.png, {folder}/dog/002.png, ...)")
    files, labels, empty = [], [], []
    for label, sub in enumerate(classes):
        found = sorted(p for p in sub.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not found:
            empty.append(sub.name)
        files += found
        labels += [label] * len(found)
    if empty:
        raise DataError(f"{folder}: class folders {empty} hold no .png/.jpg/.jpeg files")

    pictures, kept, bad = [], [], []
    for path, label in zip(files, labels, strict=True):
        try:
            with Image.open(path) as picture:
                picture.load()
                pictures.append(picture.copy())
            kept.append(label)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:  # PIL's errors for broken files
            reason = str(err).splitlines()[0][:80] if str(err) else "unreadable"
            bad.append(f"{path} ({type(err).__name__}: {reason})")
    if bad and on_bad_file == "error":
        more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        raise DataError(f"{folder}: {len(bad)} image file(s) cannot be read: {'; '.join(bad[:_SHOWN])}{more}. "
                        "Remove or replace them, or set source.on_bad_file: skip to leave them out")
    if not pictures:
        raise DataError(f"{folder}: no readable images")

    if color is None:
        color = "grayscale" if all(p.mode in _GRAY_MODES for p in pictures) else "rgb"
    mode = "L" if color == "grayscale" else "RGB"
    sizes = {p.size for p in pictures}
    if image_size is None and len(sizes) > 1:
        shown = sorted(sizes)[:5]
        raise DataError(f"{folder}: images have {len(sizes)} different sizes (width×height e.g. {shown}); "
                        "set source.image_size to resize them all to one size")
    arrays = []
    for picture in pictures:
        picture = picture.convert(mode)
        if image_size is not None and picture.size != (image_size, image_size):
            picture = _resize_one(picture, image_size, method, origin=str(folder))
        arrays.append(np.asarray(picture, dtype=np.uint8))
    return ImageSet(np.stack(arrays), np.asarray(kept), [p.name for p in classes]), bad


# -- conversion -------------------------------------------------------------------------------
def convert_color(images: ImageSet, color: Literal["grayscale", "rgb"] | None) -> ImageSet:
    """Grayscale ↔ RGB when the spec asks (ITU-R 601 luma for RGB → grayscale); unchanged otherwise."""
    channels = images.shape[2]
    if color is None or (color == "grayscale") == (channels == 1):
        return images
    if color == "rgb":
        return ImageSet(np.repeat(images.images, 3, axis=-1), images.labels, images.class_names)
    luma = images.images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return ImageSet(np.round(luma).astype(np.uint8), images.labels, images.class_names)


def resize(images: np.ndarray, size: int, method: str, origin: str = "images") -> np.ndarray:
    """uint8 (N, H, W, C) → (N, size, size, C) by PIL interpolation, or centred zero padding for "pad"."""
    from PIL import Image

    n, height, width, channels = images.shape
    if (height, width) == (size, size):
        return images
    if method == "pad":
        if height > size or width > size:
            raise DataError(f"{origin}: resize pad cannot shrink {height}×{width} images to {size}×{size}; "
                            "use a larger image_size or resize: bilinear")
        out = np.zeros((n, size, size, channels), dtype=np.uint8)
        top, left = (size - height) // 2, (size - width) // 2
        out[:, top : top + height, left : left + width] = images
        return out
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((n, size, size, channels), dtype=np.uint8)
    for i in range(n):
        picture = Image.fromarray(images[i, ..., 0] if channels == 1 else images[i], mode=mode)
        out[i] = np.asarray(_resize_one(picture, size, method, origin), dtype=np.uint8).reshape(size, size, channels)
    return out


def _resize_one(picture, size: int, method: str, origin: str):
    from PIL import Image

    if method == "pad":
        if picture.width > size or picture.height > size:
            raise DataError(f"{origin}: resize pad cannot shrink {picture.width}×{picture.height} images "
                            f"to {size}×{size}")
        canvas = Image.new(picture.mode, (size, size))
        canvas.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
        return canvas
    filters = {"bilinear": Image.Resampling.BILINEAR, "lanczos": Image.Resampling.LANCZOS,
               "nearest": Image.Resampling.NEAREST}
    return picture.resize((size, size), filters[method])


# -- splitting -----------------------------------------------------------------------------------
def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indexes of a seeded subset of `n` items with the classes in their original proportions."""
    from synth.images import proportional_counts

    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    counts = proportional_counts(n, np.array([(labels == c).sum() for c in classes], dtype=float))
    picked = [rng.choice(np.flatnonzero(labels == c), k, replace=False) for c, k in zip(classes, counts, strict=True)]
    return np.sort(np.concatenate(picked))


def split_holdout(images: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Stratified (train, holdout): every class keeps `fraction` of its images (at least one) for the holdout."""
    rng = np.random.default_rng(seed)
    holdout = []
    for c in range(images.num_classes):
        members = np.flatnonzero(images.labels == c)
        k = min(max(int(round(len(members) * fraction)), 1), len(members) - 1)
        holdout.append(rng.choice(members, k, replace=False))
    mask = np.zeros(len(images), dtype=bool)
    mask[np.concatenate(holdout)] = True
    return images.subset(np.flatnonzero(~mask)), images.subset(np.flatnonzero(mask))


def _image_set(images: np.ndarray, labels: np.ndarray, names: list[str], origin: Path) -> ImageSet:
    try:
        return ImageSet(images, labels, names)
    except DataError as err:
        raise DataError(f"{origin}: {err}") from None


def _fingerprint(paths: list[Path | None]) -> str:
    """sha256 over the source files (a folder: every file's relative path and bytes, in sorted order)."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]
        for file in files:
            digest.update(str(file.relative_to(path) if Path(path).is_dir() else file.name).encode())
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    if not any(paths):
        import sklearn

        digest.update(f"sklearn {sklearn.__version__} load_digits".encode())
    return digest.hexdigest()


def check_image_spec(spec) -> LoadedImages:
    """Load an image spec's source and check what the spec names against it (conditions' classes), before any
    compute."""
    from synth.errors import GeneratorInputError, SpecError
    from synth.images import LABEL, label_index

    loaded = load_source(spec.source, spec.seed)
    for i, condition in enumerate(spec.conditions):
        try:
            label_index(condition.values[LABEL], loaded.images.class_names)
        except GeneratorInputError as err:
            raise SpecError(f"conditions[{i}].values.{LABEL}: {err}") from None
    return loaded
