"""Several pipelines at once: `synth run pipelines/*.yaml`.

One parent flow submits each spec's pipeline as a task on Prefect's
`ProcessPoolTaskRunner`, so the pipelines train, validate and publish
concurrently in separate processes (torch, Great Expectations and any Dask
cluster a partitioned spec starts stay isolated), and the Prefect UI shows
one parent run with a child flow run per dataset. A pipeline that fails its
gate or errors does not stop the others; each task returns an outcome and
the parent reports them all.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from synth.spec import PipelineSpec


def pipeline_flow(spec: PipelineSpec):
    """The Prefect flow that runs `spec`: the image pipeline for labelled images, else the table pipeline.

    Used here for each of several specs, and by `synth run` and `synth serve`
    (synth/commands/), which sit above the flows and import them, never the
    other way round.
    """
    if spec.is_image:
        from flows.images import run_image_pipeline

        return run_image_pipeline
    from flows.pipeline import run_pipeline

    return run_pipeline


@task(cache_policy=NO_CACHE, task_run_name="{spec.name}")
def run_one(spec: PipelineSpec) -> dict[str, Any]:
    """Run one pipeline (as a child flow run) and turn its final state into an outcome."""
    from synth.errors import SynthError

    state = pipeline_flow(spec)(spec, return_state=True)
    if state.is_completed():
        return {"name": spec.name, "status": "published", **state.result()}
    error = state.result(raise_on_failure=False)
    if isinstance(error, SynthError):
        return {"name": spec.name, "status": "bad input", "message": str(error)}
    if isinstance(error, BaseException):
        return {"name": spec.name, "status": "internal error", "message": f"{type(error).__name__}: {error}"}
    return {"name": spec.name, "status": "gate failed", "message": state.message}


@flow(name="synth-pipelines", log_prints=True)
def run_pipelines(specs: list[PipelineSpec]) -> list[dict[str, Any]]:
    """Every spec's pipeline, concurrently on the flow's task runner; one outcome per spec, in order."""
    futures = [run_one.submit(spec) for spec in specs]
    outcomes = [future.result() for future in futures]
    logger = get_run_logger()
    for outcome in outcomes:
        logger.info("%s: %s", outcome["name"], outcome["status"])
    return outcomes


def share_cores(jobs: int) -> None:
    """Runs once in each worker process: give it its share of the cores for torch.

    Left alone, every process starts as many torch (OpenMP) threads as the
    machine has cores, so `jobs` concurrent trainings oversubscribe the CPU
    `jobs` times over, and spinning OpenMP threads slow each other down badly.
    An OMP_NUM_THREADS set by the user wins. It also gives the worker the
    interrupt handling of `synth run` (Ctrl-C reaches the whole process
    group, workers included: none may publish after it).
    """
    from synth import interrupts

    interrupts.install()
    if os.environ.get("OMP_NUM_THREADS"):
        return
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))


def run_concurrently(specs: list[PipelineSpec], jobs: int) -> list[dict[str, Any]]:
    """`run_pipelines` with at most `jobs` pipelines running at once, each in its own process."""
    from prefect.task_runners import ProcessPoolTaskRunner

    runner = ProcessPoolTaskRunner(max_workers=jobs, initializer=share_cores, initargs=(jobs,))
    try:
        return run_pipelines.with_options(task_runner=runner)(specs)
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM (synth.interrupts): no worker may outlive the run
        _stop_workers()
        raise


def _stop_workers(grace: float = 10.0) -> None:
    """Stop the pool's worker processes after an interrupt.

    Ctrl-C reached the workers as well (one process group) and stopped their
    pipelines; a publish that had passed its commit point finishes within the
    grace period. A worker still alive after it is blocked (typically on the
    message queue to this process, which no longer reads it) and would keep
    this process from exiting, so it is killed: it can no longer commit a
    publish (synth.interrupts.check).
    """
    import multiprocessing
    import time

    deadline = time.monotonic() + grace
    for worker in multiprocessing.active_children():
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
            worker.join()
