"""Benchmark partitioned generation: N Adult rows as a partitioned Parquet dataset on Dask.

    .venv/bin/python bench/scale.py                                  # 10,000,000 rows, 1,000,000 per partition
    .venv/bin/python bench/scale.py --rows 200000 --partition-rows 50000   # quick

Runs the whole pipeline (`synth run pipelines/adult_copula.yaml` with `rows`
and `partition_rows` set) in a child process and samples the resident
memory of that process and every process it starts (the local Dask cluster's
workers included) every 0.2 s; the peak of their sum is what the machine
needed. The copula is used because sampling, not training, is measured; its
detection and utility bars are relaxed since it does not reach them (see
pipelines/adult_copula.yaml). Writes bench/results/scale.json and .md.
Target (issue 7): 10M rows with peak memory under 3 GB on this 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partition-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    import psutil

    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "published"
        sets = [f"rows={args.rows}", f"partition_rows={args.partition_rows}", f"publish.root={root}",
                "validation.max_detection_auc=1.0", "validation.min_utility_ratio=0"]
        command = [str(Path(sys.executable).parent / "synth"), "run", "pipelines/adult_copula.yaml"]
        for item in sets:
            command += ["--set", item]
        env = {**os.environ, "SYNTH_DASK_WORKERS": str(args.workers), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        started = time.perf_counter()
        child = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        peak = {"bytes": 0}

        def watch() -> None:
            parent = psutil.Process(child.pid)
            while child.poll() is None:
                try:
                    processes = [parent, *parent.children(recursive=True)]
                    total = sum(p.memory_info().rss for p in processes if p.is_running())
                    peak["bytes"] = max(peak["bytes"], total)
                except psutil.Error:
                    pass  # a process ended between listing and reading it
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        log, _ = child.communicate()
        seconds = time.perf_counter() - started
        watcher.join()
        if child.returncode != 0:
            sys.exit(f"synth run failed ({child.returncode}):\n{log[-4000:]}")
        data = next(root.glob("adult_copula/v*/data"))
        size = sum(p.stat().st_size for p in data.glob("part-*.parquet"))
        card = json.loads((data.parent / "card.json").read_text())

    result = {
        "rows": card["output"]["rows"], "partitions": card["output"]["partitions"], "workers": args.workers,
        "seconds_total": round(seconds, 1), "timings": card["timings"],
        "peak_rss_mb_all_processes": round(peak["bytes"] / 2**20), "dataset_mb": round(size / 2**20, 1),
        "gate_sample_rows": card["output"]["gate_sample_rows"], "cpu_count": os.cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(result, indent=2))
    md = (f"## Partitioned generation on Dask ({result['cpu_count']} CPU cores, {args.workers} workers)\n\n"
          f"{result['rows']:,} rows in {result['partitions']} partitions ({result['dataset_mb']} MB of Parquet): "
          f"{result['seconds_total']} s for the whole `synth run` (timings {result['timings']}), "
          f"peak memory of all processes {result['peak_rss_mb_all_processes']} MB; every row schema-checked, "
          f"the rest of the gate on a {result['gate_sample_rows']:,}-row sample.\n")
    (args.out / "scale.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
