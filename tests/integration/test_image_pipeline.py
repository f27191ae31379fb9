"""The digits image pipeline through the CLI, end to end, with tiny settings."""

import json

import numpy as np
import pandas as pd
import pytest

from synth import catalog
from synth.cli import main
from synth.images.layout import read_published
from tests.conftest import ROOT

SPEC = str(ROOT / "pipelines" / "digits_ddpm.yaml")
NAME = "digits"  # the dataset name in that spec
TINY = ["generator.epochs=1", "generator.block_out_channels=[16,32]", "generator.sampling_steps=2", "rows=100",
        "validation.judge_epochs=3"]
# one epoch cannot draw digits; this test is about the pipeline's mechanics, so the quality floors are off
RELAXED = ["validation.min_label_faithfulness=0", "validation.min_tstr_ratio=0", "validation.max_frechet_distance=1000",
           "validation.max_closer_to_training=1.0"]


def _sets(*pairs):
    return [arg for pair in pairs for arg in ("--set", pair)]


@pytest.fixture(scope="module")
def published(prefect_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("images") / "published"
    base = _sets(*TINY, f"publish.root={root}")
    assert main(["run", SPEC, *base, *_sets(*RELAXED)]) == 0
    return root, base


def test_publishes_images_in_the_documented_layout(published):
    root, _ = published
    version = root / NAME / "v1"
    assert catalog.latest_version(root, NAME) == "v1"
    assert sorted(p.name for p in version.iterdir()) == [
        "card.json", "card.md", "data.parquet", "images", "images.npz", "labels.csv", "model", "report.html",
        "validation"]
    images = read_published(version)
    # 100 images in the training class proportions, plus the spec's 100 extra of class 8, shuffled together
    assert images.images.shape == (200, 8, 8, 1) and images.images.dtype == np.uint8
    assert images.class_counts()[8] == 110 and (images.labels[:100] == 8).mean() < 1
    labels = pd.read_csv(version / "labels.csv", dtype={"class_name": str})  # digits are named "0".."9"
    assert len(labels) == 200 and (labels["label"].to_numpy() == images.labels).all()
    assert sorted(p.name for p in (version / "images").iterdir()) == [str(d) for d in range(10)]
    assert len(list((version / "images" / "8").glob("*.png"))) == 110
    pd.testing.assert_frame_equal(pd.read_parquet(version / "data.parquet"), labels)
    assert sorted(p.name for p in (version / "model").iterdir()) == ["config.json", "unet.safetensors"]

    card = json.loads((version / "card.json").read_text())
    assert card["generator"]["kind"] == "ddpm" and card["generator"]["device"] == "cpu"
    assert card["source"]["format"] == "sklearn_digits" and card["split"] == {
        "train_rows": 1438, "holdout_rows": 359, "holdout_fraction": 0.2, "seed": 0, "stratified": True}
    assert card["output"]["rows"] == 200 and card["output"]["image_shape"] == [8, 8, 1]
    names = {c["name"] for c in card["gate"]["checks"]}
    assert {"labels", "image_height", "label_faithfulness", "frechet_distance", "near_copy_rate", "closer_to_training",
            "tstr_ratio", "tstr_accuracy", "trtr_accuracy"} <= names
    for suite in ("gate", "schema_suite_result", "fidelity_suite_result", "privacy_suite_result",
                  "utility_suite_result"):
        assert (version / "validation" / f"{suite}.json").is_file()
    assert "data_docs" not in card and not (version / "validation" / "data_docs").exists()
    assert "data:image/png;base64," in (version / "report.html").read_text()
    # readers: the catalog serves the images as a torch Dataset, and the index as a table
    dataset = catalog.load_images(NAME, root=root)
    image, label = dataset[0]
    assert len(dataset) == 200 and tuple(image.shape) == (1, 8, 8) and label == images.labels[0]
    assert dataset.class_names == [str(d) for d in range(10)]
    assert len(catalog.load(NAME, root=root)) == 200


def test_generate_from_the_published_model(published, tmp_path):
    root, _ = published
    model = catalog.model_folder(NAME, root=root)
    assert main(["generate", str(model), "--rows", "6", "--out", str(tmp_path / "threes.npz"),
                 "--condition", "label=3", "--seed", "2"]) == 0
    with np.load(tmp_path / "threes.npz") as batch:
        assert batch["images"].shape == (6, 8, 8) and (batch["labels"] == 3).all()


def test_failing_gate_publishes_nothing(published, capsys):
    root, base = published
    code = main(["run", SPEC, *base, *_sets(*RELAXED, "validation.min_label_faithfulness=1.0", "conditions=[]")])
    err = capsys.readouterr().err
    assert code == 1
    assert "[FAIL] fidelity/label_faithfulness" in err and "nothing published" in err
    assert sorted(p.name for p in (root / NAME).iterdir()) == [".lock", "LATEST", "v1"]  # .lock: the dataset lock


def test_bad_condition_class_is_refused_before_training(published, capsys):
    root, base = published
    assert main(["run", SPEC, *base, *_sets("conditions=[{values: {label: 12}, rows: 5}]")]) == 2
    assert "conditions[0].values.label: condition label=12: not a class of this model" in capsys.readouterr().err


def test_vae_version_shows_a_latent_interpolation_grid(published):
    root, base = published
    vae = "generator={kind: conv_vae, epochs: 1, batch_size: 64, width: 8, latent_dim: 4}"
    assert main(["run", SPEC, *base, *_sets(*RELAXED, vae, "name=digits_vae", "conditions=[]")]) == 0
    version = root / "digits_vae" / "v1"
    assert sorted(p.name for p in (version / "model").iterdir()) == ["config.json", "decoder.safetensors"]
    page = (version / "report.html").read_text()
    # one row per class plus three class morphs, each a strip of 10 decoded images
    assert "Latent interpolation" in page and "0 → 1" in page and page.count("data:image/png;base64,") >= 10 + 13
