"""Entry point for deployments from `prefect.yaml` (workers on other machines).

A work-pool worker runs flows by entrypoint with JSON parameters, so this
flow takes a spec *file* (relative to the checkout the worker runs in) and
optional `--set` overrides, and runs the pipeline as a subflow.
"""

from __future__ import annotations

from prefect import flow

from flows.pipeline import run_pipeline


@flow(name="synth-pipeline-from-file")
def run_spec_file(spec_path: str, overrides: list[str] | None = None) -> dict:
    """Load `spec_path` (+ overrides), check it against its data, and run the pipeline."""
    from synth.data import load_table
    from synth.spec import load_spec

    spec = load_spec(spec_path, overrides or [])
    spec.check_against(load_table(spec.source), origin=spec_path)
    return run_pipeline(spec)
