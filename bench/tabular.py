"""Benchmark the tabular generators against SDV's, side by side, in one run.

    .venv/bin/python bench/tabular.py --epochs 300        # the papers' setting (about 45 minutes on 2 cores)
    .venv/bin/python bench/tabular.py --epochs 100
    .venv/bin/python bench/tabular.py --quick             # 2 epochs on 3,000 rows: does it run?

On UCI Adult's original train split (32,561 rows), for ours and SDV's CTGAN
and TVAE at the same epochs and batch size, plus our Gaussian copula:

- fit seconds (everything `fit` does, the data transformer included);
- seconds to sample 100,000 rows;
- sdmetrics quality score (QualityReport, 20,000 rows of each table);
- machine-learning efficacy as in the CTGAN paper: AdaBoost, decision tree,
  logistic regression and MLP (scikit-learn defaults) trained on as many
  synthetic rows as real training rows, F1 of the positive class ">50K" on
  the real test split (16,281 rows), averaged; the same models trained on
  the real rows give the ceiling.

Writes bench/results/tabular.json and bench/results/tabular.md. Ratios are
ours / SDV's from this same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TARGET, POSITIVE = "income", ">50K"
MODELS = ("ours_ctgan", "sdv_ctgan", "ours_tvae", "sdv_tvae", "ours_copula")


def adult(split: str):
    from examples._adult import real_split

    return real_split(split)


class SDV:
    """SDV 2.0's single-table synthesizers behind our fit/sample contract."""

    def __init__(self, kind: str, epochs: int, batch_size: int):
        self.kind, self.epochs, self.batch_size = kind, epochs, batch_size

    def fit(self, table):
        from sdv.metadata import Metadata
        from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

        metadata = Metadata.detect_from_dataframes({"adult": table})
        cls = CTGANSynthesizer if self.kind == "ctgan" else TVAESynthesizer
        self.model = cls(metadata, epochs=self.epochs, batch_size=self.batch_size, verbose=False)
        self.model.fit({"adult": table})
        return self

    def sample(self, n: int, seed: int = 0):
        return self.model.sample(n)["adult"]


def build(name: str, epochs: int, batch_size: int):
    from synth.models import build_generator

    if name.startswith("sdv_"):
        return SDV(name.removeprefix("sdv_"), epochs, batch_size)
    kind = {"ours_ctgan": "ctgan", "ours_tvae": "tvae", "ours_copula": "gaussian_copula"}[name]
    hyper = {} if kind == "gaussian_copula" else {"epochs": epochs, "batch_size": batch_size}
    return build_generator(kind, hyper, device="cpu", seed=0, verbose=False)


