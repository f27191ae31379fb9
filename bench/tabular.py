"""Benchmark the tabular generators against SDV's, side by side, in one run.

    .venv/bin/python bench/tabular.py --epochs 300        # the papers' setting (about 45 minutes on 2 cores)
    .venv/bin/python bench/tabular.py --epochs 100
    .venv/bin/python bench/tabular.py --quick             # 2 epochs on 3,000 rows: does it run?
    .venv/bin/python bench/tabular.py --epochs 300 --device cuda   # on a GPU (ours and SDV's both on it)
    .venv/bin/python bench/tabular.py --epochs 300 --device cuda --precision bf16 --name tabular_cuda_bf16
    .venv/bin/python bench/tabular.py --models ours_tvae sdv_tvae --seeds 3 --name tabular_tvae   # 3 training seeds

On UCI Adult's original train split (32,561 rows), for ours and SDV's CTGAN
and TVAE at the same epochs and batch size, plus our Gaussian copula:

- fit seconds (everything `fit` does, the data transformer included), and
  how they split: transformer seconds (fitting and applying the data
  transformer; for SDV, its RDT preprocessing plus ctgan's DataTransformer)
  and training seconds per epoch (the rest, divided by the epochs). Every
  model is first fitted once for 1 epoch on 1,000 rows (not timed), so the
  process's one-off start-up costs land on none of them;
- GFLOP per training step (torch's FlopCounterMode over one epoch on 2,000
  rows): the arithmetic each implementation does for the same network,
  batch and step, a figure no other load on the machine can change;
- seconds to sample 100,000 rows;
- sdmetrics quality score (QualityReport, 20,000 rows of each table);
- machine-learning efficacy as in the CTGAN paper: AdaBoost, decision tree,
  logistic regression and MLP (scikit-learn defaults) trained on as many
  synthetic rows as real training rows, F1 of the positive class ">50K" on
  the real test split (16,281 rows), averaged; macro-F1 too; the same
  models trained on the real rows give the ceiling.

With `--seeds N` every model is trained with seeds 0 .. N-1 (SDV's through
the global RNGs it draws from) and each figure is the mean, every seed's
quality and efficacy listed beside it: on Adult one TVAE's efficacy moves by
0.04 from one training seed to the next, more than most differences between
implementations, so a one-seed comparison is weak evidence.

Writes bench/results/tabular.json and bench/results/tabular.md (quick runs:
tabular_quick.*; --device cuda: *_cuda.*; `--name` sets another stem). Ratios are ours / SDV's from this
same run, same device, same `--threads` (default: torch's choice).
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

    def __init__(self, kind: str, epochs: int, batch_size: int, device: str = "cpu", seed: int = 0):
        self.kind, self.epochs, self.batch_size, self.device, self.seed = kind, epochs, batch_size, device, seed

    def fit(self, table):
        import random

        import numpy as np
        import torch
        from ctgan.data_transformer import DataTransformer
        from sdv.metadata import Metadata
        from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

        metadata = Metadata.detect_from_dataframes({"adult": table})
        cls = CTGANSynthesizer if self.kind == "ctgan" else TVAESynthesizer
        self.model = cls(metadata, epochs=self.epochs, batch_size=self.batch_size, verbose=False,
                         enable_gpu=self.device == "cuda")
        # Data preparation, timed in place: SDV's RDT preprocessing + ctgan's DataTransformer fit and transform
        # (`transform_seconds_`, as our models report it); the rest of fit is training.
        self.transform_seconds_ = 0.0
        originals = {name: getattr(DataTransformer, name) for name in ("fit", "transform")}

        def timed(method):
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return method(*args, **kwargs)
                finally:
                    self.transform_seconds_ += time.perf_counter() - started
            return wrapper

        for name, method in originals.items():
            setattr(DataTransformer, name, timed(method))
        # SDV draws from the global RNGs
        random.seed(self.seed), np.random.seed(self.seed), torch.manual_seed(self.seed)
        try:
            started = time.perf_counter()
            processed = self.model.preprocess({"adult": table})
            self.transform_seconds_ += time.perf_counter() - started
            self.model.fit_processed_data(processed)
        finally:
            for name, method in originals.items():
                setattr(DataTransformer, name, method)
        return self

    def sample(self, n: int, seed: int = 0):
        return self.model.sample(n)["adult"]


def build(name: str, epochs: int, batch_size: int, device: str = "cpu", seed: int = 0, precision: str = "fp32"):
    from synth.models import build_generator

    if name.startswith("sdv_"):
        return SDV(name.removeprefix("sdv_"), epochs, batch_size, device, seed)
    kind = {"ours_ctgan": "ctgan", "ours_tvae": "tvae", "ours_copula": "gaussian_copula"}[name]
    hyper = {} if kind == "gaussian_copula" else {"epochs": epochs, "batch_size": batch_size, "precision": precision}
    return build_generator(kind, hyper, device=device, seed=seed, verbose=False)


def efficacy(train, test, quick: bool) -> dict[str, float]:
    """CTGAN-paper protocol: four scikit-learn classifiers with defaults, positive-class F1 on the real test split.

    Returns each classifier's positive-class F1, their `mean`, and `macro_f1` (the four classifiers' mean macro-F1).
    """
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
    scores, macro = {}, []
    for name, model in models.items():
        encode = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include=object)),
            (StandardScaler(), make_column_selector(dtype_include="number")),
        )
        if y_train.nunique() < 2:  # a collapsed generator made one class only: that class is all it can predict
            constant = [y_train.iloc[0]] * len(y_test)
            scores[name] = float(f1_score(y_test, constant, pos_label=POSITIVE, zero_division=0))
            macro.append(float(f1_score(y_test, constant, average="macro", zero_division=0)))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings at the defaults, as in the paper's protocol
            predicted = make_pipeline(encode, model).fit(x_train, y_train).predict(x_test)
        scores[name] = float(f1_score(y_test, predicted, pos_label=POSITIVE))
        macro.append(float(f1_score(y_test, predicted, average="macro")))
    scores["mean"] = sum(scores.values()) / len(models)
    scores["macro_f1"] = sum(macro) / len(macro)
    return scores


def flops_per_step(name: str, train, batch_size: int) -> float:
    """GFLOP of one training step (batch `batch_size`), counted by torch's FlopCounterMode over one epoch on
    2,000 rows: the arithmetic the algorithm does, independent of the machine and of other load on it."""
    from torch.utils.flop_counter import FlopCounterMode

    rows = train.sample(min(2000, len(train)), random_state=0)
    model = build(name, 1, batch_size, "cpu")
    with FlopCounterMode(display=False) as counter:
        model.fit(rows)
    return round(counter.get_total_flops() / max(len(rows) // batch_size, 1) / 1e9, 3)


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
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where ours and SDV's models train")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="our CTGAN's and TVAE's precision (bf16: mixed precision; SDV's always train in float32)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for both (default: torch's choice)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="training seeds per model (0, 1, ...): "
                             "figures are their means, each seed's kept beside them")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--name", default=None,
                        help="file stem of the results (default: tabular, tabular_quick, tabular_cuda); two runs on "
                             "different models at once need different names")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.sample_rows = 2, 10_000

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    train, test = adult("train"), adult("test")
    if args.quick:
        train, test = train.sample(3000, random_state=0), test.sample(3000, random_state=0)
    results = {
        "settings": {"epochs": args.epochs, "batch_size": args.batch_size, "train_rows": len(train),
                     "test_rows": len(test), "quick": args.quick, "device": args.device, "seeds": args.seeds,
                     "precision": args.precision, "sample_rows": args.sample_rows},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "cpu": _cpu_name()},
        "real": {"efficacy": efficacy(train, test, args.quick)},
        "models": {},
    }
    print(f"real ceiling: {results['real']['efficacy']}", flush=True)
    # Warm-up: a process's first fit pays one-off costs (thread pools, kernel selection, first allocations;
    # 4-5 s for TVAE on Adult) that would land on whichever model runs first. A 1-epoch fit of every model
    # on 1,000 rows first keeps them out of every timing below.
    warm_rows = train.sample(min(1000, len(train)), random_state=0)
    for name in args.models:
        (build(name, 1, min(args.batch_size, 500), args.device, precision=args.precision)
         .fit(warm_rows).sample(100, seed=0))
    for name in args.models:
        runs = []
        for seed in range(args.seeds):
            print(f"{name}: fitting ({args.epochs} epochs, seed {seed}) ...", flush=True)
            runs.append(fit_and_score(name, seed, train, test, args))
            print(f"  {runs[-1]}", flush=True)
        results["models"][name] = row = summarise(runs)
        row["efficacy_vs_real"] = round(row["efficacy"]["mean"] / results["real"]["efficacy"]["mean"], 3)
        write(results, args)  # after every model, so a long run that is cut short keeps what it measured
    for name in args.models:
        if name != "ours_copula":  # the copula has no training steps
            results["models"][name]["gflop_per_step"] = flops_per_step(name, train, args.batch_size)
    write(results, args)
    print(render(results))


def fit_and_score(name: str, seed: int, train, test, args: argparse.Namespace) -> dict:
    """One training seed of one model: fit and sampling seconds, quality, efficacy."""
    model = build(name, args.epochs, args.batch_size, args.device, seed, args.precision)
    _sync(args.device)
    started = time.perf_counter()
    model.fit(train)
    _sync(args.device)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    big = model.sample(args.sample_rows, seed=1)
    _sync(args.device)
    sample_seconds = time.perf_counter() - started
    synthetic = (big.iloc[: len(train)].reset_index(drop=True) if len(big) >= len(train)
                 else model.sample(len(train), seed=2))
    return {
        "seed": seed,
        "fit_seconds": round(fit_seconds, 1),
        # the part of fit spent fitting and applying the data transformer(s); the rest is training
        "transformer_seconds": round(model.transform_seconds_, 2) if hasattr(model, "transform_seconds_") else None,
        "train_seconds_per_epoch": (round((fit_seconds - model.transform_seconds_) / args.epochs, 3)
                                    if name != "ours_copula" and hasattr(model, "transform_seconds_") else None),
        "sample_seconds": round(sample_seconds, 2),
        "quality": round(quality(train, synthetic), 4),
        "efficacy": efficacy(synthetic[train.columns], test, args.quick),
    }


def summarise(runs: list[dict]) -> dict:
    """Means over the training seeds (each figure), with every seed's quality and mean efficacy kept beside them."""
    def mean(values):
        return sum(values) / len(values)

    row = {}
    for key in ("fit_seconds", "transformer_seconds", "train_seconds_per_epoch", "sample_seconds", "quality"):
        values = [r[key] for r in runs if r[key] is not None]
        row[key] = round(mean(values), 4 if key == "quality" else 3) if values else None
    row["efficacy"] = {key: mean([r["efficacy"][key] for r in runs]) for key in runs[0]["efficacy"]}
    row["seeds"] = [{"seed": r["seed"], "fit_seconds": r["fit_seconds"], "quality": r["quality"],
                     "efficacy": round(r["efficacy"]["mean"], 4)} for r in runs]
    return row


