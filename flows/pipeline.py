"""The pipeline flow: load → hold out → train → sample → validate → publish.

Thin by design: each task wraps one call into `synth/` or `validation/`. Only
the load task retries, and only on I/O errors (a bad spec or a bad file will
not get better by trying again). A failed gate ends the flow in a Failed
state with one line per failed check, and nothing is published.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from flows.staging import evidence_folder, keep_failed_run
from synth import catalog, interrupts
from synth.data import fingerprint, load_table, split_holdout
from synth.errors import SynthError
from synth.models import build_generator
from synth.settings import get_settings, resolve_device
from synth.spec import PipelineSpec, SourceSpec
from validation.gate import GateReport, partitions_measurement, run_gate


def _retry_on_io_only(task, task_run, state) -> bool:
    return not isinstance(state.data, SynthError)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_io_only, cache_policy=NO_CACHE)
def load_source(source: SourceSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    table = load_table(source)
    info = {
        "path": str(source.path),
        "format": source.resolved_format,
        "sha256": fingerprint(source.path),
        "rows": len(table),
        "columns": list(table.columns),
    }
    get_run_logger().info("Loaded %s: %d rows × %d columns", source.path, *table.shape)
    return table, info


@task(cache_policy=NO_CACHE)
def hold_out(table: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, holdout = split_holdout(table, fraction, seed)
    get_run_logger().info("Split %d training rows and %d holdout rows (never seen by the generator)",
                          len(train), len(holdout))
    return train, holdout


@task(cache_policy=NO_CACHE)
def train_generator(train: pd.DataFrame, spec: PipelineSpec, device: str, resume: bool = False, data_sha256: str = ""):
    """Train the spec's generator; it checkpoints as it goes, and with `resume` continues from the last checkpoint
    (`synth.resume`; `data_sha256` is the source file's, part of what identifies the run)."""
    from synth.resume import training_checkpoint

    logger = get_run_logger()
    kind, hyperparameters = spec.generator.kind, spec.generator.hyperparameters()
    if spec.privacy is not None:  # the private version of the generator, within the spec's budget
        from synth.privacy import private_hyperparameters

        kind, hyperparameters = private_hyperparameters(kind, hyperparameters, spec.privacy.model_dump(mode="json"))
    logger.info("Training %s on %s (%s)", kind, device, hyperparameters)
    model = build_generator(kind, hyperparameters, device=device, seed=spec.seed)
    checkpoint = training_checkpoint(spec, train, data_sha256, device, resume)  # None: not checkpointed
    model.fit(train, checkpoint, constraints=list(spec.constraints))
    plan = getattr(model, "plan_", None)
    for change in plan.describe() if plan is not None else []:
        logger.info("Column %s: %s", change["column"], change["done"])
    _log_checkpoints(checkpoint)
    _log_stop(model)
    if spec.privacy is not None:
        logger.info("%s (budget ε = %g)", _privacy_line(model), model.privacy_["target_epsilon"])
    return model


def _log_stop(model) -> None:
    """Why training stopped (synth.models.stopping; shared with flows.images): the card says it too."""
    stopped = getattr(model, "stopped_", None)
    if not stopped:
        return
    why = {"epochs": "all planned epochs ran", "max_minutes": "max_minutes ran out",
           "early_stopping": "early stopping"}.get(stopped["reason"], stopped["reason"])
    if stopped.get("best_epoch") is not None:
        why += f"; kept the weights of epoch {stopped['best_epoch']} ({stopped['metric']} {stopped['score']:.4f})"
    get_run_logger().info("Training stopped after epoch %d of %d: %s", stopped["epoch"], stopped["epochs"], why)


def _log_checkpoints(checkpoint) -> None:
    """Where training resumed from and what its checkpoints cost (shared with flows.images)."""
    if checkpoint is None:
        return
    logger = get_run_logger()
    if checkpoint.resumed_from is not None:
        logger.info("Resumed training after epoch %d from the checkpoint in %s",
                    checkpoint.resumed_from, checkpoint.folder)
    if checkpoint.write_seconds:
        logger.info("Wrote %d training checkpoint(s) to %s (%.2f s the slowest; "
                    "`synth run --resume` continues from the last until this run ends)",
                    len(checkpoint.write_seconds), checkpoint.folder, max(checkpoint.write_seconds))


@task(cache_policy=NO_CACHE)
def sample_rows(model, rows: int, seed: int, conditions: list | None = None) -> pd.DataFrame:
    """`rows` unconditional rows, then each condition's rows; shuffled together with the same seed."""
    parts = [model.sample(rows, seed=seed)]
    for i, condition in enumerate(conditions or [], start=1):
        parts.append(model.sample(condition.rows, conditions=condition.values, seed=seed + i))
        get_run_logger().info("Sampled %d extra rows with %s", condition.rows, condition.values)
    if len(parts) == 1:
        synthetic = parts[0]
    else:
        synthetic = pd.concat(parts, ignore_index=True).sample(frac=1, random_state=seed).reset_index(drop=True)
    get_run_logger().info("Sampled %d synthetic rows", len(synthetic))
    return synthetic


@task(cache_policy=NO_CACHE)
def validate(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, spec: PipelineSpec, evidence: Path,
    extra_measurements: list | None = None, privacy_ledger: dict[str, Any] | None = None,
) -> GateReport:
    """Run the gate; report.html is written into `evidence` (published only if it passes).

    `extra_measurements` (the all-partitions schema figure of a partitioned output) are judged with the rest;
    `privacy_ledger` is the model's (`privacy_`; None if it is not private), judged against `validation.max_epsilon`.
    """
    from validation.report import write_report

    report = run_gate(
        train, holdout, synthetic, target=spec.target, seed=spec.seed, privacy_ledger=privacy_ledger,
        extra_measurements=extra_measurements or (), constraints=list(spec.constraints),
        target_rebalanced=any(spec.target in c.values for c in spec.conditions),
        hyperparameters=spec.generator.hyperparameters(),
        **spec.validation.model_dump(),
    )
    write_report(
        evidence / "report.html", report, train, synthetic, seed=spec.seed,
        title=f"{spec.name}: synthetic data gate report",
        subtitle=f"{spec.generator.kind} trained on {len(train):,} rows of {spec.source.path}; "
        f"{len(synthetic):,} synthetic rows; {len(holdout):,} holdout rows never seen by the generator",
    )
    logger = get_run_logger()
    for suite in dict.fromkeys(c.suite for c in report.checks):
        checks = [c for c in report.checks if c.suite == suite]
        logger.info("%s: %d of %d checks passed", suite, sum(c.passed for c in checks), len(checks))
    for check in report.checks:
        if check.suite != "schema" or not check.passed:
            (logger.info if check.passed else logger.warning)(check.one_line())
    logger.info("Gate %s in %.1f s", "passed" if report.passed else "FAILED", report.seconds)
    return report


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_on_io_only, cache_policy=NO_CACHE)
def publish(
    spec: PipelineSpec, synthetic: pd.DataFrame, model, report: GateReport, card: dict[str, Any], evidence: Path
) -> Path:
    root = spec.publish.root or get_settings().catalog_root
    folder = catalog.publish(
        root,
        spec.name,
        synthetic=synthetic,
        model=model,
        card=card,
        validation={"gate": report.to_dict(), **{f"{k}_suite_result": v for k, v in report.suite_results.items()}},
        attachments={"report.html": evidence / "report.html"},
    )
    get_run_logger().info("Published %s", folder)
    return folder


