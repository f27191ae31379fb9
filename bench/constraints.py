"""What constraints cost when sampling: 1M rows with and without rules, side by side in one run.

Adult gets one made-up column, `entry-age` = age minus 0..5 years, so the rule `entry-age <= age` holds in
every real row while a model that learns the two columns' relation imperfectly breaks it in some of its raw
rows (kept by rejection; the share it breaks is measured and reported), plus `capital-gain == 0 or
capital-loss == 0` (rejection), a fixed combination (education ↔ education-num) and a derived column
(`net-gain`), both kept by construction. Each model is trained briefly on Adult (the
cost of sampling does not depend on how well it is trained); the same model samples with and without rules.
Peak memory of each sampling call is measured in a child process (ru_maxrss).

    python bench/constraints.py            # 1,000,000 rows, tvae and gaussian_copula
    python bench/constraints.py --rows 200000 --kinds gaussian_copula

Writes bench/results/constraints.json and constraints.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/ off the import path: bench/profile.py would shadow Python's `profile`, which torch imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
ADULT = ROOT / "data" / "adult" / "adult.data.gz"
COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
           "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
           "income"]
TRAIN = {"tvae": {"epochs": 3, "batch_size": 500}, "gaussian_copula": {}}


def _table():
    import numpy as np
    import pandas as pd

    table = pd.read_csv(ADULT, header=None, names=COLUMNS, skipinitialspace=True, na_values=["?"])
    table["net-gain"] = table["capital-gain"] - table["capital-loss"]
    table["entry-age"] = table["age"] - np.random.default_rng(0).integers(0, 6, len(table))
    return table


def _sample(args: tuple) -> dict:
    """In a child: fit, then time one sampling call; peak RSS of the child."""
    kind, rows, rules = args
    from synth.models import build_generator

    table = _table()
    model = build_generator(kind, TRAIN[kind], device="cpu", seed=0, verbose=False)
    model.fit(table, constraints=rules)
    started = time.perf_counter()
    out = model.sample(rows, seed=1)
    seconds = time.perf_counter() - started
    described = model.constraints_.describe()
    broken = {d["constraint"]: d.get("rejection_rate") for d in described}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows": len(out), "peak_rss_mb": peak, "rejection": broken}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--kinds", nargs="+", default=["tvae", "gaussian_copula"])
    args = parser.parse_args(argv)
    context = mp.get_context("spawn")
    results = {}
    for kind in args.kinds:
        rules = ["entry-age <= age", "capital-gain == 0 or capital-loss == 0",
                 "fixed combinations of education, education-num", "net-gain = capital-gain - capital-loss"]
        runs = {}
        for label, spec in (("without", []), ("with", rules)):
            with context.Pool(1) as pool:
                runs[label] = pool.apply(_sample, ((kind, args.rows, spec),))
            print(f"{kind} {label} rules: {runs[label]['seconds']:.1f} s, peak {runs[label]['peak_rss_mb']:.0f} MB",
                  flush=True)
        ratio = runs["with"]["seconds"] / runs["without"]["seconds"]
        results[kind] = {"rules": rules, **runs, "time_ratio": round(ratio, 3)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "constraints.json").write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    lines = [f"# Sampling {args.rows:,} rows with and without constraints (Adult)", "",
             "| kind | without: s | with: s | ratio | peak MB without (fit + sample) | peak MB with | candidate rows "
             "rejected: entry-age <= age | gain/loss |", "|---|---|---|---|---|---|---|---|"]
    for kind, r in results.items():
        age_rate, gain_rate = (r["with"]["rejection"].get(rule) for rule in r["rules"][:2])
        lines.append(f"| {kind} | {r['without']['seconds']:.1f} | {r['with']['seconds']:.1f} | {r['time_ratio']:.2f} | "
                     f"{r['without']['peak_rss_mb']:.0f} | {r['with']['peak_rss_mb']:.0f} | {age_rate:.1%} | "
                     f"{gain_rate:.1%} |")
    lines += ["", f"Rules: {', '.join(results[next(iter(results))]['rules'])}."]
    (RESULTS / "constraints.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    main()
