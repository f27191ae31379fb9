"""Benchmark column profiling (synth.profile) and `synth init`: time and peak memory per table.

    .venv/bin/python bench/profile.py                 # every shared benchmark table + a synthetic 100k × 50 table
    .venv/bin/python bench/profile.py --out /tmp/prof  # results elsewhere

Each table is measured in its own process, so its peak memory is its own: the CSV is sniffed, read as
`synth init` reads it (synth.data.load_table), then `profile_table` is timed, and run once more under
tracemalloc for the peak memory the profiling itself allocates (numpy and pandas report their buffers to
tracemalloc). Then the whole `synth init` (sniff, read, profile, write the spec, read it back, load its
source and check it) is timed, and the process's peak resident memory (everything: libraries, the table,
both reads) is taken from getrusage. Tables under ../shared/data that are absent are skipped with the
reason. The synthetic table (100,000 rows × 50 columns: floats, heavy-tailed amounts, integer codes,
integers with gaps, categories, codes, and numbers with '?' markers) is written as a CSV first (not timed).
Writes bench/results/profile.json and bench/results/profile.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

TABLES = {  # name: path (relative to ../shared/data, or "bundled:" relative to the project, or "synthetic")
    "adult (bundled, .gz)": "bundled:data/adult/adult.data.gz",
    "adult": "adult/adult.data",
    "shoppers": "shoppers/online_shoppers_intention.csv.gz",
    "magic": "magic/magic04.data.gz",
    "beijing_pm25": "beijing_pm25/PRSA_data_2010.1.1-2014.12.31.csv.gz",
    "german_credit": "german_credit/german.data",
    "telco_churn": "telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv",
    "diabetes": "diabetes/diabetic_data.csv.gz",
    "synthetic 100k × 50": "synthetic",
}


def synthetic_csv(path: Path, rows: int = 100_000, seed: int = 0) -> None:
    """A 100k × 50 table with every kind the profiler tells apart, as a CSV."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(10):
        columns[f"float_{i}"] = rng.normal(50, 10, rows).round(3)
    for i in range(8):
        columns[f"amount_{i}"] = np.where(rng.random(rows) < 0.5, 0, rng.lognormal(5, 1.5, rows)).round(2)
    for i in range(8):
        columns[f"code_{i}"] = rng.integers(1, 12, rows)
    for i in range(6):
        gappy = rng.integers(0, 500, rows).astype(float)
        gappy[rng.random(rows) < 0.05] = np.nan
        columns[f"gappy_int_{i}"] = gappy
    for i in range(10):
        columns[f"category_{i}"] = rng.choice([f"level_{k}" for k in range(5 + 3 * i)], rows)
    for i in range(4):
        marked = rng.integers(0, 10_000, rows).astype(str).astype(object)
        marked[rng.random(rows) < 0.02] = "?"
        columns[f"marked_{i}"] = marked
    columns["record_id"] = rng.permutation(rows) + 10_000_000
    columns["customer_code"] = [f"CU-{k:07d}" for k in rng.permutation(rows)]
    columns["wide_category"] = rng.choice([f"item{k}" for k in range(300)], rows)
    columns["label"] = rng.choice(["yes", "no"], rows)
    pd.DataFrame(columns).to_csv(path, index=False)


def measure(path: Path) -> dict:
    """Runs in the child process: sniff, read, profile (timed, then traced), then the whole `synth init`."""
    import resource
    import tracemalloc

    from synth.cli import main
    from synth.data import load_table
    from synth.profile import profile_table, sniff_csv
    from synth.spec import SourceSpec

    started = time.perf_counter()
    if path.suffix.lower() in (".parquet", ".pq"):
        source = SourceSpec(path=path, format="parquet")
    else:
        layout = sniff_csv(path)
        names = None if layout.header else [f"col{i + 1}" for i in range(layout.fields)]
        source = SourceSpec(path=path, format="csv", header=layout.header, columns=names, sep=layout.sep)
    table = load_table(source)
    read_s = time.perf_counter() - started

    started = time.perf_counter()
    profiles = profile_table(table)
    profile_s = time.perf_counter() - started

    tracemalloc.start()
    profile_table(table)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "spec.yaml"
        started = time.perf_counter()
        with open(os.devnull, "w") as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                code = main(["init", str(path), "--out", str(out)])
            finally:
                sys.stdout = stdout
        init_s = time.perf_counter() - started
    kinds: dict[str, int] = {}
    for p in profiles:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    return {
        "rows": len(table), "columns": table.shape[1], "read_s": round(read_s, 2), "profile_s": round(profile_s, 2),
        "profile_peak_mb": round(traced_peak / 2**20, 1), "init_s": round(init_s, 2), "init_exit": code,
        "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "kinds": kinds, "left_out": [p.name for p in profiles if not p.keep],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: measure one file, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one))))
        return

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, where in TABLES.items():
            if where == "synthetic":
                path = Path(folder) / "synthetic_100k_x_50.csv"
                synthetic_csv(path)
            elif where.startswith("bundled:"):
                path = ROOT / where.removeprefix("bundled:")
            else:
                path = SHARED / where
            if not path.is_file():
                results[name] = {"skipped": f"{path} is absent (the shared benchmark data lives next to the checkout)"}
                print(f"{name}: skipped ({results[name]['skipped']})", flush=True)
                continue
            done = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True,
                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if done.returncode != 0:
                results[name] = {"skipped": f"failed: {done.stderr.strip().splitlines()[-1:]}"}
            else:
                results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{name}: {results[name]}", flush=True)

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    meta = {"when": stamp, "python": platform.python_version(), "cpus": os.cpu_count(), "load_average_1min": load}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.json").write_text(json.dumps({"meta": meta, "tables": results}, indent=2) + "\n")
    lines = [
        f"# Column profiling and `synth init` ({stamp}, {os.cpu_count()} CPUs, load average {load:.1f} at the end)",
        "",
        "`bench/profile.py`: each table in its own process. *read*: sniff + `load_table`; *profile*: "
        "`profile_table` alone; *profile peak*: memory it allocates (tracemalloc); *init*: the whole `synth init` "
        "(sniff, read, profile, write, read back, load the source, check); *process peak*: the process's peak "
        "resident memory (libraries and every read included).",
        "",
        "| table | rows × columns | read s | profile s | profile peak MB | init s | process peak MB | left out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | | | | |")
            continue
        lines.append(f"| {name} | {r['rows']:,} × {r['columns']} | {r['read_s']} | {r['profile_s']} | "
                     f"{r['profile_peak_mb']} | {r['init_s']} | {r['process_peak_rss_mb']} | "
                     f"{', '.join(r['left_out']) or '-'} |")
    (args.out / "profile.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'profile.md'}")


if __name__ == "__main__":
    main()
