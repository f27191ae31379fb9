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
one-row table per suite, as in `validation.gate`. Inputs are anything with
`images` (uint8, N×H×W×C) and `labels` (int, N): no training code is
imported here.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from validation.checks import CheckResult
from validation.gate import GateReport

FEATURES = 64  # width of the judge's penultimate layer, the Fréchet feature space


class LabelledImages(Protocol):
    images: np.ndarray  # uint8 (N, H, W, C)
    labels: np.ndarray  # int (N,)


class JudgeCNN(nn.Module):
    """Two conv blocks (3×3 conv, batch norm, ReLU; twice; 2×2 max-pool), pooled to 2×2, then 64 features and the
    class logits. Works for any image of 8×8 pixels or more; batch norm makes a few epochs enough (Fashion-MNIST,
    1,800 images, 10 epochs: 75% test accuracy with it, 71% without)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()

        def conv(inputs: int, outputs: int) -> list[nn.Module]:
            return [nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(True)]

        self.body = nn.Sequential(
            *conv(channels, 32), *conv(32, 32), nn.MaxPool2d(2),
            *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(256, FEATURES), nn.ReLU(True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) → float (N, C, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, *, epochs: int, seed: int,
                     batch_size: int = 128, lr: float = 1e-3) -> JudgeCNN:
    """The judge's architecture trained on (images, labels): Adam, cross-entropy, seeded; global RNG untouched."""
    device = _device()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = JudgeCNN(images.shape[-1], num_classes).to(device)
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


