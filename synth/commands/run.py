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
        "(nothing published); 2: bad spec or data; 3: internal error, or the local Prefect server did not start; "
        "130/143: interrupted by SIGINT/SIGTERM (nothing published unless the publish had committed). Several "
        "specs (synth run pipelines/*.yaml) run concurrently, each in its own process; every spec is checked "
        "before any starts, and the exit code is the worst outcome.",
    )
    run.add_argument("specs", nargs="+", type=Path, metavar="SPEC",
                     help="pipeline spec(s), e.g. pipelines/adult_tvae.yaml")
    run.add_argument("--jobs", type=int, default=2,
                     help="with several specs: how many pipelines run at once (default 2)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a spec value by its dotted key (repeatable), e.g. --set generator.epochs=2 --set rows=1000",
    )
    run.add_argument(
        "--resume", action="store_true",
        help="continue the last interrupted run of this spec from its training checkpoint (the same model as an "
        "uninterrupted run); refused, exit 2, when there is none or the spec or data changed since",
    )


def execute(args: argparse.Namespace) -> int:
    from synth import interrupts

    with interrupts.handled():  # Ctrl-C / SIGTERM: stop within seconds, never half-publish (synth/interrupts.py)
        return _execute(args)


def _execute(args: argparse.Namespace) -> int:
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

                _check_resume(args, spec, check_image_spec(spec), path)
            else:
                table = load_table(spec.source)
                spec.check_against(table, origin=f"{path} (data {spec.source.path})")
                _check_resume(args, spec, table, path)
                del table
            specs.append(spec)
        except SynthError as error:
            if len(args.specs) == 1:
                raise
            problems.append(str(error))
    if problems:  # several specs: report every bad one at once, run none
        raise SynthError(f"{len(problems)} of {len(args.specs)} specs are invalid, nothing was run: "
                         + " | ".join(problems))
    # 2. only once every spec is valid (nothing is created for a bad one): a full, read-only or file
    #    publish root fails now, not after training
    from synth.catalog import check_publishable

    for spec in specs:
        check_publishable(spec.publish.root, spec.name)
    # 3. evidence (real-data reports) that killed runs left in a root's .staging/ goes now, not after this training
    from flows.staging import remove_stale
    from synth.catalog import root_folder

    for root in {root_folder(spec.publish.root) for spec in specs}:
        remove_stale(root)
    if len(specs) > 1:
        _check_many(args, specs)
        return _with_prefect(_run_many, args, specs)
    return _with_prefect(_run_one, args, specs[0])


def _with_prefect(run, *args) -> int:
    """`run(*args)` against a Prefect API: PREFECT_API_URL, else the shared local server (flows/local_server.py).

    An interrupt propagates as `synth.interrupts.Interrupted`; synth/cli.py reports it (exit 130 or 143).
    """
    from synth.settings import get_settings

    settings = get_settings()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.local_server import ServerStartError, prefect_api

    try:
        with prefect_api(settings.prefect_server_wait, settings.prefect_server_idle):
            try:
                return run(*args)
            except KeyboardInterrupt:
                _flush_prefect()
                raise
    except ServerStartError as error:
        print(f"synth run: error: {error}", file=sys.stderr)
        return EXIT_INTERNAL


def _flush_prefect(timeout: float = 10.0) -> None:
    """Send Prefect's queued logs and events now, while the server is still leased: the interrupt's line
    (synth/cli.py) is then the last one, not followed by Prefect's at-exit "still processing" warnings."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:  # best effort: the run is stopping anyway
            pass


def _run_one(args: argparse.Namespace, spec) -> int:
    from synth.errors import SynthError

    state = pipeline_flow(spec)(spec, resume=args.resume, return_state=True)
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
    """The Prefect flow that runs `spec`; flows/many.py chooses it (this name is what `synth run` calls)."""
    from flows.many import pipeline_flow as flow_for

    return flow_for(spec)


def _check_many(args: argparse.Namespace, specs: list) -> None:
    from synth.errors import SynthError

    names = [s.name for s in specs]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise SynthError(f"several specs publish the dataset name(s) {clashes}; give each spec its own `name:`")
    if args.jobs < 1:
        raise SynthError(f"--jobs must be at least 1, got {args.jobs}")


def _run_many(args: argparse.Namespace, specs: list) -> int:
    from flows.many import run_concurrently

    codes = {"published": EXIT_OK, "gate failed": EXIT_GATE_FAILED, "bad input": EXIT_BAD_INPUT,
             "internal error": EXIT_INTERNAL}
    worst = EXIT_OK
    for path, outcome in zip(args.specs, run_concurrently(specs, min(args.jobs, len(specs))), strict=True):
        if outcome["status"] == "published":
            print(f"published {outcome['name']} {outcome['version']} to {outcome['folder']}")
            if outcome.get("privacy"):
                print(f"{outcome['name']}: {outcome['privacy']}")
        else:
            print(f"synth run {path}: {outcome['status']}: {outcome['message']}", file=sys.stderr)
        worst = max(worst, codes[outcome["status"]])
    return worst


def _check_resume(args: argparse.Namespace, spec, loaded, path: Path) -> None:
    """`--resume`: before anything starts, a checkpoint this spec and data can continue, or one line saying why not."""
    if not args.resume:
        return
    from synth.errors import SynthError
    from synth.resume import check_resume
    from synth.settings import get_settings, resolve_device

    if len(args.specs) > 1:
        raise SynthError(f"{path}: --resume continues one interrupted run; give only that run's spec")
    try:
        device = resolve_device(get_settings().device)
    except ValueError as error:  # pydantic: a SYNTH_* variable that does not parse
        raise SynthError(f"environment: {' '.join(str(error).split())}"[:500]) from None
    print(check_resume(spec, loaded, str(path), device))
