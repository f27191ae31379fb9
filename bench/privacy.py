"""Differential privacy on Adult: DP-CTGAN and DP-TVAE at several ε beside our non-private CTGAN and TVAE.

    .venv/bin/python bench/privacy.py                 # the full run: ε ∈ {1, 3, 10}, δ = 1e-5, 30 epochs each
    .venv/bin/python bench/privacy.py --quick         # 3,000 rows, 2 epochs: does it run? (not a result)
    .venv/bin/python bench/privacy.py --models tvae --epsilons 3 --epochs 20

UCI Adult's original train split (32,561 rows) is split as the pipelines
split it: 80% training rows (members), 20% holdout rows the generators never
see (non-members). Every model trains on the same training rows, the private
ones with the public bounds, category lists and max_modes of pipelines/adult_dp_*.yaml.
For each model:

- machine-learning efficacy, the CTGAN paper's protocol: AdaBoost, decision
  tree, logistic regression and MLP (scikit-learn defaults) trained on as
  many synthetic rows as training rows, F1 of the positive class ">50K" on
  the real test split (16,281 rows), averaged; `vs non-private` divides by
  the same generator's non-private figure from this run (targets: ≥ 0.85 at
  ε = 3, ≥ 0.75 at ε = 1);
- sdmetrics quality score against the training rows;
- membership-inference attack AUC: the gate's distance attack (a training
  row whose nearest synthetic row is unusually close is guessed a member),
  5,000 members against 5,000 holdout rows; 0.5 = no signal;
- fit seconds, and seconds per epoch of the training loop alone (DP: the
  DP-SGD loop; non-private: fit minus the data transformer), and their
  ratio DP / non-private at the same epochs and batch size (target ≤ 10 on CPU);
- the reported ε and the DP-SGD noise multiplier.

Writes bench/results/privacy.json and privacy.md (privacy_quick.* with --quick).
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.tabular import _cpu_name, efficacy, quality  # noqa: E402

KINDS = ("ctgan", "tvae")


def public_metadata(kind: str) -> tuple[dict, dict]:
    """The privacy block (bounds, category lists) the pipelines declare for Adult, and their private-only settings."""
    from synth.spec import load_spec

    spec = load_spec(ROOT / "pipelines" / f"adult_dp_{kind}.yaml")
    return spec.privacy.model_dump(mode="json"), {"max_modes": spec.generator.max_modes}


def membership_auc(train, holdout, synthetic, seed: int = 0) -> float:
    from validation.privacy import membership_check

    check, _ = membership_check(train, holdout, synthetic, max_auc=1.0, max_rows=20_000, seed=seed)
    return check.value


def run_one(kind: str, epsilon: float | None, args, train, holdout, test) -> dict:
    from synth.models import build_generator
    from synth.privacy import private_hyperparameters

    hyper = {"epochs": args.epochs, "batch_size": args.batch_size}
    name = kind
    if epsilon is not None:
        public, settings = public_metadata(kind)
        privacy = {**public, "epsilon": epsilon, "delta": args.delta}
        kind, hyper = private_hyperparameters(kind, {**hyper, **settings}, privacy)
        name = f"{kind} ε={epsilon:g}"
    model = build_generator(kind, hyper, device=args.device, seed=args.seed, verbose=False)
    print(f"{name}: fitting ({args.epochs} epochs) ...", flush=True)
    started = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - started
    loop_seconds = getattr(model, "train_seconds_", None) or fit_seconds - model.transform_seconds_
    synthetic = model.sample(len(train), seed=args.seed + 1)[train.columns]
    row = {
        "name": name,
        "kind": kind,
        "epsilon_target": epsilon,
        "fit_seconds": round(fit_seconds, 1),
        "seconds_per_epoch": round(loop_seconds / args.epochs, 3),
        "quality": round(quality(train, synthetic), 4),
        "efficacy": efficacy(synthetic, test, args.quick),
        "membership_auc": round(membership_auc(train, holdout, synthetic, args.seed), 4),
    }
    if epsilon is not None:
        ledger = model.privacy_
        pre, sgd = ledger["parts"]
        row["privacy"] = {"epsilon": ledger["epsilon"], "delta": ledger["delta"],
                          "noise_multiplier": sgd["noise_multiplier"], "sample_rate": sgd["sample_rate"],
                          "steps": sgd["steps"], "preprocessing_sigma": pre["noise_multiplier"],
                          "epsilon_preprocessing": pre["epsilon"], "epsilon_training": sgd["epsilon"]}
    print(f"  {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--epsilons", nargs="+", type=float, default=[1.0, 3.0, 10.0])
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--epochs", type=int, default=30, help="for private and non-private runs alike")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the non-private runs (no 'vs non-private' ratios)")
    parser.add_argument("--quick", action="store_true",
                        help="3,000 training rows, 2 epochs: a smoke run, not a result")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 2

    import torch

    from bench.tabular import adult
    from synth.data import split_holdout

    real, test = adult("train"), adult("test")
    if args.quick:
        real, test = real.sample(3750, random_state=0), test.sample(3000, random_state=0)
    train, holdout = split_holdout(real, 0.2, args.seed)
    results = {
        "settings": {"epochs": args.epochs, "batch_size": args.batch_size, "delta": args.delta,
                     "epsilons": args.epsilons, "train_rows": len(train), "holdout_rows": len(holdout),
                     "test_rows": len(test), "quick": args.quick, "device": args.device, "seed": args.seed},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__, "cpu": _cpu_name(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "real": {"efficacy": efficacy(train, test, args.quick),
                 # the attack's ceiling: the training rows themselves offered as the synthetic table
                 "membership_auc_of_a_copy": membership_auc(
                     train, holdout, train.sample(frac=1.0, random_state=args.seed))},
        "runs": [],
    }
    print(f"real (training rows) efficacy: {results['real']['efficacy']['mean']:.3f}", flush=True)
    for kind in args.models:
        for epsilon in ([] if args.no_baseline else [None]) + list(args.epsilons):
            results["runs"].append(run_one(kind, epsilon, args, train, holdout, test))
            write(results, args)  # after every run, so a long run that is cut short keeps what it measured
    print(render(results))


def write(results: dict, args: argparse.Namespace) -> None:
    baseline = {r["kind"]: r for r in results["runs"] if r["epsilon_target"] is None}
    for r in results["runs"]:
        base = baseline.get(r["kind"].removeprefix("dp_"))
        if r["epsilon_target"] is not None and base is not None:
            r["efficacy_vs_nonprivate"] = (round(r["efficacy"]["mean"] / base["efficacy"]["mean"], 3)
                                           if base["efficacy"]["mean"] else None)
            r["epoch_time_vs_nonprivate"] = round(r["seconds_per_epoch"] / base["seconds_per_epoch"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "privacy_quick" if args.quick else "privacy"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{stem}.md").write_text(render(results))


def render(results: dict) -> str:
    s, m = results["settings"], results["machine"]
    lines = [
        f"## Differential privacy on Adult: {s['epochs']} epochs, batch {s['batch_size']}, "
        f"δ = {s['delta']:g}, on {s['device']}"
        + (" (QUICK smoke run: not a result)" if s["quick"] else ""),
        "",
        f"{s['train_rows']:,} training rows (members), {s['holdout_rows']:,} holdout rows (non-members), "
        f"{s['test_rows']:,} real test rows; {m['cpu_count']} CPU cores ({m.get('cpu', '?')}), "
        f"torch {m['torch']} ({m['torch_threads']} threads).",
        "",
        "| model | ε reported | σ (DP-SGD) | efficacy F1 (AdaBoost / tree / logreg / MLP → mean) "
        "| vs non-private | quality | membership AUC | fit s | s / epoch | epoch time vs non-private |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    real = results["real"]["efficacy"]
    lines.append(f"| real training rows | – | – | {real['adaboost']:.3f} / {real['decision_tree']:.3f} / "
                 f"{real['logistic_regression']:.3f} / {real['mlp']:.3f} → **{real['mean']:.3f}** "
                 "| – | – | – | – | – | – |")
    for r in results["runs"]:
        e, p = r["efficacy"], r.get("privacy")
        lines.append(
            f"| {r['name']} | {p['epsilon'] if p else '∞ (no DP)'} | {p['noise_multiplier'] if p else '–'} | "
            f"{e['adaboost']:.3f} / {e['decision_tree']:.3f} / {e['logistic_regression']:.3f} / {e['mlp']:.3f} "
            f"→ **{e['mean']:.3f}** | "
            f"{r.get('efficacy_vs_nonprivate', '–')} | {r['quality']:.3f} | {r['membership_auc']:.3f} | "
            f"{r['fit_seconds']} | "
            f"{r['seconds_per_epoch']} | {r.get('epoch_time_vs_nonprivate', '–')} |"
        )
    if "membership_auc_of_a_copy" in results["real"]:
        lines.append(f"| training rows offered as synthetic (the attack's ceiling) | – | – | – | – | – | "
                     f"{results['real']['membership_auc_of_a_copy']:.3f} | – | – | – |")
    lines += [
        "",
        "Efficacy: positive-class F1 on the real test split, "
        "classifiers trained on synthetic rows (CTGAN paper protocol). "
        "Membership AUC: distance attack, training rows vs holdout rows (0.5 = no signal). Timings share the machine "
        "with whatever else ran; compare ratios within one run.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
