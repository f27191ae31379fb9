"""Load check: several `synth run` at once on this machine, and what Prefect costs each run.

    .venv/bin/python bench/load.py --label after            # 2 runs one after another, then 4 at once
    .venv/bin/python bench/load.py --label before --sequential 2 --concurrent 4

Not a timed test: it records what happened. Every run is a real `synth run`
subprocess of a small Gaussian-copula spec (1,000 rows of the bundled Adult
table, 500 synthetic rows, gate thresholds relaxed: this measures the
machinery, not the model) with no PREFECT_API_URL and a fresh PREFECT_HOME,
as a user's first runs would have. A run's *overhead* is its wall time
minus the compute its card records (load + train + sample + validate):
starting Python and the imports, reaching a Prefect server, creating and
closing the flow and task runs, and publishing.

`--label before` was run on the code before issue 13 item 14 (a temporary
Prefect server per run), `--label after` on the shared local server. Each
label writes bench/results/load_<label>.json; bench/results/load.md shows
every label found.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SPEC = ROOT / "pipelines" / "adult_copula.yaml"
RELAXED = [
    "rows=500", "validation.min_quality=0.3", "validation.max_detection_auc=1.0", "validation.min_utility_ratio=0",
    "validation.max_dcr_share=1.0", "validation.max_membership_auc=1.0", "validation.null_tolerance=0.2",
    "validation.max_exact_copy_rate=1.0", "validation.min_column_shapes=0", "validation.min_pair_trends=0",
]


def _source(work: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from synth.data import load_table
    from synth.spec import load_spec

    table = load_table(load_spec(SPEC).source).sample(1000, random_state=0)
    path = work / "adult_1000.data"
    table.to_csv(path, header=False, index=False, na_rep="?")
    return path


def _start(work: Path, source: Path, root: Path, home: Path, tree: Path) -> tuple[subprocess.Popen, float]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", GX_ANALYTICS_ENABLED="false",
               SYNTH_DEVICE="cpu", PYTHONPATH=str(tree))
    sets = [arg for value in [*RELAXED, f"source.path={source}", f"publish.root={root}"] for arg in ("--set", value)]
    process = subprocess.Popen([sys.executable, "-m", "synth.cli", "run", str(SPEC), *sets], cwd=tree, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    return process, time.time()


def _finish(process: subprocess.Popen, started: float, root: Path) -> dict:
    out, err = process.communicate()
    wall = time.time() - started
    record = {"exit": process.returncode, "wall_s": round(wall, 1), "stderr_tail": err.strip().splitlines()[-3:]}
    flow_start = _flow_start(err, started)
    if flow_start is not None:
        record["to_flow_start_s"] = round(flow_start, 1)
    words = out.split()
    if process.returncode == 0 and len(words) >= 3 and words[0] == "published":
        version = words[2]
        card = json.loads((root / "adult_copula" / version / "card.json").read_text())
        compute = sum(v for k, v in card["timings"].items() if k != "total")
        record.update(version=version, compute_s=round(compute, 1), overhead_s=round(wall - compute, 1))
    return record


def _flow_start(err: str, started: float) -> float | None:
    """Seconds from the process start to Prefect's "Beginning flow run" log line (its HH:MM:SS.mmm, local time)."""
    line = next((line for line in err.splitlines() if "Beginning flow run" in line), None)
    if line is None:
        return None
    day = datetime.datetime.fromtimestamp(started)
    clock = datetime.datetime.strptime(line.split(" | ")[0].strip(), "%H:%M:%S.%f")
    at = day.replace(hour=clock.hour, minute=clock.minute, second=clock.second, microsecond=clock.microsecond)
    return at.timestamp() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="before / after: which code this measures")
    parser.add_argument("--sequential", type=int, default=2, help="runs one after another (default 2)")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="the source tree whose `synth` runs (before: `git archive COMMIT | tar -x -C DIR`)")
    parser.add_argument("--concurrent", type=int, default=4, help="runs started together (default 4)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="synth-load-") as tmp:
        work = Path(tmp)
        source, root, home = _source(work), work / "published", work / "prefect-home"
        sequential = []
        for _ in range(args.sequential):
            sequential.append(_finish(*_start(work, source, root, home, args.tree), root))
            print("sequential:", sequential[-1], flush=True)
        started = [_start(work, source, root, home, args.tree) for _ in range(args.concurrent)]
        with ThreadPoolExecutor(len(started)) as pool:  # each run's wall time ends when it ends
            concurrent = list(pool.map(lambda run: _finish(*run, root), started))
        for record in concurrent:
            print("concurrent:", record, flush=True)
        versions = [r.get("version") for r in concurrent]
    result = {
        "label": args.label,
        "tree": "this checkout" if args.tree == ROOT else f"{args.tree} (an export of the code before the change)",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sequential": sequential,
        "concurrent": concurrent,
        "concurrent_all_published_distinct": all(versions) and len(set(versions)) == len(versions),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"load_{args.label}.json").write_text(json.dumps(result, indent=2))
    _write_markdown()


def _write_markdown() -> None:
    lines = [
        "# Load check: `synth run` with no PREFECT_API_URL (bench/load.py)", "",
        "Small Gaussian-copula spec (1,000 Adult rows, 500 synthetic rows). Overhead = wall time minus the",
        "compute the card records (load, train, sample, validate): Python start-up, imports, reaching a",
        "Prefect server, the flow and task runs, publishing. To flow start = from the process start to Prefect's",
        "\"Beginning flow run\" line (imports, the spec and data checks, and reaching a Prefect server).",
        "Both labels below were run back to back on a quiet machine (load averages in each heading). Before,",
        "each run started its own temporary Prefect server, which must answer within Prefect's 20 s; a busy",
        "machine makes it miss (earlier the same day, at load average 7 to 13 from other jobs: 1 of 6 runs",
        "published, none of 4 concurrent). After, the first run starts the shared server (after's sequential 1,",
        "the only cold start) and every later run reuses it. Compare the columns side by side, not with",
        "other days: seconds drift with the machine's load.", "",
    ]
    results = [json.loads(path.read_text()) for path in RESULTS.glob("load_*.json")]
    results.sort(key=lambda r: (r["label"] != "before", r["label"]))
    lines += ["| code | runs published | to flow start s (each published run) | overhead s |", "|---|---|---|---|"]
    for result in results:
        runs = result["sequential"] + result["concurrent"]
        done = [r for r in runs if r["exit"] == 0]
        lines.append(f"| {result['label']} | {len(done)} of {len(runs)} | "
                     f"{', '.join(str(r.get('to_flow_start_s', '-')) for r in done) or '-'} | "
                     f"{', '.join(str(r.get('overhead_s', '-')) for r in done) or '-'} |")
    lines.append("")
    for result in results:
        lines += [f"## {result['label']} ({result['date']}; {result['machine']}; code: {result['tree']}; load average "
                  f"at the end {result['load_average_at_end']})", "",
                  "| run | exit | version | wall s | to flow start s | compute s | overhead s |",
                  "|---|---|---|---|---|---|---|"]
        for kind in ("sequential", "concurrent"):
            for i, r in enumerate(result[kind], start=1):
                lines.append(f"| {kind} {i} | {r['exit']} | {r.get('version', '-')} | {r['wall_s']} | "
                             f"{r.get('to_flow_start_s', '-')} | {r.get('compute_s', '-')} | "
                             f"{r.get('overhead_s', '-')} |")
        failed = [r["stderr_tail"] for r in result["sequential"] + result["concurrent"] if r["exit"] != 0]
        lines += ["", f"{len(result['concurrent'])} concurrent runs all published distinct versions: "
                  f"**{'yes' if result['concurrent_all_published_distinct'] else 'no'}**"]
        lines += [f"- failed run, last stderr lines: `{' / '.join(t)[:300]}`" for t in failed]
        lines.append("")
    (RESULTS / "load.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