def write(results: dict, args: argparse.Namespace) -> None:
    for ours, theirs in (("ours_ctgan", "sdv_ctgan"), ("ours_tvae", "sdv_tvae")):
        if ours in results["models"] and theirs in results["models"]:
            a, b = results["models"][ours], results["models"][theirs]
            results.setdefault("ratios", {})[ours.removeprefix("ours_")] = {
                "fit_time_ours_over_sdv": round(a["fit_seconds"] / b["fit_seconds"], 3),
                "transformer_time_ours_over_sdv": round(a["transformer_seconds"] / b["transformer_seconds"], 3),
                "epoch_time_ours_over_sdv": round(a["train_seconds_per_epoch"] / b["train_seconds_per_epoch"], 3),
                "flops_per_step_ours_over_sdv": (round(a["gflop_per_step"] / b["gflop_per_step"], 3)
                                                 if "gflop_per_step" in a and "gflop_per_step" in b else None),
                "sample_time_ours_over_sdv": round(a["sample_seconds"] / b["sample_seconds"], 3),
                "quality_difference": round(a["quality"] - b["quality"], 4),
                "efficacy_ours_over_sdv": (round(a["efficacy"]["mean"] / b["efficacy"]["mean"], 3)
                                           if b["efficacy"]["mean"] else None),
            }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.name or ("tabular_quick" if args.quick else "tabular") + ("_cuda" if args.device == "cuda" else "")
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{stem}.md").write_text(render(results))


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def render(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    lines = [
        f"## Tabular generators on Adult: {s['epochs']} epochs, batch {s['batch_size']}, on {s.get('device', 'cpu')}"
        + (f", ours in {s['precision']}" if s.get("precision", "fp32") != "fp32" else "")
        + (" (QUICK smoke run: not a result)" if s["quick"] else ""),
        "",
        f"{s['train_rows']:,} training rows, {s['test_rows']:,} real test rows; "
        f"{m['cpu_count']} CPU cores ({m.get('cpu', '?')}), "
        f"torch {m['torch']} ({m['torch_threads']} threads), GPU: {m['gpu'] or 'none'}."
        + (f" Every figure is the mean over {s['seeds']} training seeds (each seed's below the table)."
           if s.get("seeds", 1) > 1 else ""),
        "",
        f"| model | fit s | of which transformer s | train s/epoch | sample {s.get('sample_rows', 100_000):,} rows s "
        "| quality | efficacy F1 (AdaBoost / tree / logreg / MLP → mean) | vs real | macro-F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    real = results["real"]["efficacy"]
    lines.append(f"| real data | – | – | – | – | – | {real['adaboost']:.3f} / {real['decision_tree']:.3f} / "
                 f"{real['logistic_regression']:.3f} / {real['mlp']:.3f} → **{real['mean']:.3f}** | 1.000 | "
                 f"{real['macro_f1']:.3f} |")
    for name, r in results["models"].items():
        e = r["efficacy"]
        lines.append(f"| {name} | {r['fit_seconds']} | {r.get('transformer_seconds', '–')} | "
                     f"{r.get('train_seconds_per_epoch') or '–'} | {r['sample_seconds']} | {r['quality']:.3f} | "
                     f"{e['adaboost']:.3f} / {e['decision_tree']:.3f} / {e['logistic_regression']:.3f} / "
                     f"{e['mlp']:.3f} → **{e['mean']:.3f}** | "
                     f"{r['efficacy_vs_real']:.3f} | {e['macro_f1']:.3f} |")
    if s.get("seeds", 1) > 1:
        lines.append("")
        for name, r in results["models"].items():
            per_seed = "; ".join(f"seed {x['seed']}: quality {x['quality']:.3f}, efficacy {x['efficacy']:.3f}, "
                                 f"fit {x['fit_seconds']} s"
                                 for x in r.get("seeds", []))
            lines.append(f"- {name}: {per_seed}")
    for kind, r in results.get("ratios", {}).items():
        lines.append("")
        lines.append(f"{kind}: fit time ours/SDV **{r['fit_time_ours_over_sdv']}** "
                     f"(transformer {r.get('transformer_time_ours_over_sdv')}, "
                     f"training per epoch {r.get('epoch_time_ours_over_sdv')}; arithmetic per step "
                     f"{r.get('flops_per_step_ours_over_sdv')}), sampling time ours/SDV "
                     f"{r['sample_time_ours_over_sdv']}, quality ours − SDV {r['quality_difference']:+.3f}, "
                     f"efficacy ours/SDV {r['efficacy_ours_over_sdv']}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
