"""The image pipeline flow: load → hold out → train → sample → validate → publish.

The same shape as the table flow (`flows.pipeline`), one small task per
step, for specs whose source holds labelled images. The gate is
`validation.images`; a failed gate ends the flow Failed with one line per
failed check and publishes nothing. A published version holds the
synthetic images as `images.npz`, a PNG folder per class and `labels.csv`
(see `synth.images.layout`), plus `data.parquet`: the same index as
`labels.csv` (file, label, class_name), so `catalog.load` and `synth list`
work on image datasets too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # diffusers: the UNet is built from our config, never fetched

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from flows.pipeline import _gate_artifact, _record_run, _retry_on_io_only
from flows.staging import evidence_folder
from synth import catalog, interrupts
from synth.images import ImageSet
from synth.images.layout import LABELS_NAME, NPZ_NAME, PNG_FOLDER, write_published
from synth.images.sources import LoadedImages, check_image_spec, split_holdout
from synth.models import build_generator
from synth.settings import get_settings, resolve_device
from synth.spec import PipelineSpec
from validation.gate import GateReport


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_io_only, cache_policy=NO_CACHE)
def load_images(spec: PipelineSpec) -> LoadedImages:
    loaded = check_image_spec(spec)
    images = loaded.images
    skipped = loaded.info["skipped_files"]
    get_run_logger().info(
        "Loaded %d images of %s in %d classes from %s%s",
        len(images), "×".join(map(str, images.shape)), images.num_classes, loaded.info["path"],
        f"; skipped {len(skipped)} unreadable file(s)" if skipped else "",
    )
    return loaded


@task(cache_policy=NO_CACHE)
def hold_out_images(images: ImageSet, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    train, holdout = split_holdout(images, fraction, seed)
    get_run_logger().info("Split %d training and %d holdout images (stratified; never seen by the generator)",
                          len(train), len(holdout))
    return train, holdout


@task(cache_policy=NO_CACHE)
def train_image_generator(train: ImageSet, spec: PipelineSpec, device: str, resume: bool = False,
                          data_sha256: str = ""):
    """Train the spec's generator; it checkpoints as it goes, and with `resume` continues from the last checkpoint
    (`synth.resume`; `data_sha256` is the source's, part of what identifies the run)."""
    from flows.pipeline import _log_checkpoints, _log_stop
    from synth.resume import training_checkpoint

    get_run_logger().info("Training %s on %s (%s)", spec.generator.kind, device, spec.generator.hyperparameters())
    model = build_generator(spec.generator.kind, spec.generator.hyperparameters(), device=device, seed=spec.seed)
    checkpoint = training_checkpoint(spec, train, data_sha256, device, resume)
    model.fit(train, checkpoint=checkpoint)
    _log_checkpoints(checkpoint)
    _log_stop(model)
    return model


@task(cache_policy=NO_CACHE)
def sample_images(model, rows: int, seed: int, conditions: list | None = None) -> ImageSet:
    """`rows` images in the training class proportions, then each condition's images; shuffled together."""
    parts = [model.sample(rows, seed=seed)]
    for i, condition in enumerate(conditions or [], start=1):
        parts.append(model.sample(condition.rows, conditions=condition.values, seed=seed + i))
        get_run_logger().info("Sampled %d extra images with %s", condition.rows, condition.values)
    order = np.random.default_rng(seed).permutation(sum(len(p) for p in parts))
    synthetic = ImageSet(np.concatenate([p.images for p in parts])[order],
                         np.concatenate([p.labels for p in parts])[order],
                         parts[0].class_names)
    get_run_logger().info("Sampled %d synthetic images; per class %s",
                          len(synthetic), synthetic.class_counts().tolist())
    return synthetic


@task(cache_policy=NO_CACHE)
def validate_images(train: ImageSet, holdout: ImageSet, test: ImageSet | None, synthetic: ImageSet, model,
                    spec: PipelineSpec, evidence: Path) -> GateReport:
    """Run the image gate; report.html goes into `evidence` (published only if it passes)."""
    from validation.image_report import write_image_report
    from validation.images import run_image_gate

    report = run_image_gate(train, holdout, synthetic, test, class_names=train.class_names, seed=spec.seed,
                            **spec.validation.model_dump())
    interpolation = None
    if hasattr(model, "interpolate"):  # the VAE: a row per class between two samples, and a few class morphs
        k = train.num_classes
        interpolation = [(name, model.interpolate(c, steps=10, seed=spec.seed + c))
                         for c, name in enumerate(train.class_names)]
        interpolation += [(f"{train.class_names[c]} → {train.class_names[(c + 1) % k]}",
                           model.interpolate(c, (c + 1) % k, steps=10, seed=spec.seed + k + c))
                          for c in range(min(k, 3))]
    write_image_report(
        evidence / "report.html", report, synthetic.images, synthetic.labels, train.class_names,
        title=f"{spec.name}: synthetic image gate report", interpolation=interpolation, seed=spec.seed,
        subtitle=f"{spec.generator.kind} trained on {len(train):,} images ({'×'.join(map(str, train.shape))}) from "
        f"{spec.source.path or spec.source.format}; {len(synthetic):,} synthetic images; "
        f"{len(holdout):,} holdout images never seen by the generator"
        + (f"; {len(test):,} real test images" if test is not None else ""),
    )
    logger = get_run_logger()
    for check in report.checks:
        if check.suite != "schema" or not check.passed:
            (logger.info if check.passed else logger.warning)(check.one_line())
    logger.info("Gate %s in %.1f s", "passed" if report.passed else "FAILED", report.seconds)
    return report


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_io_only, cache_policy=NO_CACHE)
def publish_images(spec: PipelineSpec, synthetic: ImageSet, model, report: GateReport, card: dict[str, Any],
                   evidence: Path) -> Path:
    layout = evidence / "layout"
    index = write_published(synthetic, layout)
    root = spec.publish.root or get_settings().catalog_root
    folder = catalog.publish(
        root, spec.name, synthetic=index, model=model, card=card,
        validation={"gate": report.to_dict(), **{f"{k}_suite_result": v for k, v in report.suite_results.items()}},
        attachments={NPZ_NAME: layout / NPZ_NAME, PNG_FOLDER: layout / PNG_FOLDER, LABELS_NAME: layout / LABELS_NAME,
                     "report.html": evidence / "report.html"},
    )
    get_run_logger().info("Published %s", folder)
    return folder