@flow(name="synth-pipeline", flow_run_name="{spec.name}", log_prints=True)
def run_pipeline(spec: PipelineSpec, resume: bool = False) -> dict[str, Any]:
    """Train a generator on the spec's real table and publish a synthetic one if it passes the gate.

    `resume`: continue the training from the last checkpoint of an interrupted run of this spec (`synth.resume`)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    device = resolve_device(get_settings().device)
    table, source_info = load_source(spec.source)
    lap("load")
    train, holdout = hold_out(table, spec.holdout_fraction, spec.seed)
    model = train_generator(train, spec, device, resume, source_info["sha256"])
    lap("train")
    rows = _output_rows(spec, model, train)
    partitioned = spec.partition_rows is not None and rows > spec.partition_rows
    # the gate's evidence (Data Docs, report.html) and any partitions are staged inside the catalog root
    # (real-data evidence never goes to /tmp) and moved into the version
    with evidence_folder(spec.publish.root or get_settings().catalog_root, spec.name) as evidence:
        extra_measurements, output = [], {"rows": rows, "file": "data.parquet"}
        if partitioned:
            synthetic, outcome = _sample_partitions(model, train, rows, spec, evidence)
            extra_measurements.append(partitions_measurement(outcome["partitions"], outcome["rows"], outcome["failed"]))
            output = {"rows": outcome["rows"], "file": "data/", "partitions": outcome["partitions"],
                      "gate_sample_rows": len(synthetic)}
        else:
            synthetic = sample_rows(model, rows, spec.seed + 1, spec.conditions)
            output["rows"] = len(synthetic)
        lap("sample")
        ledger = getattr(model, "privacy_", None)  # judged against validation.max_epsilon, if set
        # identifiers get fresh keys, never real ones (synth.column_plan): the gate leaves them out, since a fresh
        # key is never a copy and would hide one
        ids = model.plan_.identifiers if getattr(model, "plan_", None) is not None else []
        report = validate(train.drop(columns=ids), holdout.drop(columns=ids), synthetic.drop(columns=ids), spec,
                          evidence, extra_measurements, ledger)
        lap("validate")
        card = _card(spec, model, train, holdout, output, source_info, device, timings, report)
        if not report.passed:
            _record_run(spec, card, None)
            _gate_artifact(spec, report, None)
            spent = f"\n{_privacy_line(model)}" if getattr(model, "privacy_", None) else ""
            kept = keep_failed_run(spec.publish.root or get_settings().catalog_root, spec.name, evidence, synthetic,
                                   report.to_dict())
            where = f"\nreport of this run (not published): {kept / 'report.html'}" if kept else ""
            return Failed(message=f"gate failed, nothing published:\n{report.summary()}{spent}{where}")
        # Ctrl-C from here on lands before the publish's commit (nothing published) or after it and its log line
        with interrupts.deferred():
            folder = publish(spec, evidence / "data" if partitioned else synthetic, model, report, card, evidence)
            interrupts.committed(f"published {spec.name} {folder.name} to {folder}")
            _record_run(spec, card, folder)
    _gate_artifact(spec, report, folder)
    outcome = {"folder": str(folder), "version": folder.name, "checks": len(report.checks), "timings": card["timings"]}
    if getattr(model, "privacy_", None):
        outcome["privacy"] = _privacy_line(model)
    return outcome


def _privacy_line(model) -> str:
    """What `synth run` prints for a private model: the total ε (spent whether or not the gate passed)."""
    ledger = model.privacy_
    return (f"privacy: ε = {ledger['epsilon']:.3f} spent on the training rows (δ = {ledger['delta']:g}, "
            f"{ledger['accountant'].upper()} accountant; ledger in the card)")


def _record_run(spec: PipelineSpec, card: dict[str, Any], folder: Path | None) -> None:
    """Log the gate outcome in the catalog's runs log (`synth list` shows failed runs from it).

    The gate has decided, so the run's training part is over: its checkpoints go too (`synth.resume`)."""
    from prefect.runtime import flow_run

    from synth.resume import discard_checkpoints

    try:
        discard_checkpoints(spec)
        catalog.record_run(spec.publish.root or get_settings().catalog_root, spec.name, card,
                           folder.name if folder else None, run_id=flow_run.id)
    except (OSError, SynthError) as error:  # a convenience: losing a log line must not fail a run that published
        get_run_logger().warning("Could not log the run in the catalog's runs log or remove its checkpoints: %s", error)


