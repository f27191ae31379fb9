"""Every image generator goes through fit → sample → save → load → sample, on tiny 8×8 images."""

import json
import random

import numpy as np
import pytest
import torch

from synth.cli import main
from synth.errors import GeneratorInputError
from synth.images import ImageSet
from synth.images.layout import read_published
from synth.models import IMAGE_GENERATORS, build_generator, load_generator

TINY = {
    "ddpm": {"epochs": 1, "batch_size": 16, "block_out_channels": (8, 16), "norm_num_groups": 4, "layers_per_block": 1,
             "sampling_steps": 3, "ema_decay": 0.9},
    "dcgan": {"epochs": 1, "batch_size": 16, "width": 8, "latent_dim": 8, "embedding_dim": 4},
    "conv_vae": {"epochs": 1, "batch_size": 16, "width": 8, "latent_dim": 4},
}
CLASSES = ["bar", "cross", "dot"]


def tiny_images(n: int = 60, size: int = 8, seed: int = 0) -> ImageSet:
    """Three classes of 8×8 grayscale patterns (a bar, a cross, a dot) with noise; 2:1:1 class balance."""
    rng = np.random.default_rng(seed)
    labels = np.resize([0, 0, 1, 2], n)
    images = rng.integers(0, 40, (n, size, size, 1)).astype(np.uint8)
    mid = size // 2
    images[labels == 0, mid - 1 : mid + 1, :] = 220
    images[labels == 1, mid, :] = 220
    images[labels == 1, :, mid] = 220
    images[labels == 2, mid - 1 : mid + 1, mid - 1 : mid + 1] = 255
    return ImageSet(images, labels, CLASSES)


@pytest.fixture(scope="module", params=sorted(IMAGE_GENERATORS))
def fitted(request):
    images = tiny_images()
    model = build_generator(request.param, TINY[request.param], device="cpu", seed=0, verbose=False)
    return model.fit(images), images


def test_contract_fit_sample_save_load_sample(fitted, tmp_path):
    model, images = fitted
    sample = model.sample(40, seed=7)
    assert sample.images.shape == (40, 8, 8, 1) and sample.images.dtype == np.uint8
    assert sample.class_names == CLASSES
    # unconditional: the classes follow the training frequencies (2:1:1) exactly
    assert sample.class_counts().tolist() == [20, 10, 10]

    model.save(tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert "config.json" in files and all(f == "config.json" or f.endswith(".safetensors") for f in files), files
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["kind"] == model.kind and config["class_names"] == CLASSES and config["image_shape"] == [8, 8, 1]

    loaded = load_generator(tmp_path / "model", device="cpu")
    again = loaded.sample(40, seed=7)
    np.testing.assert_array_equal(again.images, sample.images)
    np.testing.assert_array_equal(again.labels, sample.labels)


def test_saved_model_holds_no_training_images(fitted, tmp_path):
    model, images = fitted
    model.save(tmp_path / "model")
    from safetensors.torch import load_file

    n = len(images)
    for weights in (tmp_path / "model").glob("*.safetensors"):
        for name, tensor in load_file(str(weights)).items():
            # nothing shaped like a stack of the training images (N × 8 × 8 pixels)
            assert not (tensor.ndim >= 1 and tensor.shape[0] == n and tensor.numel() >= n * 64), name
    assert (tmp_path / "model" / "config.json").stat().st_size < 5_000


def test_same_seed_same_images_and_global_rng_untouched(fitted):
    model, _ = fitted
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    expected = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    a, b = model.sample(20, seed=1), model.sample(20, seed=1)
    assert (torch.rand(1).item(), np.random.rand(), random.random()) == expected
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, model.sample(20, seed=2).images)


@pytest.mark.parametrize("kind", sorted(IMAGE_GENERATORS))
def test_fit_is_reproducible(kind):
    images = tiny_images(32)
    a = build_generator(kind, TINY[kind], device="cpu", seed=5, verbose=False).fit(images).sample(8, seed=0)
    b = build_generator(kind, TINY[kind], device="cpu", seed=5, verbose=False).fit(images).sample(8, seed=0)
    np.testing.assert_array_equal(a.images, b.images)


