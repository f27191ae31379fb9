"""Reading labelled images (class folders, .npz, IDX, sklearn digits), the published layout, the Dataset, the spec."""

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from synth.errors import DataError, SpecError
from synth.images import ImageSet
from synth.images.dataset import ImageDataset
from synth.images.layout import class_folders, read_published, write_published
from synth.images.sources import load_source, read_idx_pair, read_npz, split_holdout
from synth.spec import ImageSourceSpec, spec_from_dict
from tests.conftest import SHARED_DATA


def _folder(root, sizes=((6, 6),), mode="L", per_class=3):
    """root/{cat,dog}/NN.png, one image per size per class; returns root."""
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            for j, (w, h) in enumerate(sizes):
                shape = (h, w) if mode == "L" else (h, w, 3)
                image = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode=mode)
                image.save(root / name / f"{i}{j}.png")
    return root


def _source(**kwargs) -> ImageSourceSpec:
    return ImageSourceSpec(**kwargs)


def test_class_folders_grayscale_and_rgb(tmp_path):
    gray = load_source(_source(format="image_folder", path=_folder(tmp_path / "g"))).images
    assert gray.images.shape == (6, 6, 6, 1) and gray.class_names == ["cat", "dog"]
    assert gray.class_counts().tolist() == [3, 3]
    rgb = load_source(_source(format="image_folder", path=_folder(tmp_path / "c", mode="RGB"))).images
    assert rgb.shape == (6, 6, 3)
    # explicit conversion either way
    assert load_source(_source(format="image_folder", path=tmp_path / "c", color="grayscale")).images.shape == (6, 6, 1)
    assert load_source(_source(format="image_folder", path=tmp_path / "g", color="rgb")).images.shape == (6, 6, 3)
    # JPEG too
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "g" / "cat" / "x.jpg")
    assert len(load_source(_source(format="image_folder", path=tmp_path / "g")).images) == 7


def test_mixed_sizes_need_an_explicit_image_size(tmp_path):
    folder = _folder(tmp_path / "m", sizes=((6, 6), (10, 8)))
    with pytest.raises(DataError, match=r"2 different sizes .* set source.image_size"):
        load_source(_source(format="image_folder", path=folder))
    resized = load_source(_source(format="image_folder", path=folder, image_size=8)).images
    assert resized.shape == (8, 8, 1) and len(resized) == 12


def test_bad_files_are_reported_by_name_or_skipped(tmp_path):
    folder = _folder(tmp_path / "b")
    (folder / "dog" / "broken.png").write_bytes(b"not a png at all")
    (folder / "cat" / "notes.txt").write_text("ignored: not an image suffix")
    with pytest.raises(DataError, match=r"1 image file\(s\) cannot be read: .*dog/broken.png .*on_bad_file: skip"):
        load_source(_source(format="image_folder", path=folder))
    loaded = load_source(_source(format="image_folder", path=folder, on_bad_file="skip"))
    assert len(loaded.images) == 6
    assert len(loaded.info["skipped_files"]) == 1 and "broken.png" in loaded.info["skipped_files"][0]


def test_a_separate_real_test_set(tmp_path):
    train, test = _folder(tmp_path / "train"), _folder(tmp_path / "test", per_class=2)
    loaded = load_source(_source(format="image_folder", path=train, test_path=test))
    assert len(loaded.images) == 6 and len(loaded.test) == 4 and loaded.info["test_images"] == 4
    (test / "dog").rename(test / "wolf")
    with pytest.raises(DataError, match=r"class folders \['cat', 'wolf'\] differ from the training folders"):
        load_source(_source(format="image_folder", path=train, test_path=test))
    other = _folder(tmp_path / "big", sizes=((7, 7),))
    with pytest.raises(DataError, match=r"test images are \(7, 7\) .* the training images \(6, 6\)"):
        load_source(_source(format="image_folder", path=train, test_path=other))


def test_folder_layout_errors(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DataError, match="no class subfolders"):
        load_source(_source(format="image_folder", path=tmp_path / "flat"))
    folder = _folder(tmp_path / "e")
    (folder / "empty").mkdir()
    with pytest.raises(DataError, match=r"class folders \['empty'\] hold no"):
        load_source(_source(format="image_folder", path=folder))
    with pytest.raises(DataError, match="not found; fix source.path"):
        load_source(_source(format="image_folder", path=tmp_path / "nope"))