def _gate_artifact(spec: PipelineSpec, report: GateReport, folder: Path | None) -> None:
    """A markdown artifact on the flow run (shown in the Prefect UI): the checks and where the report is."""
    from prefect.artifacts import create_markdown_artifact

    where = (f"Published to `{folder}`; report: `{folder / 'report.html'}`" if folder
             else "**Gate failed: nothing published.**")
    rows = [
        f"| {c.suite} | {c.name} | {'pass' if c.passed else ('**FAIL**' if c.required else 'fail (report only)')} "
        f"| {c.value} | {c.threshold} |"
        for c in report.checks if c.suite != "schema" or not c.passed
    ]
    schema = [c for c in report.checks if c.suite == "schema"]
    markdown = "\n".join([
        f"# {spec.name}: gate {'passed' if report.passed else 'FAILED'}", "", where, "",
        f"Schema: {sum(c.passed for c in schema)} of {len(schema)} checks passed (failures listed below).", "",
        "| suite | check | result | observed | required |", "|---|---|---|---|---|", *rows,
    ])
    key = re.sub(r"[^a-z0-9-]+", "-", spec.name.lower()).strip("-") + "-gate"
    create_markdown_artifact(markdown=markdown, key=key, description=f"{spec.name} gate result")


def _sample_partitions(model, train: pd.DataFrame, rows: int, spec: PipelineSpec, evidence: Path):
    """Partitions on Dask into `evidence/data`; returns the stated sample the gate scores, and the outcome."""
    from flows.partitions import generate_partitions, read_sample, task_runner

    model_dir = evidence / "model-for-workers"  # workers load the saved generator, nothing else is shipped
    model.save(model_dir)
    outcome = generate_partitions.with_options(task_runner=task_runner())(
        str(model_dir), rows, spec.partition_rows, spec.seed + 1, str(evidence / "data"), train,
        spec.validation.null_tolerance, list(spec.constraints),
    )
    sample = read_sample(evidence / "data", spec.validation.max_rows_scored, spec.seed)
    get_run_logger().info("The gate scores a random sample of %d of the %d rows; the schema suite checked them all",
                          len(sample), outcome["rows"])
    return sample, outcome