def test_condition_by_index_or_name_is_exact(fitted):
    model, _ = fitted
    assert (model.sample(12, conditions={"label": 1}, seed=0).labels == 1).all()
    assert (model.sample(12, conditions={"label": "dot"}, seed=0).labels == 2).all()
    assert (model.sample(12, conditions={"label": "2"}, seed=0).labels == 2).all()  # as typed on the command line


def test_per_class_counts_for_rebalancing(fitted):
    model, _ = fitted
    sample = model.sample_counts({"dot": 7, 0: 3}, seed=0)
    assert sample.class_counts().tolist() == [3, 0, 7]


def test_bad_conditions_say_what_is_allowed(fitted):
    model, _ = fitted
    with pytest.raises(GeneratorInputError, match=r"label='square': not a class of this model; "
                                                  r"use an index 0-2 or a name from \['bar', 'cross', 'dot'\]"):
        model.sample(4, conditions={"label": "square"})
    with pytest.raises(GeneratorInputError, match=r"condition only on 'label'"):
        model.sample(4, conditions={"colour": "red"})
    with pytest.raises(GeneratorInputError, match="positive number of images"):
        model.sample(0)


@pytest.mark.parametrize("kind", sorted(IMAGE_GENERATORS))
def test_image_size_the_network_cannot_take(kind):
    images = tiny_images(32, size=9)
    model = build_generator(kind, TINY[kind], device="cpu", seed=0, verbose=False)
    with pytest.raises(GeneratorInputError, match=r"divisible by (4|2).*got 9×9.*source.image_size"):
        model.fit(images)


def test_unfitted_model_says_how_to_fix():
    model = build_generator("dcgan", TINY["dcgan"], device="cpu", seed=0, verbose=False)
    with pytest.raises(GeneratorInputError, match=r"not fitted yet; call fit\(images\)"):
        model.sample(3)


def test_vae_latent_interpolation():
    vae = build_generator("conv_vae", TINY["conv_vae"], device="cpu", seed=0, verbose=False).fit(tiny_images())
    row = vae.interpolate("bar", steps=6, seed=3)
    assert row.shape == (6, 8, 8, 1) and row.dtype == np.uint8
    np.testing.assert_array_equal(row, vae.interpolate(0, steps=6, seed=3))
    # a class morph ends on a different image than the within-class path with the same codes
    assert not np.array_equal(vae.interpolate("bar", "dot", steps=6, seed=3)[-1], row[-1])
    with pytest.raises(GeneratorInputError, match="at least 2"):
        vae.interpolate(0, steps=1)


@pytest.mark.parametrize("fitted", ["ddpm"], indirect=True)
def test_ddpm_guidance_and_steps_are_settable(fitted):
    model, _ = fitted
    labels = np.array([0, 1, 2, 0])
    plain = model.sample_labels(labels, seed=0, steps=2, guidance_scale=1.0)
    guided = model.sample_labels(labels, seed=0, steps=2, guidance_scale=4.0)
    assert plain.images.shape == guided.images.shape == (4, 8, 8, 1)
    assert not np.array_equal(plain.images, guided.images)


def test_generate_command_writes_images(fitted, tmp_path, capsys):
    model, _ = fitted
    model.save(tmp_path / "model")
    assert main(["generate", str(tmp_path / "model"), "--rows", "9", "--out", str(tmp_path / "batch"),
                 "--condition", "label=cross", "--seed", "1"]) == 0
    batch = read_published(tmp_path / "batch")
    assert len(batch) == 9 and (batch.labels == 1).all()
    assert len(list((tmp_path / "batch" / "images" / "cross").glob("*.png"))) == 9
    assert "wrote 9 images" in capsys.readouterr().out

    assert main(["generate", str(tmp_path / "model"), "--rows", "5", "--out", str(tmp_path / "b.npz"),
                 "--seed", "1"]) == 0
    with np.load(tmp_path / "b.npz") as archive:
        assert archive["images"].shape == (5, 8, 8) and list(archive["class_names"]) == CLASSES

    assert main(["generate", str(tmp_path / "model"), "--rows", "5", "--out", str(tmp_path / "b.csv")]) == 2
    assert "image models write a folder (no suffix) or a .npz file" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "model"), "--rows", "5", "--out", str(tmp_path / "batch")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "model"), "--rows", "5", "--out", str(tmp_path / "c"),
                 "--condition", "label=9"]) == 2
    assert "not a class of this model" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not list(tmp_path.glob(".c*"))  # nothing written half-way
