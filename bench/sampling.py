"""Benchmark large outputs: N rows from each trained generator streamed to Parquet.

    .venv/bin/python bench/sampling.py                  # 1,000,000 rows per generator
    .venv/bin/python bench/sampling.py --rows 100000    # quick

Each generator is trained briefly on Adult (sampling speed does not depend on
how long it trained), then a fresh process loads it and runs
`synth generate MODEL --rows N --out x.parquet`; wall time and that
process's peak resident memory are recorded. Writes bench/results/sampling.json
and .md. Target (issue 3): 1M rows in under 30 s, peak memory under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN = {"ctgan": {"epochs": 1}, "tvae": {"epochs": 1}, "gaussian_copula": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    from synth.data import load_table
    from synth.models import build_generator
    from synth.spec import load_spec

    train = load_table(load_spec(ROOT / "pipelines" / "adult_tvae.yaml").source)
    results = {"rows": args.rows, "cpu_count": os.cpu_count(), "generators": {}}
    with tempfile.TemporaryDirectory() as work:
        for kind, hyper in TRAIN.items():
            model_dir = Path(work) / kind
            build_generator(kind, hyper, device="cpu", seed=0, verbose=False).fit(train).save(model_dir)
            out = Path(work) / f"{kind}.parquet"
            probe = (
                "import resource, sys, time; from synth.cli import main; t = time.perf_counter(); "
                f"code = main(['generate', {str(model_dir)!r}, '--rows', '{args.rows}', "
                f"'--out', {str(out)!r}, '--seed', '0']); "
                "print('SECONDS', time.perf_counter() - t); "
                "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
            )
            done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
            figures = dict(line.split() for line in done.stdout.splitlines() if line.startswith(("SECONDS", "PEAK_KB")))
            seconds, peak_mb = float(figures["SECONDS"]), int(figures["PEAK_KB"]) / 1024
            results["generators"][kind] = {
                "seconds": round(seconds, 2), "rows_per_second": round(args.rows / seconds),
                "peak_rss_mb": round(peak_mb), "file_mb": round(out.stat().st_size / 2**20, 1),
            }
            print(kind, results["generators"][kind], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sampling.json").write_text(json.dumps(results, indent=2))
    lines = [f"## Sampling {args.rows:,} rows to Parquet ({results['cpu_count']} CPU cores)", "",
             "| generator | seconds | rows/s | peak memory (MB) | file (MB) |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['seconds']} | {v['rows_per_second']:,} | {v['peak_rss_mb']} | {v['file_mb']} |"
              for k, v in results["generators"].items()]
    (args.out / "sampling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
