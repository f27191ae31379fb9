"""`synth serve SPEC ...`: run pipelines on their schedules, against a Prefect server."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(commands) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve pipelines on their `schedule:` against a Prefect server (runs until stopped)",
        description="Create one Prefect deployment per spec, with the spec's schedule, and run them as they come due. "
        "Needs a Prefect server: set PREFECT_API_URL (start a local one with `synth server`). Stop with Ctrl-C.",
    )
    parser.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="pipeline specs with a `schedule:` block")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a value in every spec (repeatable), as for `synth run`",
    )
    parser.add_argument("--limit", type=int, default=1, help="flow runs at once (default 1: training uses every core)")


def execute(args: argparse.Namespace) -> int:
    from synth.data import load_table
    from synth.errors import SynthError
    from synth.spec import load_spec

    # 1. every spec must parse, have a schedule and load, before anything is served
    specs = []
    for path in args.specs:
        spec = load_spec(path, args.overrides)
        if spec.schedule is None:
            raise SynthError(f"{path}: no `schedule:` block, so there is nothing to serve; "
                             "add e.g. schedule: {cron: '0 2 * * *'}")
        if spec.is_image:
            from synth.images.sources import check_image_spec

            check_image_spec(spec)
        else:
            spec.check_against(load_table(spec.source), origin=str(path))
        specs.append(spec)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SynthError(f"two specs share a dataset name ({names}); each served pipeline needs its own name")

    # 2. a real server: an ephemeral one would vanish with this process and its schedule with it
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise SynthError(
            "PREFECT_API_URL is not set: schedules need a running Prefect server. Start one with `synth server` "
            "(or `prefect server start`) and run: export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )

    from prefect import serve
    from prefect.schedules import Cron, Interval

    from synth.commands.run import pipeline_flow

    deployments = []
    for spec in specs:
        when = spec.schedule
        schedule = (Cron(when.cron, timezone=when.timezone) if when.cron
                    else Interval(when.interval, timezone=when.timezone))
        deployments.append(pipeline_flow(spec).to_deployment(
            name=spec.name, schedule=schedule, parameters={"spec": spec.model_dump(mode="json")},
            description=spec.description or f"synth pipeline {spec.name}",
        ))
        print(f"serving {spec.name}: {'cron ' + when.cron if when.cron else f'every {when.interval:g} s'} "
              f"({when.timezone})", flush=True)
    serve(*deployments, limit=args.limit, print_starting_message=False)
    return 0