def efficacy(train, test, quick: bool) -> dict[str, float]:
    """CTGAN-paper protocol: four scikit-learn classifiers with defaults, positive-class F1 on the real test split."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from examples._adult import xy

    x_train, y_train = xy(train)
    x_test, y_test = xy(test)
    models = {
        "adaboost": AdaBoostClassifier(),
        "decision_tree": DecisionTreeClassifier(),
        "logistic_regression": LogisticRegression(),
        "mlp": MLPClassifier(max_iter=20 if quick else 200),
    }
    scores = {}
    for name, model in models.items():
        encode = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include=object)),
            (StandardScaler(), make_column_selector(dtype_include="number")),
        )
        if y_train.nunique() < 2:  # a collapsed generator made one class only: that class is all it can predict
            scores[name] = float(f1_score(y_test, [y_train.iloc[0]] * len(y_test), pos_label=POSITIVE, zero_division=0))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings at the defaults, as in the paper's protocol
            predicted = make_pipeline(encode, model).fit(x_train, y_train).predict(x_test)
        scores[name] = float(f1_score(y_test, predicted, pos_label=POSITIVE))
    scores["mean"] = sum(scores.values()) / len(models)
    return scores


def quality(real, synthetic) -> float:
    from synth.spec import ValidationSpec
    from validation.fidelity import quality_checks

    v = ValidationSpec()
    checks, _ = quality_checks(real, synthetic, min_quality=v.min_quality, min_column_shapes=v.min_column_shapes,
                               min_pair_trends=v.min_pair_trends, max_rows=20_000)
    return checks[0].value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sample-rows", type=int, default=100_000, help="rows sampled for the timing")
    parser.add_argument("--quick", action="store_true", help="2 epochs on 3,000 rows, 10,000 sampled: a smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.sample_rows = 2, 10_000

    import torch

    train, test = adult("train"), adult("test")
    if args.quick:
        train, test = train.sample(3000, random_state=0), test.sample(3000, random_state=0)
    results = {
        "settings": {"epochs": args.epochs, "batch_size": args.batch_size, "train_rows": len(train), "test_rows": len(test),
                     "quick": args.quick},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "real": {"efficacy": efficacy(train, test, args.quick)},
        "models": {},
    }
    print(f"real ceiling: {results['real']['efficacy']}", flush=True)
    for name in args.models:
        print(f"{name}: fitting ({args.epochs} epochs) ...", flush=True)
        model = build(name, args.epochs, args.batch_size)
        started = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        big = model.sample(args.sample_rows, seed=1)
        sample_seconds = time.perf_counter() - started
        synthetic = big.iloc[: len(train)].reset_index(drop=True) if len(big) >= len(train) else model.sample(len(train), seed=2)
        row = {
            "fit_seconds": round(fit_seconds, 1),
            "sample_seconds": round(sample_seconds, 2),
            "quality": round(quality(train, synthetic), 4),
            "efficacy": efficacy(synthetic[train.columns], test, args.quick),
        }
        row["efficacy_vs_real"] = round(row["efficacy"]["mean"] / results["real"]["efficacy"]["mean"], 3)
        results["models"][name] = row
        print(f"  {row}", flush=True)

    for ours, theirs in (("ours_ctgan", "sdv_ctgan"), ("ours_tvae", "sdv_tvae")):
        if ours in results["models"] and theirs in results["models"]:
            a, b = results["models"][ours], results["models"][theirs]
            results.setdefault("ratios", {})[ours.removeprefix("ours_")] = {
                "fit_time_ours_over_sdv": round(a["fit_seconds"] / b["fit_seconds"], 3),
                "sample_time_ours_over_sdv": round(a["sample_seconds"] / b["sample_seconds"], 3),
                "quality_difference": round(a["quality"] - b["quality"], 4),
                "efficacy_ours_over_sdv": round(a["efficacy"]["mean"] / b["efficacy"]["mean"], 3) if b["efficacy"]["mean"] else None,
            }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "tabular_quick" if args.quick else "tabular"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{stem}.md").write_text(render(results))
    print(render(results))


def render(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    lines = [
        f"## Tabular generators on Adult: {s['epochs']} epochs, batch {s['batch_size']}"
        + (" (QUICK smoke run: not a result)" if s["quick"] else ""),
        "",
        f"{s['train_rows']:,} training rows, {s['test_rows']:,} real test rows; {m['cpu_count']} CPU cores, "
        f"torch {m['torch']} ({m['torch_threads']} threads), GPU: {m['gpu'] or 'none'}.",
        "",
        "| model | fit s | sample 100k s | quality | efficacy F1 (AdaBoost / tree / logreg / MLP → mean) | vs real |",
        "|---|---|---|---|---|---|",
    ]
    real = results["real"]["efficacy"]
    lines.append(f"| real data | – | – | – | {real['adaboost']:.3f} / {real['decision_tree']:.3f} / "
                 f"{real['logistic_regression']:.3f} / {real['mlp']:.3f} → **{real['mean']:.3f}** | 1.000 |")
    for name, r in results["models"].items():
        e = r["efficacy"]
        lines.append(f"| {name} | {r['fit_seconds']} | {r['sample_seconds']} | {r['quality']:.3f} | {e['adaboost']:.3f} / "
                     f"{e['decision_tree']:.3f} / {e['logistic_regression']:.3f} / {e['mlp']:.3f} → **{e['mean']:.3f}** | "
                     f"{r['efficacy_vs_real']:.3f} |")
    for kind, r in results.get("ratios", {}).items():
        lines.append("")
        lines.append(f"{kind}: fit time ours/SDV **{r['fit_time_ours_over_sdv']}**, sampling time ours/SDV "
                     f"{r['sample_time_ours_over_sdv']}, quality ours − SDV {r['quality_difference']:+.3f}, "
                     f"efficacy ours/SDV {r['efficacy_ours_over_sdv']}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
