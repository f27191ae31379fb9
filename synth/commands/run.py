"""`synth run SPEC`: the whole pipeline as a Prefect flow."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synth.commands import EXIT_GATE_FAILED, EXIT_INTERNAL, EXIT_OK


def register(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run a pipeline spec: load, train, sample, validate, publish",
        description="Run a pipeline spec as a Prefect flow. Exit 0: published; 1: the gate failed "
        "(nothing published); 2: bad spec or data.",
    )
    run.add_argument("spec", type=Path, help="pipeline spec, e.g. pipelines/adult_tvae.yaml")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a spec value by its dotted key (repeatable), e.g. --set generator.epochs=2 --set rows=1000",
    )


def execute(args: argparse.Namespace) -> int:
    from synth.data import load_table
    from synth.errors import SynthError
    from synth.spec import load_spec

    # 1. check every input before any compute (and before Prefect starts a server)
    spec = load_spec(args.spec, args.overrides)
    table = load_table(spec.source)
    spec.check_against(table, origin=f"{args.spec} (data {spec.source.path})")
    del table

    # 2. run the flow
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.pipeline import run_pipeline

    state = run_pipeline(spec, return_state=True)
    if state.is_completed():
        outcome = state.result()
        print(f"published {spec.name} {outcome['version']} to {outcome['folder']}")
        return EXIT_OK
    error = state.result(raise_on_failure=False)
    if isinstance(error, SynthError):
        raise error
    if isinstance(error, BaseException):
        print(f"synth run: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_INTERNAL
    print(f"synth run: {state.message}", file=sys.stderr)
    return EXIT_GATE_FAILED
