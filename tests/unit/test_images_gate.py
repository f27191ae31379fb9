"""The image gate catches memorisation and wrong labels, passes fresh real images, and writes a self-contained
report."""

import re

import numpy as np
import pytest

from synth.images import ImageSet
from synth.images.sources import read_sklearn_digits, split_holdout
from synth.spec import ImageValidationSpec
from validation.image_report import write_image_report
from validation.images import frechet_distance, run_image_gate

THRESHOLDS = {**ImageValidationSpec().model_dump(), "judge_epochs": 8, "min_label_faithfulness": 0.8}


@pytest.fixture(scope="module")
def digits():
    """Digits split three ways: training images, a holdout the 'generator' never saw, and fresh real images."""
    images = read_sklearn_digits()
    rest, fresh = split_holdout(images, 0.2, seed=0)
    train, holdout = split_holdout(rest, 0.25, seed=1)
    return train, holdout, fresh


def _gate(digits, synthetic):
    train, holdout, _ = digits
    return run_image_gate(train, holdout, synthetic, class_names=train.class_names, seed=0, **THRESHOLDS)


def _checks(report):
    return {c.name: c for c in report.checks}


@pytest.fixture(scope="module")
def fresh_report(digits):
    return _gate(digits, digits[2])


def test_fresh_real_images_pass(fresh_report):
    checks = _checks(fresh_report)
    assert fresh_report.passed, fresh_report.summary()
    assert checks["label_faithfulness"].value > 0.85
    assert checks["near_copy_rate"].value <= 0.05
    assert checks["tstr_ratio"].value > 0.9
    # the figures a reader compares: the real ceiling and the real-vs-real Fréchet floor are reported
    assert {"trtr_accuracy", "tstr_accuracy", "frechet_floor"} <= set(checks)
    assert {"labels", "image_height", "image_width", "image_channels"} <= set(checks)
    assert set(fresh_report.suite_results) == {"schema", "fidelity", "privacy", "utility"}


def test_training_images_offered_as_synthetic_fail_memorisation(digits):
    train = digits[0]
    report = _gate(digits, train)
    checks = _checks(report)
    assert not report.passed
    assert {c.name for c in report.failed} == {"near_copy_rate", "closer_to_training"}
    assert checks["near_copy_rate"].value == 1.0 and checks["closer_to_training"].value == 1.0
    assert f"{len(train)} of {len(train)} synthetic images lie within" in checks["near_copy_rate"].detail
    assert len(report.details["memorisation"]["flagged"]) == 32  # the closest ones, kept for the report


@pytest.mark.slow
def test_shuffled_labels_fail_label_faithfulness(digits):
    fresh = digits[2]
    shuffled = ImageSet(fresh.images, np.random.default_rng(0).permutation(fresh.labels), fresh.class_names)
    report = _gate(digits, shuffled)
    checks = _checks(report)
    assert {c.name for c in report.failed} == {"label_faithfulness", "tstr_ratio"}
    assert checks["label_faithfulness"].value < 0.3
    # same pixels as the fresh images: the privacy checks still pass
    assert checks["near_copy_rate"].passed and checks["closer_to_training"].passed


def test_wrong_shape_or_unknown_labels_fail_the_schema_before_any_measurement(digits):
    fresh = digits[2]
    padded = ImageSet(np.pad(fresh.images, ((0, 0), (2, 2), (2, 2), (0, 0))), fresh.labels, fresh.class_names)
    report = _gate(digits, padded)
    assert {c.name for c in report.failed} == {"image_height", "image_width"}
    assert _checks(report)["image_height"].detail == "synthetic images have height 12, the real ones 8"
    assert "label_faithfulness" not in _checks(report) and "not_measured" in report.details
    relabelled = ImageSet(fresh.images, fresh.labels, [*fresh.class_names, "extra"])
    relabelled.labels[:3] = 10
    report = _gate(digits, relabelled)
    assert [c.name for c in report.failed] == ["labels"] and _checks(report)["labels"].value == 3


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    assert frechet_distance(a, b) < 0.02
    assert abs(frechet_distance(a, b + 2.0) - 12.0) < 0.3  # ‖μa − μb‖² = 3 × 2²


def test_report_is_self_contained(fresh_report, digits, tmp_path):
    fresh = digits[2]
    row = fresh.images[:6]
    path = write_image_report(tmp_path / "report.html", fresh_report, fresh.images, fresh.labels, fresh.class_names,
                              title="digits gate", interpolation=[("3", row), ("3 → 4", row)])
    page = path.read_text()
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page)  # no CDN, no remote resource
    # a sample strip per class, the memorisation histogram, the interpolation grid
    assert page.count("data:image/png;base64,") >= len(fresh.class_names) + 2
    assert "not Inception-FID" in page and "Label faithfulness per class" in page
    assert "Latent interpolation" in page and "3 → 4" in page and "near-copy threshold" in page
