"""`synth validate`: the publishing gate on any pair of files, without training or publishing."""

from __future__ import annotations

import argparse
from pathlib import Path

from synth.commands import EXIT_GATE_FAILED, EXIT_OK


def register(commands) -> None:
    validate = commands.add_parser(
        "validate",
        help="run the gate on a real and a synthetic file (no training, nothing published)",
        description="Judge a synthetic table against the real one with the same checks `synth run` uses. "
        "Exit 0: every required check passed; 1: the gate failed; 2: bad input.",
    )
    validate.add_argument("--real", type=Path, required=True,
                          help="the real rows the generator was trained on (.csv or .parquet)")
    validate.add_argument("--synthetic", type=Path, required=True,
                          help="the synthetic rows to judge (.csv with a header, or .parquet)")
    validate.add_argument("--holdout", type=Path,
                          help="real rows the generator never saw: enables the DCR, membership and utility checks")
    validate.add_argument(
        "--spec", type=Path,
        help="a pipeline spec: its source read options apply to --real/--holdout, and its target, thresholds and "
        "constraints to the gate",
    )
    validate.add_argument("--target", help="column a downstream model predicts (utility check: classes or regression); "
                                            "overrides the spec's")
    validate.add_argument("--report", type=Path, metavar="DIR",
                          help="write report.html, gate.json and each GX suite's result into DIR")
    validate.add_argument("--seed", type=int, default=0, help="seed for subsampling and the checks' models")


def execute(args: argparse.Namespace) -> int:
    from synth.errors import DataError, SynthError

    if args.report is not None and args.report.exists() and not args.report.is_dir():
        raise SynthError(f"--report {args.report}: exists and is not a folder")

    real, holdout, synthetic, validation, target, constraints = _inputs(args)
    for label, path, table in (("--synthetic", args.synthetic, synthetic), ("--holdout", args.holdout, holdout)):
        if table is None:
            continue
        missing = [c for c in real.columns if c not in table.columns]
        extra = [c for c in table.columns if c not in real.columns]
        if missing or extra:
            raise DataError(
                f"{label} {path}: columns differ from --real {args.real}: missing {missing}, unexpected {extra}; "
                "both files must have the same columns"
            )
    if target is not None and target not in real.columns:
        raise DataError(f"--target {target!r} is not a column of {args.real}; columns: {list(real.columns)}")
    if constraints:
        from synth.constraints import ConstraintSet

        ConstraintSet.from_spec(constraints).check(real, where=f"{args.spec}: constraints")

    from validation.gate import run_gate

    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
    report = run_gate(real, holdout, synthetic[list(real.columns)], target=target, seed=args.seed,
                      constraints=constraints, **validation.model_dump())

    for check in report.checks:
        print(check.one_line())
    verdict = "passed" if report.passed else f"FAILED ({len(report.failed)} required checks failed)"
    print(f"gate {verdict}: {len(report.checks)} checks in {report.seconds:.1f} s")
    if args.report is not None:
        import json

        from validation.report import write_report

        (args.report / "gate.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
        for suite, result in report.suite_results.items():
            (args.report / f"{suite}_suite_result.json").write_text(json.dumps(result, indent=2, default=str))
        page = write_report(
            args.report / "report.html", report, real, synthetic, seed=args.seed,
            title=f"Gate report: {args.synthetic.name}",
            subtitle=f"{len(synthetic):,} synthetic rows from {args.synthetic} judged against {len(real):,} real rows "
            f"from {args.real}"
            + (f" and {len(holdout):,} holdout rows from {args.holdout}" if holdout is not None else ""),
        )
        print(f"report: {page}")
    return EXIT_OK if report.passed else EXIT_GATE_FAILED


def _inputs(args: argparse.Namespace):
    """Read the three tables; the spec (if any) supplies read options, thresholds and target."""
    from synth.data import load_table
    from synth.spec import SourceSpec, ValidationSpec, load_spec

    if args.spec is not None:
        spec = load_spec(args.spec)
        options = spec.source.model_dump(exclude={"path", "format"})  # format follows each file's suffix
        validation, target, constraints = spec.validation, spec.target, list(spec.constraints)
    else:
        options, validation, target, constraints = {}, ValidationSpec(), None, []
    if args.target is not None:
        target = args.target

    def real_rows(path: Path | None):
        return None if path is None else load_table(SourceSpec(path=path, **options))

    # synthetic rows are our own output: Parquet, or CSV with a header
    synthetic = load_table(SourceSpec(path=args.synthetic))
    return real_rows(args.real), real_rows(args.holdout), synthetic, validation, target, constraints