def test_npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", images=rng.random((8, 5, 5)), labels=np.r_[[0] * 4, [1] * 4], class_names=["x", "y"])
    images = read_npz(tmp_path / "a.npz")
    assert images.images.dtype == np.uint8 and images.shape == (5, 5, 1) and images.class_names == ["x", "y"]
    np.savez(tmp_path / "b.npz", pixels=np.zeros((2, 4, 4), np.uint8), labels=[0, 1])
    with pytest.raises(DataError, match=r"no array \['images'\]; it holds \['labels', 'pixels'\]"):
        read_npz(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", images=np.full((2, 4, 4), 7.0), labels=[0, 1])
    with pytest.raises(DataError, match=r"give uint8 0..255 or floats in \[0, 1\]"):
        read_npz(tmp_path / "c.npz")
    (tmp_path / "d.npz").write_text("garbage")
    with pytest.raises(DataError, match="cannot read as a NumPy .npz"):
        read_npz(tmp_path / "d.npz")


def _write_idx(path, array: np.ndarray, compress: bool = True, truncate: int = 0):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = (header + array.astype(np.uint8).tobytes())[: -truncate or None]
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def test_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (12, 7, 7)), np.resize([0, 1, 2], 12)
    _write_idx(tmp_path / "img.gz", images)
    _write_idx(tmp_path / "lab", labels, compress=False)
    read = read_idx_pair(tmp_path / "img.gz", tmp_path / "lab")
    np.testing.assert_array_equal(read.images[..., 0], images)
    assert read.class_names == ["0", "1", "2"]
    with pytest.raises(DataError, match="a labels IDX file has 1 dimension.*swapped"):
        read_idx_pair(tmp_path / "img.gz", tmp_path / "img.gz")
    _write_idx(tmp_path / "short", labels[:5], compress=False)
    with pytest.raises(DataError, match="has 12 images but .*short has 5 labels"):
        read_idx_pair(tmp_path / "img.gz", tmp_path / "short")
    _write_idx(tmp_path / "cut.gz", images, truncate=10)
    with pytest.raises(DataError, match="cut.gz: header says .* truncated"):
        read_idx_pair(tmp_path / "cut.gz", tmp_path / "lab")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(DataError, match="text: not an IDX file"):
        read_idx_pair(tmp_path / "text", tmp_path / "lab")


def test_sklearn_digits_resize_and_subset():
    digits = load_source(_source(format="sklearn_digits")).images
    assert len(digits) == 1797 and digits.shape == (8, 8, 1) and digits.images.max() == 255
    padded = load_source(_source(format="sklearn_digits", image_size=12, resize="pad")).images
    assert padded.shape == (12, 12, 1)
    np.testing.assert_array_equal(padded.images[:, 2:10, 2:10], digits.images)
    assert padded.images[:, :2].max() == 0
    assert load_source(_source(format="sklearn_digits", image_size=16)).images.shape == (16, 16, 1)
    with pytest.raises(DataError, match="resize pad cannot shrink"):
        load_source(_source(format="sklearn_digits", image_size=4, resize="pad"))
    small = load_source(_source(format="sklearn_digits", max_images=200), seed=1).images
    assert len(small) == 200 and set(small.class_counts()) <= {19, 20, 21}


def test_stratified_holdout():
    digits = load_source(_source(format="sklearn_digits")).images
    train, holdout = split_holdout(digits, 0.2, seed=0)
    assert len(train) + len(holdout) == 1797
    assert np.all(np.abs(holdout.class_counts() - 0.2 * digits.class_counts()) <= 1)
    again, _ = split_holdout(digits, 0.2, seed=0)
    np.testing.assert_array_equal(again.images, train.images)


def test_class_names_from_the_spec(tmp_path):
    with pytest.raises(DataError, match="lists 2 names but the images have 10 classes"):
        load_source(_source(format="sklearn_digits", class_names=["a", "b"]))
    named = load_source(_source(format="sklearn_digits", class_names=list("abcdefghij"))).images
    assert named.class_names[3] == "d"


