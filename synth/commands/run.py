"""`synth run SPEC [SPEC ...]`: the whole pipeline as a Prefect flow; several specs run concurrently."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synth.commands import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_INTERNAL, EXIT_OK


def register(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run a pipeline spec: load, train, sample, validate, publish",
        description="Run a pipeline spec as a Prefect flow. Exit 0: published; 1: the gate failed "
        "(nothing published); 2: bad spec or data. Several specs (synth run pipelines/*.yaml) run concurrently, "
        "each in its own process; every spec is checked before any starts, and the exit code is the worst outcome.",
    )
    run.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="pipeline spec(s), e.g. pipelines/adult_tvae.yaml")
    run.add_argument("--jobs", type=int, default=2, help="with several specs: how many pipelines run at once (default 2)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a spec value by its dotted key (repeatable), e.g. --set generator.epochs=2 --set rows=1000",
    )


def execute(args: argparse.Namespace) -> int:
    from synth.data import load_table
    from synth.errors import SynthError
    from synth.spec import load_spec

    # 1. check every input before any compute (and before Prefect starts a server)
    specs, problems = [], []
    for path in args.specs:
        try:
            spec = load_spec(path, args.overrides)
            if spec.is_image:  # labelled images: read them and check the spec's classes
                from synth.images.sources import check_image_spec

                check_image_spec(spec)
            else:
                table = load_table(spec.source)
                spec.check_against(table, origin=f"{path} (data {spec.source.path})")
                del table
            specs.append(spec)
        except SynthError as error:
            if len(args.specs) == 1:
                raise
            problems.append(str(error))
    if problems:  # several specs: report every bad one at once, run none
        raise SynthError(f"{len(problems)} of {len(args.specs)} specs are invalid, nothing was run: " + " | ".join(problems))
    if len(specs) > 1:
        return _run_many(args, specs)
    spec = specs[0]

    # 2. run the flow
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    state = pipeline_flow(spec)(spec, return_state=True)
    if state.is_completed():
        outcome = state.result()
        print(f"published {spec.name} {outcome['version']} to {outcome['folder']}")
        if outcome.get("privacy"):
            print(outcome["privacy"])
        return EXIT_OK
    error = state.result(raise_on_failure=False)
    if isinstance(error, SynthError):
        raise error
    if isinstance(error, BaseException):
        print(f"synth run: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_INTERNAL
    print(f"synth run: {state.message}", file=sys.stderr)
    return EXIT_GATE_FAILED


def pipeline_flow(spec):
    """The Prefect flow that runs `spec` (also used by flows/many.py for each of several specs)."""
    if spec.is_image:
        from flows.images import run_image_pipeline

        return run_image_pipeline
    from flows.pipeline import run_pipeline

    return run_pipeline


def _run_many(args: argparse.Namespace, specs: list) -> int:
    from synth.errors import SynthError

    names = [s.name for s in specs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise SynthError(f"several specs publish the dataset name(s) {clashes}; give each spec its own `name:`")
    if args.jobs < 1:
        raise SynthError(f"--jobs must be at least 1, got {args.jobs}")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.many import run_concurrently

    codes = {"published": EXIT_OK, "gate failed": EXIT_GATE_FAILED, "bad input": EXIT_BAD_INPUT, "internal error": EXIT_INTERNAL}
    worst = EXIT_OK
    for path, outcome in zip(args.specs, run_concurrently(specs, min(args.jobs, len(specs)))):
        if outcome["status"] == "published":
            print(f"published {outcome['name']} {outcome['version']} to {outcome['folder']}")
            if outcome.get("privacy"):
                print(f"{outcome['name']}: {outcome['privacy']}")
        else:
            print(f"synth run {path}: {outcome['status']}: {outcome['message']}", file=sys.stderr)
        worst = max(worst, codes[outcome["status"]])
    return worst