@torch.no_grad()
def predict(model: JudgeCNN, images: np.ndarray, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, penultimate features) for every image."""
    device = next(model.parameters()).device
    classes, features = [], []
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

    `holdout`: real images the generator never saw (the memorisation
    baseline). `test`: the real test set TSTR, faithfulness and Fréchet
    figures are scored on; left out, the holdout. The judge and its TSTR
    twin train on at most `max_images_scored` images each (the same number
    for both, so the ratio compares like with like); distances use at most
    that many synthetic and holdout images against all training images.
    """
    from validation.expectations import GXSession
    from validation.privacy import nearest_distances

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    test = test if test is not None else holdout
    num_classes = len(class_names)
    timings: dict[str, float] = {}
    details: dict[str, Any] = {}

    # 0. the per-image schema first: images of the wrong shape or with unknown labels cannot be measured
    t = time.perf_counter()
    session = GXSession()
    schema, suite_results = _schema_verdicts(session, train, synthetic, num_classes)
    timings["schema"] = round(time.perf_counter() - t, 2)
    if not all(c.passed for c in schema):
        details["seconds_per_suite"] = timings
        details["not_measured"] = "the synthetic images failed the schema, so no other figure was computed"
        return GateReport(checks=schema, suite_results=suite_results, details=details, seconds=time.perf_counter() - started)

    # 1. the judge: trained on real training images, then run on the real test images
    t = time.perf_counter()
    judge_rows = _subset(len(train), max_images_scored, rng)
    judge = train_classifier(train.images[judge_rows], train.labels[judge_rows], num_classes, epochs=judge_epochs, seed=seed)
    test_rows = _subset(len(test), max_images_scored, rng)
    test_images, test_labels = test.images[test_rows], np.asarray(test.labels)[test_rows]
    test_pred, test_feat = predict(judge, test_images)
    judge_accuracy = float((test_pred == test_labels).mean())
    timings["judge"] = round(time.perf_counter() - t, 2)

    # 2. fidelity: label faithfulness and the Fréchet distance in the judge's standardised feature space
    t = time.perf_counter()
    synth_rows = _subset(len(synthetic), max_images_scored, rng)
    synth_images, synth_labels = synthetic.images[synth_rows], np.asarray(synthetic.labels)[synth_rows]
    synth_pred, synth_feat = predict(judge, synth_images)
    faithful = synth_pred == synth_labels
    faithfulness = float(faithful.mean())
    per_class = {class_names[c]: round(float(faithful[synth_labels == c].mean()), 4)
                 for c in range(num_classes) if (synth_labels == c).any()}
    _, train_feat = predict(judge, train.images[judge_rows])
    centre, spread = train_feat.mean(0), train_feat.std(0)
    live = spread > 1e-6  # features the ReLU left dead on real images carry nothing
    standard = lambda f: (f[:, live] - centre[live]) / spread[live]  # noqa: E731
    halves = rng.permutation(len(test_feat))
    half_a, half_b = halves[: len(halves) // 2], halves[len(halves) // 2 :]
    m = min(len(half_a), len(synth_feat))
    frechet = frechet_distance(standard(synth_feat[rng.choice(len(synth_feat), m, replace=False)]), standard(test_feat[half_b]))
    frechet_floor = frechet_distance(standard(test_feat[half_a[:m]]), standard(test_feat[half_b]))
    test_name = "test" if test is not holdout else "holdout"
    fidelity = [
        CheckResult("fidelity", "label_faithfulness", faithfulness >= min_label_faithfulness, round(faithfulness, 4),
                    min_label_faithfulness,
                    f"the judge CNN classifies {faithful.sum()} of {len(faithful)} synthetic images as their intended class; "
                    f"on real {test_name} images it is right {judge_accuracy:.1%} of the time; lowest class: "
                    f"{min(per_class, key=per_class.get)} {min(per_class.values()):.1%}"),
        CheckResult("fidelity", "frechet_distance", frechet <= max_frechet_distance, round(frechet, 3), max_frechet_distance,
                    f"in the judge CNN's standardised {int(live.sum())}-feature space (not Inception-FID), {m} synthetic vs "
                    f"{len(half_b)} real {test_name} images; two halves of the real {test_name} images: {frechet_floor:.3f}"),
        CheckResult("fidelity", "frechet_floor", True, round(frechet_floor, 3), "report only",
                    f"the same distance between two halves of the real {test_name} images ({m} vs {len(half_b)}): "
                    "what a perfect generator would score", required=False),
    ]
    details["faithfulness"] = {"per_class": per_class, "judge_accuracy": judge_accuracy}
    timings["fidelity"] = round(time.perf_counter() - t, 2)

    # 3. privacy: nearest real training image of each synthetic image, against the holdout's own
    t = time.perf_counter()
    x_train = _pixels(train.images)
    holdout_rows = _subset(len(holdout), max_images_scored, rng)
    x_holdout, x_synth = _pixels(holdout.images[holdout_rows]), _pixels(synth_images)
    scale = np.sqrt(x_train.shape[1])  # Euclidean → root-mean-square per pixel
    synth_to_train = nearest_distances(x_synth, x_train)[:, 0] / scale
    holdout_to_train = nearest_distances(x_holdout, x_train)[:, 0] / scale
    synth_to_holdout = nearest_distances(x_synth, x_holdout)[:, 0] / scale
    threshold = float(np.quantile(holdout_to_train, near_copy_quantile))
    near = synth_to_train <= threshold
    near_rate = float(near.mean())
    n_train, n_holdout = len(train), len(holdout_rows)
    raw_share = float(np.mean(synth_to_train < synth_to_holdout) + 0.5 * np.mean(synth_to_train == synth_to_holdout))
    share = raw_share * n_holdout / (raw_share * n_holdout + (1 - raw_share) * n_train) if 0 < raw_share < 1 else raw_share
    flagged = synth_rows[near][np.argsort(synth_to_train[near])][:32]
    privacy = [
        CheckResult("privacy", "near_copy_rate", near_rate <= max_near_copy_rate, round(near_rate, 4), max_near_copy_rate,
                    f"{int(near.sum())} of {len(near)} synthetic images lie within {threshold:.4f} (RMS pixel distance) of a "
                    f"training image, closer than all but {near_copy_quantile:.0%} of real holdout images; "
                    f"median distance to training: synthetic {np.median(synth_to_train):.4f}, holdout {np.median(holdout_to_train):.4f}"),
        CheckResult("privacy", "closer_to_training", share <= max_closer_to_training, round(share, 4), max_closer_to_training,
                    f"nearest real image is a training image for {raw_share:.1%} of {len(x_synth)} synthetic images "
                    f"({n_train} training vs {n_holdout} holdout images; no memorisation: {n_train / (n_train + n_holdout):.1%}); "
                    "size-adjusted as if both sets were equally large"),
    ]
    edges = np.histogram_bin_edges(np.concatenate([synth_to_train, holdout_to_train]), bins=40)
    details["memorisation"] = {
        "threshold": threshold,
        "flagged": flagged.tolist(),  # synthetic image indexes, closest first (at most 32)
        "histogram": {"edges": np.round(edges, 5).tolist(),
                      "synthetic_to_training": np.histogram(synth_to_train, edges)[0].tolist(),
                      "holdout_to_training": np.histogram(holdout_to_train, edges)[0].tolist()},
    }
    timings["privacy"] = round(time.perf_counter() - t, 2)

    # 4. utility: the same CNN trained on synthetic images (TSTR) against trained on as many real ones (TRTR)
    t = time.perf_counter()
    n_fit = min(len(synthetic), len(judge_rows))
    if n_fit == len(judge_rows):
        real_accuracy = judge_accuracy  # the judge is the TRTR model
    else:
        twin_rows = np.sort(rng.choice(judge_rows, n_fit, replace=False))
        real_twin = train_classifier(train.images[twin_rows], train.labels[twin_rows], num_classes, epochs=judge_epochs, seed=seed)
        real_accuracy = float((predict(real_twin, test_images)[0] == test_labels).mean())
    tstr_rows = _subset(len(synthetic), n_fit, rng)
    twin = train_classifier(synthetic.images[tstr_rows], np.asarray(synthetic.labels)[tstr_rows], num_classes,
                            epochs=judge_epochs, seed=seed)
    tstr_accuracy = float((predict(twin, test_images)[0] == test_labels).mean())
    ratio = tstr_accuracy / max(real_accuracy, 1e-12)
    utility = [
        CheckResult("utility", "tstr_ratio", ratio >= min_tstr_ratio, round(ratio, 4), min_tstr_ratio,
                    f"CNN trained on {n_fit} synthetic images: {tstr_accuracy:.1%} accuracy on {len(test_rows)} real "
                    f"{test_name} images; the same CNN trained on {n_fit} real training images: {real_accuracy:.1%}"),
        CheckResult("utility", "tstr_accuracy", True, round(tstr_accuracy, 4), "report only",
                    f"accuracy on real {test_name} images of a CNN trained only on synthetic images", required=False),
        CheckResult("utility", "trtr_accuracy", True, round(real_accuracy, 4), "report only",
                    f"the real-data ceiling: the same CNN trained on real training images, same test images", required=False),
    ]
    details["utility"] = {"tstr_accuracy": tstr_accuracy, "trtr_accuracy": real_accuracy, "trained_on": n_fit,
                          "tested_on": len(test_rows), "test_set": test_name}
    timings["utility"] = round(time.perf_counter() - t, 2)

    # 5. every figure's verdict through GX: a one-row table per suite
    t = time.perf_counter()
    checks = list(schema)
    for suite_name, results in {"fidelity": fidelity, "privacy": privacy, "utility": utility}.items():
        verdicts, suite_results[suite_name] = _metric_verdicts(session, suite_name, results)
        checks += verdicts
    timings["great_expectations"] = round(time.perf_counter() - t, 2)
    details["seconds_per_suite"] = timings
    details["images_scored"] = {"train": len(train), "judge_trained_on": len(judge_rows), "holdout": n_holdout,
                                "synthetic": len(synth_rows), test_name: len(test_rows)}
    return GateReport(checks=checks, suite_results=suite_results, details=details, seconds=time.perf_counter() - started)


#: Whether each gated image figure is a floor or a ceiling.
BOUNDS = {"label_faithfulness": "min", "frechet_distance": "max", "near_copy_rate": "max",
          "closer_to_training": "max", "tstr_ratio": "min"}


def _schema_verdicts(session, train: LabelledImages, synthetic: LabelledImages,
                     num_classes: int) -> tuple[list[CheckResult], dict[str, Any]]:
    """GX on one row per synthetic image: every label a known class, every image the real height, width, channels."""
    import great_expectations as gx  # validation.expectations (imported by the caller) has switched analytics off
    import great_expectations.expectations as gxe

    shape = synthetic.images.shape[1:] if synthetic.images.ndim == 4 else (*synthetic.images.shape[1:], 1)
    n = len(synthetic.labels)
    per_image = pd.DataFrame({"label": np.asarray(synthetic.labels, dtype=np.int64), "height": np.full(n, shape[0]),
                              "width": np.full(n, shape[1]), "channels": np.full(n, shape[2])})
    expected = dict(zip(("height", "width", "channels"), (int(v) for v in train.images.shape[1:])))
    expectations = [gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(range(num_classes)), meta={"check": "labels"})]
    expectations += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=v, max_value=v, meta={"check": f"image_{c}"})
                     for c, v in expected.items()]
    outside = ~per_image["label"].between(0, num_classes - 1)
    checks = [
        CheckResult("schema", "labels", True, int(outside.sum()), f"0 outside 0..{num_classes - 1}",
                    f"{int(outside.sum())} labels outside the {num_classes} real classes, "
                    f"e.g. {per_image.loc[outside, 'label'].unique().tolist()[:5]}"),
        *[CheckResult("schema", f"image_{c}", True, int(shape[i]), v, f"synthetic images have {c} {shape[i]}, the real ones {v}")
          for i, (c, v) in enumerate(expected.items())],
    ]
    verdicts, result = session.validate(gx.ExpectationSuite(name="schema", expectations=expectations), per_image, suite_label="schema")
    passed = {v.name: v.passed for v in verdicts}
    return [replace(c, passed=passed[c.name], detail="" if passed[c.name] else c.detail) for c in checks], {"schema": result}


def _metric_verdicts(session, suite_name: str, results: list[CheckResult]) -> tuple[list[CheckResult], dict]:
    """GX on a one-row table of a suite's figures: one expectation per required check, holding it to its threshold."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    gated = [c for c in results if c.required]
    table = pd.DataFrame({c.name: [float(c.value)] for c in gated})
    expectations = [gxe.ExpectColumnValuesToBeBetween(
        column=c.name, meta={"check": c.name, "threshold": c.threshold},
        **({"min_value": c.threshold} if BOUNDS[c.name] == "min" else {"max_value": c.threshold})) for c in gated]
    verdicts, result = session.validate(gx.ExpectationSuite(name=suite_name, expectations=expectations), table, suite_label=suite_name)
    passed = {v.name: v.passed for v in verdicts}
    return [replace(c, passed=passed[c.name]) if c.name in passed else c for c in results], result
