"""Benchmark the publishing gate: the whole gate on Adult, and our DCR against sdmetrics'.

    .venv/bin/python bench/gate.py                 # full: gate on Adult, DCR at 10k x 10k, gate on 1M rows
    .venv/bin/python bench/gate.py --rows 1000 --gate-rows 3000 --skip-large --out /tmp/gate-smoke   # quick check

Writes bench/results/gate.json and bench/results/gate.md. The synthetic rows
are sampled from our Gaussian copula fitted on the training split (it trains
in a fraction of a second; the gate's cost does not depend on how good the
rows are). Both DCR implementations run in this process, one after the
other, on the same rows; the ratio is theirs / ours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def adult_split(rows: int | None = None):
    from synth.data import load_table, split_holdout
    from synth.spec import load_spec

    table = load_table(load_spec(ROOT / "pipelines" / "adult_tvae.yaml").source)
    if rows is not None and rows < len(table):
        table = table.sample(rows, random_state=0).reset_index(drop=True)
    return split_holdout(table, 0.2, 0)


def copula_rows(train, rows: int):
    from synth.models import build_generator

    model = build_generator("gaussian_copula", {}, device="cpu", seed=0).fit(train)
    return model.sample(rows, seed=1)


def time_gate(train, holdout, synthetic) -> dict:
    from synth.spec import ValidationSpec
    from validation.gate import run_gate

    started = time.perf_counter()
    report = run_gate(train, holdout, synthetic, target="income", **ValidationSpec().model_dump())
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "seconds_per_suite": report.details["seconds_per_suite"],
        "rows": {"train": len(train), "holdout": len(holdout), "synthetic": len(synthetic)},
        "checks": len(report.checks),
        "passed": report.passed,
    }


def ours_dcr(real, synthetic, seed: int = 0) -> float:
    """The same work as DCRBaselineProtection: DCR of the synthetic rows and of uniform random rows to the real rows."""
    import numpy as np

    from validation.encoding import RowEncoder
    from validation.privacy import nearest_distances

    started = time.perf_counter()
    encoder = RowEncoder().fit(real)
    x_real, x_synth = encoder.transform(real), encoder.transform(synthetic)
    rng = np.random.default_rng(seed)
    x_random = rng.random(x_synth.shape, dtype=np.float32)  # a random baseline in the encoded space
    synth_dcr = nearest_distances(x_synth, x_real)[:, 0]
    random_dcr = nearest_distances(x_random, x_real)[:, 0]
    _ = float(np.median(synth_dcr) / max(np.median(random_dcr), 1e-12))
    return time.perf_counter() - started


def sdmetrics_dcr(real, synthetic) -> float:
    from sdmetrics.single_table import DCRBaselineProtection

    from validation.fidelity import sdmetrics_metadata

    started = time.perf_counter()
    DCRBaselineProtection.compute(
        real_data=real, synthetic_data=synthetic, metadata=sdmetrics_metadata(real), table_name=None
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", "--dcr-rows", dest="dcr_rows", type=int, default=10_000,
                        help="rows of each table in the DCR comparison (N x N)")
    parser.add_argument("--gate-rows", type=int, default=None,
                        help="use only this many Adult rows (split 80/20) for the whole-gate runs; default all 32,561")
    parser.add_argument("--large-rows", type=int, default=1_000_000, help="synthetic rows for the large-input gate run")
    parser.add_argument("--skip-large", action="store_true", help="skip the large-input gate run")
    parser.add_argument("--skip-sdmetrics", action="store_true", help="time only our DCR")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    import torch

    train, holdout = adult_split(args.gate_rows)
    results: dict = {
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "synthetic_source": "gaussian_copula fitted on the Adult training split",
    }

    print("1. whole gate on Adult ...", flush=True)
    synthetic = copula_rows(train, len(train) + len(holdout))
    results["gate_adult"] = time_gate(train, holdout, synthetic)
    print(f"   {results['gate_adult']['seconds']} s", flush=True)

    print(f"2. DCR, {args.dcr_rows} x {args.dcr_rows} rows ...", flush=True)
    real = train.sample(args.dcr_rows, random_state=0, replace=args.dcr_rows > len(train))
    synth = copula_rows(train, args.dcr_rows)
    dcr = {"rows": args.dcr_rows, "ours_seconds": round(ours_dcr(real, synth), 3)}
    if not args.skip_sdmetrics:
        dcr["sdmetrics_seconds"] = round(sdmetrics_dcr(real, synth), 2)
        dcr["speedup"] = round(dcr["sdmetrics_seconds"] / dcr["ours_seconds"], 1)
    results["dcr"] = dcr
    print(f"   {dcr}", flush=True)

    if not args.skip_large:
        print(f"3. whole gate, {args.large_rows:,} synthetic rows ...", flush=True)
        results["gate_large"] = time_gate(train, holdout, copula_rows(train, args.large_rows))
        print(f"   {results['gate_large']['seconds']} s", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gate.json").write_text(json.dumps(results, indent=2))
    (args.out / "gate.md").write_text(render(results))
    print(render(results))


def _suites(run: dict) -> str:
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in run["seconds_per_suite"].items())


def render(results: dict) -> str:
    g = results["gate_adult"]
    lines = [
        "## Gate benchmark",
        "",
        f"Machine: {results['machine']['cpu_count']} CPU cores, torch threads {results['machine']['torch_threads']}, "
        f"GPU: {results['machine']['gpu'] or 'none'}. Synthetic rows: {results['synthetic_source']}.",
        "",
        "| run | rows (train / holdout / synthetic) | seconds | per suite (s) |",
        "|---|---|---|---|",
        f"| whole gate, Adult | {g['rows']['train']:,} / {g['rows']['holdout']:,} / {g['rows']['synthetic']:,} | "
        f"{g['seconds']} | {_suites(g)} |",
    ]
    if "gate_large" in results:
        g = results["gate_large"]
        lines.append(
            f"| whole gate, large output | {g['rows']['train']:,} / {g['rows']['holdout']:,} "
            f"/ {g['rows']['synthetic']:,} | "
            f"{g['seconds']} | {_suites(g)} |"
        )
    d = results["dcr"]
    lines += [
        "",
        f"DCR on {d['rows']:,} real × {d['rows']:,} synthetic rows (synthetic and random-baseline distances): ours "
        f"{d['ours_seconds']} s"
        + (f", sdmetrics DCRBaselineProtection {d['sdmetrics_seconds']} s: **{d['speedup']}× faster**."
           if "speedup" in d else "."),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
