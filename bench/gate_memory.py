"""Peak memory of the gate on a high-cardinality table (issue 13, item 4).

Writes a table of ROWS rows with a string column of ROWS distinct values and
four ordinary columns (real, a quarter as many holdout rows, and as many
synthetic rows with new keys), runs `synth validate` on it in a child process
with the default settings, and records the child's peak resident memory
(`getrusage`) and the gate's time per suite in bench/results/gate_memory.json.

    .venv/bin/python bench/gate_memory.py [--rows 50000]

Before the fix this table (50,000 rows) took 22.5 GB and was killed by the
OOM killer on a 24 GB machine; the child here runs under an 8 GB
address-space limit so a regression fails instead of taking the machine down.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "gate_memory.json"


def _table(rows: int, seed: int, first_key: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "key": [f"k-{first_key + i:07d}" for i in range(rows)],
        "x": rng.normal(size=rows), "y": rng.integers(0, 100, rows),
        "group": rng.choice(list("abcde"), rows), "label": rng.choice(["yes", "no"], rows),
    })


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (8 * 1024**3, 8 * 1024**3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory(prefix="gate-memory-") as folder:
        folder = Path(folder)
        for name, table in (("real", _table(rows, 0, 0)), ("holdout", _table(rows // 4, 1, rows)),
                            ("synthetic", _table(rows, 2, 2 * rows))):
            table.to_parquet(folder / f"{name}.parquet", index=False)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "synth.cli", "validate", "--real", folder / "real.parquet",
             "--synthetic", folder / "synthetic.parquet", "--holdout", folder / "holdout.parquet",
             "--target", "label", "--report", folder / "report"],
            capture_output=True, text=True, cwd=ROOT, preexec_fn=_limit_address_space, stdin=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        if done.returncode not in (0, 1):
            sys.exit(f"synth validate exited {done.returncode}:\n{done.stderr[-3000:]}")
        gate = json.loads((folder / "report" / "gate.json").read_text())
    result = {
        "rows": rows, "distinct_keys": rows, "holdout_rows": rows // 4,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2, 3),
        "wall_seconds": round(seconds, 1), "gate_seconds": gate["seconds"],
        "seconds_per_suite": gate["details"]["seconds_per_suite"],
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores "
                   "(shared with other jobs while measured)",
        "before_fix": "22.5 GB, killed by the OOM killer (issue 13); 2,000 rows: 0.75 GB, gate 516 s",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