@flow(name="synth-image-pipeline", flow_run_name="{spec.name}", log_prints=True)
def run_image_pipeline(spec: PipelineSpec, resume: bool = False) -> dict[str, Any]:
    """Train an image generator on the spec's labelled images and publish synthetic ones if they pass the gate.

    `resume`: continue the training from the last checkpoint of an interrupted run of this spec (`synth.resume`)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    device = resolve_device(get_settings().device)
    loaded = load_images(spec)
    lap("load")
    train, holdout = hold_out_images(loaded.images, spec.holdout_fraction, spec.seed)
    model = train_image_generator(train, spec, device, resume, loaded.info["sha256"])
    lap("train")
    synthetic = sample_images(model, spec.rows or len(train), spec.seed + 1, spec.conditions)
    lap("sample")
    # not /tmp: real-data evidence
    with evidence_folder(spec.publish.root or get_settings().catalog_root, spec.name) as evidence:
        report = validate_images(train, holdout, loaded.test, synthetic, model, spec, evidence)
        lap("validate")
        card = _card(spec, model, train, holdout, synthetic, loaded.info, device, timings, report)
        if not report.passed:
            _record_run(spec, card, None)
            _gate_artifact(spec, report, None)
            return Failed(message=f"gate failed, nothing published:\n{report.summary()}")
        with interrupts.deferred():  # Ctrl-C lands before the publish's commit or after it and its log line
            folder = publish_images(spec, synthetic, model, report, card, evidence)
            interrupts.committed(f"published {spec.name} {folder.name} to {folder}")
            _record_run(spec, card, folder)
    _gate_artifact(spec, report, folder)
    return {"folder": str(folder), "version": folder.name, "checks": len(report.checks), "timings": card["timings"]}


def _card(spec, model, train, holdout, synthetic, source_info, device, timings, report) -> dict[str, Any]:
    """The dataset card of an image version (the same keys as a table version's, plus image facts)."""
    return {
        "description": spec.description,
        "target": "label",
        "source": source_info,
        "split": {"train_rows": len(train), "holdout_rows": len(holdout), "holdout_fraction": spec.holdout_fraction,
                  "seed": spec.seed, "stratified": True},
        "generator": {
            "kind": spec.generator.kind,
            "hyperparameters": model.hyperparameters(),
            "seed": spec.seed,
            "device": device,
            "transform_seconds": round(model.transform_seconds_, 2),
            "final_losses": model.loss_history_[-1] if model.loss_history_ else {},
            # why training stopped (all epochs, max_minutes, early stopping); a model not trained in epochs has none
            **({"training": model.stopped_} if getattr(model, "stopped_", None) else {}),
        },
        "output": {
            "rows": len(synthetic),
            "file": NPZ_NAME,
            "layout": {"npz": NPZ_NAME, "png_folders": f"{PNG_FOLDER}/<class>/", "labels": LABELS_NAME,
                       "index": "data.parquet (the labels.csv table)"},
            "image_shape": list(synthetic.shape),
            "class_names": synthetic.class_names,
            "class_counts": synthetic.class_counts().tolist(),
            "sampling_seed": spec.seed + 1,
            "conditions": [c.model_dump(mode="json") for c in spec.conditions],
        },
        "timings": {**timings, "total": round(sum(timings.values()), 2)},
        "gate": report.to_dict(),
        "report": "report.html",
        "spec": spec.model_dump(mode="json"),
        "packages": {**catalog.package_versions(), **_image_packages()},
    }


def _image_packages() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ("diffusers", "pillow", "scipy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