def test_published_layout_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = ImageSet(rng.integers(0, 255, (7, 5, 5, 3), dtype=np.uint8), [0, 1, 1, 0, 1, 1, 0], ["T-shirt/top", "Bag"])
    index = write_published(images, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "images.npz", "labels.csv"]
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["Bag", "T-shirt_top"]
    assert len(list((tmp_path / "images" / "Bag").glob("*.png"))) == 4
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert list(labels.columns) == ["file", "label", "class_name"] and labels.equals(index)
    first = np.asarray(Image.open(tmp_path / labels["file"][0]))
    np.testing.assert_array_equal(first, images.images[0])
    back = read_published(tmp_path)
    np.testing.assert_array_equal(back.images, images.images)
    assert back.class_names == images.class_names
    assert class_folders(["a b", "a/b", ""]) == ["a_b", "a_b_1", "class_2"]


def test_torch_dataset(tmp_path):
    images = ImageSet(np.full((3, 4, 4), 255, np.uint8), [0, 1, 0], ["a", "b"])
    write_published(images, tmp_path)
    dataset = ImageDataset.from_published(tmp_path, transform=lambda x: x * 2)
    image, label = dataset[1]
    assert len(dataset) == 3 and tuple(image.shape) == (1, 4, 4) and float(image.max()) == 2.0 and label == 1
    from torch.utils.data import DataLoader

    batch, labels = next(iter(DataLoader(images.dataset(), batch_size=3)))
    assert tuple(batch.shape) == (3, 1, 4, 4) and labels.tolist() == [0, 1, 0]


def test_image_specs_pair_generators_with_sources():
    base = {"name": "d", "source": {"format": "sklearn_digits"}, "generator": {"kind": "dcgan"}}
    spec = spec_from_dict(base)
    assert spec.is_image and spec.validation.min_label_faithfulness == 0.7
    assert spec_from_dict(spec.model_dump(mode="json")) == spec  # what Prefect does with the flow parameter
    with pytest.raises(SpecError, match="holds images, but generator.kind 'tvae' models tables"):
        spec_from_dict({**base, "generator": {"kind": "tvae"}})
    with pytest.raises(SpecError, match="generator.kind 'ddpm' models images"):
        spec_from_dict({**base, "source": {"path": "x.csv"}, "generator": {"kind": "ddpm"}})
    with pytest.raises(SpecError, match="validation.min_quality: unknown key"):
        spec_from_dict({**base, "validation": {"min_quality": 0.5}})
    with pytest.raises(SpecError, match="format idx needs 'labels_path'"):
        spec_from_dict({**base, "source": {"format": "idx", "path": "a.gz"}})
    with pytest.raises(SpecError, match=r"format 'png' is not known; tables: csv, parquet; images: image_folder"):
        spec_from_dict({**base, "source": {"format": "png", "path": "a"}})
    with pytest.raises(SpecError, match=r"conditions\[0\].values: image generators condition on 'label' only"):
        spec_from_dict({**base, "conditions": [{"values": {"colour": 1}, "rows": 3}]})
    with pytest.raises(SpecError, match=r"not divisible by norm_num_groups=32"):
        spec_from_dict({**base, "generator": {"kind": "ddpm", "block_out_channels": [48]}})


@pytest.mark.skipif(not (SHARED_DATA / "fashion-mnist").is_dir(), reason=f"{SHARED_DATA}/fashion-mnist is absent")
def test_fashion_mnist_idx_files():
    from synth.spec import load_spec
    from tests.conftest import ROOT

    folder = SHARED_DATA / "fashion-mnist"
    spec = load_spec(ROOT / "pipelines" / "fashion_mnist_ddpm.yaml", [
        f"source.path={folder / 'train-images-idx3-ubyte.gz'}",
        f"source.labels_path={folder / 'train-labels-idx1-ubyte.gz'}",
        f"source.test_path={folder / 't10k-images-idx3-ubyte.gz'}",
        f"source.test_labels_path={folder / 't10k-labels-idx1-ubyte.gz'}",
    ])
    loaded = load_source(spec.source)
    assert len(loaded.images) == 60_000 and loaded.images.shape == (28, 28, 1) and len(loaded.test) == 10_000
    assert loaded.images.class_counts().tolist() == [6000] * 10 and loaded.images.class_names[9] == "Ankle boot"
