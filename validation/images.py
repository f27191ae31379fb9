"""The image gate: is a synthetic labelled image set faithful, useful and not a copy?

All offline. A small CNN, *the judge*, is trained on the real training
images (seeded, a few epochs) and then serves three purposes:

- **label faithfulness**: the share of synthetic images it classifies as the
  class they were generated for (shuffled labels score about 1/K);
- **Fréchet distance in its feature space**: the Fréchet distance between
  Gaussians fitted to the judge's 64 penultimate features of synthetic and
  of real test images, after standardising every feature by its mean and
  spread on the real training images. This is the FID formula, but **not
  Inception-FID**: the features come from a small CNN trained on this run's
  own real images, so figures compare generators on the same data, not
  across datasets or with published FIDs. The same distance between two
  halves of the real test set is reported beside it as the floor;
- **TSTR**: the judge's architecture is trained again on the synthetic
  images and tested on the real test set; its accuracy divided by the
  judge's own (trained on real, the ceiling) is the utility ratio.

Memorisation is measured in pixel space: for each synthetic image, the
root-mean-square pixel distance (0..1 scale) to its nearest real training
image. A *near-copy* is one closer than all but `near_copy_quantile` of real
holdout images (images the generator never saw) are to their nearest
training image, so a generator of fresh images flags about that share and a
copier flags everything. `closer_to_training` asks, as the table gate's DCR
does, whether each synthetic image's nearest real image is a training or a
holdout image, size-adjusted: 0.5 is no memorisation, 1.0 every image sits
on a training image.

Every verdict is a Great Expectations verdict: the per-image schema (shape,
labels) on a table with one row per synthetic image, the figures on a
one-row table per suite (`GXSession.judge`), as in `validation.gate`: each
step below measures, GX decides. Inputs are anything with `images` (uint8,
N×H×W×C) and `labels` (int, N): no training code is imported here, and torch
only when the judge is built, not when this module is imported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from validation.checks import CheckResult, Measurement
from validation.gate import GateReport, timed

if TYPE_CHECKING:
    from validation.expectations import GXSession

FEATURES = 64  # width of the judge's penultimate layer, the Fréchet feature space


class LabelledImages(Protocol):
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int (N,)


def judge_cnn(channels: int, num_classes: int) -> Any:
    """The judge: two conv blocks (3×3 conv, batch norm, ReLU; twice; 2×2 max-pool), pooled to 2×2, then 64
    features (`body`) and the class logits (`head`). Works for any image of 8×8 pixels or more; batch norm makes a
    few epochs enough (Fashion-MNIST, 1,800 images, 10 epochs: 75% test accuracy with it, 71% without).

    A `torch.nn.Sequential` of the two named parts, built here so that importing this module loads no torch.
    """
    from collections import OrderedDict

    from torch import nn

    def conv(inputs: int, outputs: int) -> list[nn.Module]:
        return [nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(True)]

    body = nn.Sequential(
        *conv(channels, 32), *conv(32, 32), nn.MaxPool2d(2),
        *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(256, FEATURES), nn.ReLU(True),
    )
    head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, num_classes))
    return nn.Sequential(OrderedDict(body=body, head=head))


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tensor(images: np.ndarray, device: Any) -> Any:
    """uint8 (N, H, W, C) → float (N, C, H, W) in [0, 1], a torch tensor on `device`."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, *, epochs: int, seed: int,
                     batch_size: int = 128, lr: float = 1e-3) -> Any:
    """The judge's architecture trained on (images, labels): Adam, cross-entropy, seeded; global RNG untouched."""
    import torch
    from torch.nn import functional as F

    device = _device()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = judge_cnn(images.shape[-1], num_classes).to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        x_all, y_all = _tensor(images, device), torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
        model.train()
        for _ in range(epochs):
            for rows in torch.randperm(len(x_all), device=device).split(batch_size):
                loss = F.cross_entropy(model(x_all[rows]), y_all[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
    return model.eval()


def predict(model: Any, images: np.ndarray, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, penultimate features) for every image, by a `judge_cnn`."""
    import torch

    device = next(model.parameters()).device
    classes, features = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            h = model.body(_tensor(images[start : start + batch], device))
            classes.append(model.head(h).argmax(1).cpu())
            features.append(h.cpu())
    return torch.cat(classes).numpy(), torch.cat(features).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) between Gaussians fitted to two feature sets."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(root).all():  # near-singular product: nudge both covariances, as the FID reference code does
        offset = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))


def _pixels(images: np.ndarray) -> np.ndarray:
    """Flattened float32 pixels in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def _subset(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, min(n, limit), replace=False))


def run_image_gate(
    train: LabelledImages,
    holdout: LabelledImages,
    synthetic: LabelledImages,
    test: LabelledImages | None = None,
    *,
    class_names: list[str],
    min_label_faithfulness: float,
    max_frechet_distance: float,
    min_tstr_ratio: float,
    near_copy_quantile: float,
    max_near_copy_rate: float,
    max_closer_to_training: float,
    judge_epochs: int,
    max_images_scored: int,
    seed: int = 0,
) -> GateReport:
    """Judge `synthetic` images against the real ones; see the module docstring for every figure.

    The thresholds are `synth.spec.ImageValidationSpec`'s fields (pass
    `**spec.validation.model_dump()`). `holdout`: real images the generator
    never saw (the memorisation baseline). `test`: the real test set TSTR,
    faithfulness and Fréchet figures are scored on; left out, the holdout.
    The judge and its TSTR twin train on at most `max_images_scored` images
    each (the same number for both, so the ratio compares like with like);
    distances use at most that many synthetic and holdout images against all
    training images. Each step below measures; `GXSession.judge` decides.
    """
    from validation.expectations import GXSession

    started = time.perf_counter()
    rng = np.random.default_rng(seed)  # drawn from in a fixed order: judge, test, synthetic, Fréchet, holdout, TSTR
    num_classes = len(class_names)
    timings: dict[str, float] = {}
    details: dict[str, Any] = {}

    # 0. the per-image schema first: images of the wrong shape or with unknown labels cannot be measured
    with timed(timings, "schema"):
        session = GXSession()
        schema, suite_results = _schema_verdicts(session, train, synthetic, num_classes)
    if not all(c.passed for c in schema):
        details["seconds_per_suite"] = timings
        details["not_measured"] = "the synthetic images failed the schema, so no other figure was computed"
        return GateReport(checks=schema, suite_results=suite_results, details=details,
                          seconds=time.perf_counter() - started)

    # 1. the judge: trained on real training images, then run on the real test images
    with timed(timings, "judge"):
        test = test if test is not None else holdout
        judge = _train_judge(train, test, num_classes, epochs=judge_epochs, limit=max_images_scored, seed=seed, rng=rng,
                             test_name="test" if test is not holdout else "holdout")
    synth_rows = _subset(len(synthetic), max_images_scored, rng)

    # 2.-4. the figures: fidelity, memorisation, utility; each returns its measurements and the details behind them
    measured: dict[str, list[Measurement]] = {}
    with timed(timings, "fidelity"):
        measured["fidelity"], details["faithfulness"] = _measure_fidelity(
            judge, train, synthetic, synth_rows, class_names, rng=rng,
            min_label_faithfulness=min_label_faithfulness, max_frechet_distance=max_frechet_distance)
    with timed(timings, "privacy"):
        measured["privacy"], details["memorisation"], n_holdout = _measure_memorisation(
            train, holdout, synthetic, synth_rows, rng=rng, limit=max_images_scored,
            near_copy_quantile=near_copy_quantile, max_near_copy_rate=max_near_copy_rate,
            max_closer_to_training=max_closer_to_training)
    with timed(timings, "utility"):
        measured["utility"], details["utility"] = _measure_utility(
            judge, train, synthetic, num_classes, rng=rng, epochs=judge_epochs, seed=seed,
            min_tstr_ratio=min_tstr_ratio)

    # 5. every figure's verdict through GX: a one-row table per suite
    checks = list(schema)
    with timed(timings, "great_expectations"):
        for suite_name, measurements in measured.items():
            verdicts, suite_results[suite_name] = session.judge(measurements, suite_label=suite_name)
            checks += verdicts
    details["seconds_per_suite"] = timings
    details["images_scored"] = {"train": len(train), "judge_trained_on": len(judge.rows), "holdout": n_holdout,
                                "synthetic": len(synth_rows), judge.test_name: len(judge.test_labels)}
    return GateReport(checks=checks, suite_results=suite_results, details=details,
                      seconds=time.perf_counter() - started)


@dataclass
class _Judge:
    """The judge CNN and what it saw of the real test images (shared by the fidelity and utility steps)."""

    model: Any  # a trained `judge_cnn`
    rows: np.ndarray  # the training images it was trained on
    test_images: np.ndarray
    test_labels: np.ndarray
    test_predictions: np.ndarray
    test_features: np.ndarray
    accuracy: float  # on the test images: the TRTR ceiling
    test_name: str  # "test" or "holdout": which real images the figures are scored on


def _train_judge(train: LabelledImages, test: LabelledImages, num_classes: int, *, epochs: int, limit: int, seed: int,
                 rng: np.random.Generator, test_name: str) -> _Judge:
    """The judge trained on at most `limit` real training images and run on at most `limit` real test images."""
    rows = _subset(len(train), limit, rng)
    model = train_classifier(train.images[rows], train.labels[rows], num_classes, epochs=epochs, seed=seed)
    test_rows = _subset(len(test), limit, rng)
    images, labels = test.images[test_rows], np.asarray(test.labels)[test_rows]
    predictions, features = predict(model, images)
    return _Judge(model, rows, images, labels, predictions, features, float((predictions == labels).mean()), test_name)


def _measure_fidelity(
    judge: _Judge, train: LabelledImages, synthetic: LabelledImages, synth_rows: np.ndarray, class_names: list[str], *,
    rng: np.random.Generator, min_label_faithfulness: float, max_frechet_distance: float,
) -> tuple[list[Measurement], dict[str, Any]]:
    """Label faithfulness and the Fréchet distance in the judge's standardised feature space, with its real floor."""
    synth_labels = np.asarray(synthetic.labels)[synth_rows]
    synth_pred, synth_feat = predict(judge.model, synthetic.images[synth_rows])
    faithful = synth_pred == synth_labels
    faithfulness = float(faithful.mean())
    per_class = {class_names[c]: round(float(faithful[synth_labels == c].mean()), 4)
                 for c in range(len(class_names)) if (synth_labels == c).any()}
    _, train_feat = predict(judge.model, train.images[judge.rows])
    centre, spread = train_feat.mean(0), train_feat.std(0)
    live = spread > 1e-6  # features the ReLU left dead on real images carry nothing

    def standard(features: np.ndarray) -> np.ndarray:
        return (features[:, live] - centre[live]) / spread[live]

    test_feat, name = judge.test_features, judge.test_name
    halves = rng.permutation(len(test_feat))
    half_a, half_b = halves[: len(halves) // 2], halves[len(halves) // 2 :]
    m = min(len(half_a), len(synth_feat))
    frechet = frechet_distance(standard(synth_feat[rng.choice(len(synth_feat), m, replace=False)]),
                               standard(test_feat[half_b]))
    floor = frechet_distance(standard(test_feat[half_a[:m]]), standard(test_feat[half_b]))
    measurements = [
        Measurement("fidelity", "label_faithfulness", round(faithfulness, 4), min_label_faithfulness, "min",
                    f"the judge CNN classifies {faithful.sum()} of {len(faithful)} synthetic images as their intended "
                    f"class; on real {name} images it is right {judge.accuracy:.1%} of the time; lowest class: "
                    f"{min(per_class, key=per_class.get)} {min(per_class.values()):.1%}"),
        Measurement("fidelity", "frechet_distance", round(frechet, 3), max_frechet_distance, "max",
                    f"in the judge CNN's standardised {int(live.sum())}-feature space (not Inception-FID), "
                    f"{m} synthetic vs {len(half_b)} real {name} images; two halves of the real {name} images: "
                    f"{floor:.3f}"),
        Measurement.reported("fidelity", "frechet_floor", round(floor, 3),
                             f"the same distance between two halves of the real {name} images ({m} vs {len(half_b)}): "
                             "what a perfect generator would score"),
    ]
    return measurements, {"per_class": per_class, "judge_accuracy": judge.accuracy}


def _measure_memorisation(
    train: LabelledImages, holdout: LabelledImages, synthetic: LabelledImages, synth_rows: np.ndarray, *,
    rng: np.random.Generator, limit: int, near_copy_quantile: float, max_near_copy_rate: float,
    max_closer_to_training: float,
) -> tuple[list[Measurement], dict[str, Any], int]:
    """Nearest real training image of each synthetic image, against the holdout's own: near-copies and DCR.

    Returns the measurements, the details behind them (the near-copy
    threshold, the closest synthetic images, the distance histogram) and how
    many holdout images were scored.
    """
    from validation.privacy import nearest_distances

    x_train = _pixels(train.images)
    holdout_rows = _subset(len(holdout), limit, rng)
    x_holdout, x_synth = _pixels(holdout.images[holdout_rows]), _pixels(synthetic.images[synth_rows])
    scale = np.sqrt(x_train.shape[1])  # Euclidean → root-mean-square per pixel
    synth_to_train = nearest_distances(x_synth, x_train)[:, 0] / scale
    holdout_to_train = nearest_distances(x_holdout, x_train)[:, 0] / scale
    synth_to_holdout = nearest_distances(x_synth, x_holdout)[:, 0] / scale
    threshold = float(np.quantile(holdout_to_train, near_copy_quantile))
    near = synth_to_train <= threshold
    n_train, n_holdout = len(train), len(holdout_rows)
    raw_share = float(np.mean(synth_to_train < synth_to_holdout) + 0.5 * np.mean(synth_to_train == synth_to_holdout))
    share = (raw_share * n_holdout / (raw_share * n_holdout + (1 - raw_share) * n_train) if 0 < raw_share < 1
             else raw_share)
    measurements = [
        Measurement("privacy", "near_copy_rate", round(float(near.mean()), 4), max_near_copy_rate, "max",
                    f"{int(near.sum())} of {len(near)} synthetic images lie within {threshold:.4f} "
                    f"(RMS pixel distance) of a training image, closer than all but {near_copy_quantile:.0%} of real "
                    f"holdout images; median "
                    f"distance to training: synthetic {np.median(synth_to_train):.4f}, "
                    f"holdout {np.median(holdout_to_train):.4f}"),
        Measurement("privacy", "closer_to_training", round(share, 4), max_closer_to_training, "max",
                    f"nearest real image is a training image for {raw_share:.1%} of {len(x_synth)} synthetic images "
                    f"({n_train} training vs {n_holdout} holdout images; no memorisation: "
                    f"{n_train / (n_train + n_holdout):.1%}); size-adjusted as if both sets were equally large"),
    ]
    edges = np.histogram_bin_edges(np.concatenate([synth_to_train, holdout_to_train]), bins=40)
    memorisation = {
        "threshold": threshold,
        "flagged": synth_rows[near][np.argsort(synth_to_train[near])][:32].tolist(),  # image indexes, closest first
        "histogram": {"edges": np.round(edges, 5).tolist(),
                      "synthetic_to_training": np.histogram(synth_to_train, edges)[0].tolist(),
                      "holdout_to_training": np.histogram(holdout_to_train, edges)[0].tolist()},
    }
    return measurements, memorisation, n_holdout


def _measure_utility(
    judge: _Judge, train: LabelledImages, synthetic: LabelledImages, num_classes: int, *, rng: np.random.Generator,
    epochs: int, seed: int, min_tstr_ratio: float,
) -> tuple[list[Measurement], dict[str, Any]]:
    """The judge's architecture trained on synthetic images (TSTR) against trained on as many real ones (TRTR)."""
    n_fit = min(len(synthetic), len(judge.rows))
    if n_fit == len(judge.rows):
        real_accuracy = judge.accuracy  # the judge is the TRTR model
    else:
        twin_rows = np.sort(rng.choice(judge.rows, n_fit, replace=False))
        real_twin = train_classifier(train.images[twin_rows], train.labels[twin_rows], num_classes, epochs=epochs,
                                     seed=seed)
        real_accuracy = float((predict(real_twin, judge.test_images)[0] == judge.test_labels).mean())
    tstr_rows = _subset(len(synthetic), n_fit, rng)
    twin = train_classifier(synthetic.images[tstr_rows], np.asarray(synthetic.labels)[tstr_rows], num_classes,
                            epochs=epochs, seed=seed)
    tstr_accuracy = float((predict(twin, judge.test_images)[0] == judge.test_labels).mean())
    ratio = tstr_accuracy / max(real_accuracy, 1e-12)
    name, tested = judge.test_name, len(judge.test_labels)
    measurements = [
        Measurement("utility", "tstr_ratio", round(ratio, 4), min_tstr_ratio, "min",
                    f"CNN trained on {n_fit} synthetic images: {tstr_accuracy:.1%} accuracy on {tested} real {name} "
                    f"images; the same CNN trained on {n_fit} real training images: {real_accuracy:.1%}"),
        Measurement.reported("utility", "tstr_accuracy", round(tstr_accuracy, 4),
                             f"accuracy on real {name} images of a CNN trained only on synthetic images"),
        Measurement.reported("utility", "trtr_accuracy", round(real_accuracy, 4),
                             "the real-data ceiling: the same CNN trained on real training images, same test images"),
    ]
    return measurements, {"tstr_accuracy": tstr_accuracy, "trtr_accuracy": real_accuracy, "trained_on": n_fit,
                          "tested_on": tested, "test_set": name}


def _schema_verdicts(session: GXSession, train: LabelledImages, synthetic: LabelledImages,
                     num_classes: int) -> tuple[list[CheckResult], dict[str, Any]]:
    """GX on one row per synthetic image: every label a known class, every image the real height, width, channels."""
    import great_expectations as gx  # validation.expectations (imported by the caller) has switched analytics off
    import great_expectations.expectations as gxe

    shape = synthetic.images.shape[1:] if synthetic.images.ndim == 4 else (*synthetic.images.shape[1:], 1)
    n = len(synthetic.labels)
    per_image = pd.DataFrame({"label": np.asarray(synthetic.labels, dtype=np.int64), "height": np.full(n, shape[0]),
                              "width": np.full(n, shape[1]), "channels": np.full(n, shape[2])})
    # strict=False: a grey (N, H, W) array has no channel axis, so only height and width are checked
    expected = dict(zip(("height", "width", "channels"), (int(v) for v in train.images.shape[1:]), strict=False))
    expectations = [gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(range(num_classes)),
                                                     meta={"check": "labels"})]
    expectations += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=v, max_value=v, meta={"check": f"image_{c}"})
                     for c, v in expected.items()]
    verdicts, result = session.validate(gx.ExpectationSuite(name="schema", expectations=expectations), per_image,
                                        suite_label="schema")
    passed = {v.name: v.passed for v in verdicts}
    outside = ~per_image["label"].between(0, num_classes - 1)
    # what each check observed and the line that explains a failure; the verdict is GX's
    examples = per_image.loc[outside, "label"].unique().tolist()[:5]
    observed = {"labels": (int(outside.sum()), f"0 outside 0..{num_classes - 1}",
                           f"{int(outside.sum())} labels outside the {num_classes} real classes, e.g. {examples}")}
    observed |= {f"image_{c}": (int(shape[i]), v, f"synthetic images have {c} {shape[i]}, the real ones {v}")
                 for i, (c, v) in enumerate(expected.items())}
    checks = [CheckResult("schema", name, passed[name], value, threshold, "" if passed[name] else detail)
              for name, (value, threshold, detail) in observed.items()]
    return checks, {"schema": result}