def _card(spec, model, train, holdout, output, source_info, device, timings, report) -> dict[str, Any]:
    """The dataset card: how the version was made and how it scored."""
    return {
        "description": spec.description,
        "target": spec.target,
        "source": source_info,
        "split": {"train_rows": len(train), "holdout_rows": len(holdout), "holdout_fraction": spec.holdout_fraction,
                  "seed": spec.seed},
        "generator": {
            "kind": getattr(model, "kind", spec.generator.kind),  # dp_ctgan / dp_tvae under `privacy:`
            "hyperparameters": model.hyperparameters(),
            "seed": spec.seed,
            "device": device,
            "transform_seconds": round(model.transform_seconds_, 2),
            "final_losses": model.loss_history_[-1] if model.loss_history_ else {},  # a copula has none
            # why training stopped (all epochs, max_minutes, early stopping); a model not trained in epochs has none
            **({"training": model.stopped_} if getattr(model, "stopped_", None) else {}),
        },
        "output": {**output, "sampling_seed": spec.seed + 1,
                   "conditions": [c.model_dump(mode="json") for c in spec.conditions]},
        # per column: what profiling detected and what the generator did (identifiers, codes, tails, grids)
        "columns": model.plan_.describe() if getattr(model, "plan_", None) is not None else [],
        # each declared rule, how it was kept while sampling, and the share of candidate rows it rejected
        "constraints": model.constraints_.describe() if getattr(model, "constraints_", None) else [],
        "timings": {**timings, "total": round(sum(timings.values()), 2)},
        "gate": report.to_dict(),
        "report": "report.html",
        "spec": spec.model_dump(mode="json"),
        "packages": catalog.package_versions(),
        **({"privacy": model.privacy_} if getattr(model, "privacy_", None) else {}),  # the ledger; ε total at the top
    }


def _output_rows(spec: PipelineSpec, model, train: pd.DataFrame) -> int:
    """`rows`, or as many as the training rows; a private model knows only a noisy count (the exact one would leak)."""
    return spec.rows or getattr(model, "private_row_count_", None) or len(train)
