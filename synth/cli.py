"""The `synth` command line.

Start-up must stay instant, so this module imports only the standard library
at the top; torch, pandas, Prefect and Great Expectations are imported inside
the command that needs them. Exit codes: 0 success, 1 the gate failed,
2 bad input (spec, data, paths, model folder), always as one line on stderr;
3 an unexpected internal error (a bug: please report it with the flow's log).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_GATE_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synth",
        description="Train a generator on a real table, check fidelity and privacy, publish only what passes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a pipeline spec: load, train, sample, validate, publish",
        description="Run a pipeline spec as a Prefect flow. Exit 0: published; 1: the gate failed "
        "(nothing published); 2: bad spec or data.",
    )
    run.add_argument("spec", type=Path, help="pipeline spec, e.g. pipelines/adult_ctgan.yaml")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a spec value by its dotted key (repeatable), e.g. --set generator.epochs=2 --set rows=1000",
    )

    generate = commands.add_parser(
        "generate",
        help="sample a one-off batch from a saved model, without retraining",
        description="Sample rows from a saved model folder (e.g. data/published/adult/v1/model).",
    )
    generate.add_argument("model", type=Path, help="model folder holding config.json and weights")
    generate.add_argument("--rows", type=int, required=True, help="number of rows to generate")
    generate.add_argument("--out", type=Path, required=True, help="output file: .parquet or .csv")
    generate.add_argument("--seed", type=int, default=None, help="seed for a reproducible batch")
    generate.add_argument(
        "--condition", action="append", default=[], metavar="COLUMN=VALUE",
        help='fix a categorical column, e.g. --condition income=">50K"',
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from synth.errors import SynthError

    try:
        if args.command == "run":
            return _run(args)
        return _generate(args)
    except SynthError as err:
        print(f"synth {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"synth {args.command}: interrupted; nothing was published", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from synth.data import load_table
    from synth.errors import DataError, SynthError
    from synth.spec import load_spec

    # 1. check every input before any compute (and before Prefect starts a server)
    spec = load_spec(args.spec, args.overrides)
    table = load_table(spec.source)
    if spec.target and spec.target not in table.columns:
        raise DataError(f"{spec.source.path}: target column {spec.target!r} is not in the table; columns: {list(table.columns)}")
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


def _generate(args: argparse.Namespace) -> int:
    from synth.errors import SynthError

    if args.rows < 1:
        raise SynthError(f"--rows must be a positive number, got {args.rows}")
    suffix = args.out.suffix.lower()
    if suffix not in {".parquet", ".csv"}:
        raise SynthError(f"--out {args.out}: use a .parquet or .csv file name")
    if not args.out.parent.exists():
        raise SynthError(f"--out {args.out}: folder {args.out.parent} does not exist")
    conditions = {}
    for text in args.condition:
        column, sep, value = text.partition("=")
        if not sep:
            raise SynthError(f"--condition {text!r}: expected COLUMN=VALUE, e.g. --condition income='>50K'")
        conditions[column] = value

    from synth.models import load_generator
    from synth.settings import get_settings, resolve_device

    model = load_generator(args.model, device=resolve_device(get_settings().device))
    table = model.sample(args.rows, conditions=conditions or None, seed=args.seed)
    # write next to the target and rename, so a failed write leaves nothing behind
    tmp = args.out.with_name(f".{args.out.name}.partial")
    try:
        if suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        tmp.replace(args.out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {len(table)} rows to {args.out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
