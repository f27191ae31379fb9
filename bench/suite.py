"""The seven-table benchmark: our generators against SDV's, side by side, same data, split, seeds and epochs.

    nice -n 10 .venv/bin/python bench/suite.py                   # the full run (a few hours on 2 cores)
    nice -n 10 .venv/bin/python bench/suite.py --quick           # 2 small tables, tiny budgets: does it run? (minutes)
    .venv/bin/python bench/suite.py --tables german_credit magic --models ours_tvae sdv_tvae --seeds 3
    .venv/bin/python bench/suite.py --steps 8000                 # a longer training budget (new cells; old ones kept)

Tables: Adult and the six of issue 12, each read through its bundled spec's `source` block (`TABLES`), so the
suite loads every table exactly as `synth run` does (synth.data.load_table). Models: `ours_<kind>` for every
kind in synth.models.GENERATORS (a new kind joins by being registered there), and SDV 2's
GaussianCopulaSynthesizer, CTGANSynthesizer and TVAESynthesizer with their defaults (bench/tabular.py's
wrapper, which seeds SDV through the global RNGs it draws from and times its preprocessing).

Protocol, the same for every model:
1. Rows whose target is missing are dropped (Beijing PM2.5: 2,067), then one split, `split_holdout(table,
   0.2, seed 0)` as the pipeline makes it: 80% train, 20% a real test split no generator ever sees. At most
   `MAX_TRAIN_ROWS` training rows (a seeded random subset) and `MAX_TEST_ROWS` test rows are used, so the
   transformers and the metrics cost the same order on every table.
2. Training length is a fixed budget of optimisation steps (`--steps`, default `STEPS`), not a per-table
   epoch count: batches of 500 rows, or a tenth of the training rows (a multiple of 10, at least 20) on small
   tables; epochs = steps / batches per epoch, clamped to 1..`MAX_EPOCHS`. Ours and SDV's get the same
   epochs and batch size (SDV's CTGAN and TVAE count steps per epoch as ours do). Copulas have no epochs; a
   kind trained in steps (tab_ddpm) gets the steps and the batch size.
3. Training seeds 0..N-1: N = 3 for tables under `SMALL_TABLE` training rows, else 1 (`--seeds N` for all).
   Every cell (table, model, seed) samples as many rows as it trained on.
4. Metrics (TabSyn/TabDDPM style), synthetic against the real training rows unless said:
   - column shapes and pair trends: sdmetrics' QualityReport halves (validation.fidelity.quality_checks);
   - detection AUC: the gate's gradient-boosted real-vs-synthetic detector (validation.fidelity), 0.5 best;
   - C2ST: sdmetrics' LogisticDetection score (TabSyn's C2ST; 1 = a logistic regression cannot tell them apart);
   - TSTR: gradient boosting trained on synthetic rows, scored on the real test split (ROC-AUC for a
     classification target, one-vs-rest macro for several classes; R² for a regression target), beside TRTR
     (the same model trained on the real training rows) and their ratio;
   - DCR share (size-adjusted share of synthetic rows whose nearest real row is a training row, the test split
     as the holdout; 0.5 best) and membership AUC (nearest-synthetic-row attack; 0.5 best), validation.privacy;
   - fit seconds (everything fit does) and sample seconds.
Every cell is written to <out>/suite_cells/<table>__<model>__<seed>.json as it finishes and skipped on a rerun
(unless its settings differ: then it is computed again); a cell whose model raised is kept with its error and
retried only with `--retry-failed`. Writes <out>/suite.json and <out>/suite.md (a table per metric, the winner
per table marked); `--quick` writes suite_quick.* and suite_quick_cells/ instead, so it never mixes with a real run.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts bench/ first on the path, where bench/profile.py would shadow the standard
# library's `profile` (torch imports cProfile when training); the repository root is what is needed.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: The benchmark's tables and the bundled spec each is read through (its `source` and `target`).
TABLES = {
    "adult": "pipelines/adult_tvae.yaml",
    "shoppers": "pipelines/shoppers_tvae.yaml",
    "magic": "pipelines/magic_tvae.yaml",
    "beijing_pm25": "pipelines/beijing_pm25_tvae.yaml",
    "german_credit": "pipelines/german_credit_tvae.yaml",
    "telco_churn": "pipelines/telco_churn_tvae.yaml",
    "diabetes": "pipelines/diabetes_tvae.yaml",
}
QUICK_TABLES = ("german_credit", "telco_churn")
SDV_KINDS = ("gaussian_copula", "ctgan", "tvae")

#: Default training budget in optimisation steps (see the module docstring, step 2).
STEPS = 4_000
BATCH_SIZE, MIN_BATCH, BATCH_MULTIPLE = 500, 20, 10  # a multiple of CTGAN's pac (10), even for SDV's CTGAN
MAX_EPOCHS = 750  # as `synth init`: more passes over the same rows start to memorise them
MAX_TRAIN_ROWS, MAX_TEST_ROWS = 20_000, 10_000
#: Rows each table is scored on at most (quality, detectors, DCR queries).
SCORE_ROWS = 10_000
#: Tables with fewer training rows than this get 3 training seeds.
SMALL_TABLE = 5_000
#: A numeric target with more distinct values than this is a regression target.
MAX_CLASSES = 20
SPLIT_SEED, TEST_FRACTION = 0, 0.2

QUICK = {"steps": 60, "train_rows": 1_500, "test_rows": 1_000, "score_rows": 1_000}


@dataclass
class Metric:
    key: str
    title: str
    better: str  # "high", "low" or "half" (closest to 0.5)
    digits: int = 3


METRICS = (
    Metric("column_shapes", "Column shapes (sdmetrics, higher is better)", "high"),
    Metric("pair_trends", "Pair trends (sdmetrics, higher is better)", "high"),
    Metric("detection_auc", "Detection AUC (our gradient-boosted detector; 0.5 is best)", "low"),
    Metric("c2st", "C2ST (sdmetrics LogisticDetection; 1 is best)", "high"),
    Metric("tstr", "TSTR: gradient boosting trained on synthetic rows, on the real test split "
                   "(ROC-AUC; R² for regression; higher is better)", "high"),
    Metric("tstr_ratio", "TSTR / TRTR (higher is better)", "high"),
    Metric("dcr_share", "DCR share: nearest real row is a training row, size-adjusted (0.5 is best)", "half"),
    Metric("membership_auc", "Membership-inference AUC (0.5 is best)", "half"),
    Metric("fit_seconds", "Fit seconds (lower is better)", "low", 1),
    Metric("sample_seconds", "Sample seconds, as many rows as trained on (lower is better)", "low", 2),
)


# -- data ---------------------------------------------------------------------------------------------------
@dataclass
class Split:
    name: str
    train: Any  # pandas.DataFrame
    test: Any
    target: str
    task: str  # "classification" or "regression"
    rows: int  # rows read (after dropping a missing target)
    #: Identifier columns of the training rows (synth.profile): every model gets them, none is scored on them.
    identifiers: tuple[str, ...] = ()


def task_of(column) -> str:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    return "regression" if numeric and column.nunique() > MAX_CLASSES else "classification"


def load_split(name: str, *, train_rows: int = MAX_TRAIN_ROWS, test_rows: int = MAX_TEST_ROWS,
               spec_path: str | Path | None = None) -> Split:
    """The table as its bundled spec reads it, split once (the same split for every model and seed)."""
    from synth.data import load_table, split_holdout
    from synth.profile import profile_table
    from synth.spec import load_spec

    spec = load_spec(ROOT / (spec_path or TABLES[name]))
    source = spec.source.model_copy(update={"path": _rooted(spec.source.path)})
    table = load_table(source)
    table = table[table[spec.target].notna()].reset_index(drop=True)
    train, test = split_holdout(table, TEST_FRACTION, SPLIT_SEED)
    if len(train) > train_rows:
        train = train.sample(train_rows, random_state=SPLIT_SEED)
    if len(test) > test_rows:
        test = test.sample(test_rows, random_state=SPLIT_SEED)
    train = train.reset_index(drop=True)
    # as `synth init` finds them: the whole table in file order (a row number grows with the row position)
    identifiers = tuple(p.name for p in profile_table(table, markers_fixable=False) if p.kind == "identifier")
    return Split(name, train, test.reset_index(drop=True), spec.target, task_of(table[spec.target]), len(table),
                 identifiers)


def _rooted(path: Path) -> Path:
    return path if path.is_absolute() else ROOT / path


def schedule(n_train: int, steps: int) -> tuple[int, int]:
    """(epochs, batch size) for `steps` optimisation steps on `n_train` rows (module docstring, step 2)."""
    batch = min(BATCH_SIZE, max(MIN_BATCH, n_train // 10 // BATCH_MULTIPLE * BATCH_MULTIPLE))
    per_epoch = math.ceil(n_train / batch)
    return max(1, min(MAX_EPOCHS, round(steps / per_epoch))), batch


def default_seeds(n_train: int) -> int:
    return 3 if n_train < SMALL_TABLE else 1


# -- models -------------------------------------------------------------------------------------------------
def model_names() -> list[str]:
    from synth.models import GENERATORS

    return [f"ours_{kind}" for kind in GENERATORS] + [f"sdv_{kind}" for kind in SDV_KINDS]


def build(name: str, epochs: int, batch_size: int, seed: int, steps: int | None = None):
    """A model behind our fit/sample contract; ours get epochs (or, for a kind trained in optimisation steps,
    `steps`) and batch_size when their class takes them."""
    from synth.models import build_generator

    if name.startswith("sdv_"):
        return _sdv_class()(name.removeprefix("sdv_"), epochs, batch_size, "cpu", seed)
    kind = name.removeprefix("ours_")
    accepted = _hyperparameter_names(kind)
    hyper = {k: v for k, v in (("epochs", epochs), ("steps", steps), ("batch_size", batch_size))
             if k in accepted and v is not None}
    return build_generator(kind, hyper, device="cpu", seed=seed, verbose=False)


def _hyperparameter_names(kind: str) -> set[str]:
    """The hyperparameters a kind declares: its config next to the model (synth.models.configs), or, where a
    kind has none there, its constructor's keyword arguments."""
    import inspect

    from synth.models import generator_class

    try:
        from synth.models.configs import CONFIGS
    except ImportError:
        CONFIGS = {}
    if kind in CONFIGS:
        return set(CONFIGS[kind].model_fields)
    return set(inspect.signature(generator_class(kind).__init__).parameters)


def _sdv_class():
    """bench/tabular.py's SDV wrapper, with SDV's GaussianCopulaSynthesizer added (it has no epochs)."""
    from bench.tabular import SDV

    class SuiteSDV(SDV):
        def fit(self, table):
            if self.kind != "gaussian_copula":
                return super().fit(table)
            import random

            import numpy as np
            from sdv.metadata import Metadata
            from sdv.single_table import GaussianCopulaSynthesizer

            self.model = GaussianCopulaSynthesizer(Metadata.detect_from_dataframes({"adult": table}))
            random.seed(self.seed), np.random.seed(self.seed)
            started = time.perf_counter()
            processed = self.model.preprocess({"adult": table})
            self.transform_seconds_ = time.perf_counter() - started
            self.model.fit_processed_data(processed)
            return self

    return SuiteSDV


# -- metrics ------------------------------------------------------------------------------------------------
def tstr(train, test, synthetic, target: str, task: str, seed: int) -> tuple[float, float]:
    """(TSTR, TRTR): one gradient-boosted model trained on synthetic / real training rows, on the real test split.

    Classification: ROC-AUC (one-vs-rest macro for several classes) over the real training rows' classes; a
    numeric class column's synthetic values count as the nearest real class. Regression: R².
    """
    import numpy as np
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )
    from sklearn.metrics import r2_score, roc_auc_score

    from validation.encoding import RowEncoder

    encoder = RowEncoder(exclude=(target,)).fit(train)
    test = test[test[target].notna()]
    if task == "regression":
        y_test = test[target].astype(float).to_numpy()

        def score(rows) -> float:
            rows = rows[rows[target].notna()]
            model = HistGradientBoostingRegressor(max_iter=100, random_state=seed)
            model.fit(encoder.transform(rows), rows[target].astype(float).to_numpy())
            return float(r2_score(y_test, model.predict(encoder.transform(test))))

        return score(synthetic), score(train)

    classes, labels = _class_labels(train[target])
    y_test = labels(test[target])
    keep = np.isin(y_test, classes)
    x_test, y_test = encoder.transform(test)[keep], y_test[keep]

    def score(rows) -> float:
        rows = rows[rows[target].notna()]
        y = labels(rows[target])
        probabilities = np.zeros((len(y_test), len(classes)))
        present = np.unique(y)
        if len(present) < 2:  # one class only: a constant prediction
            probabilities[:, classes.index(present[0]) if len(present) else 0] = 1.0
        else:
            model = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(encoder.transform(rows), y)
            predicted = model.predict_proba(x_test)
            for i, label in enumerate(model.classes_):
                if label in classes:
                    probabilities[:, classes.index(label)] = predicted[:, i]
        if len(classes) == 2:
            return float(roc_auc_score(y_test == classes[1], probabilities[:, 1]))
        probabilities = probabilities + 1e-12
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return float(roc_auc_score(y_test, probabilities, multi_class="ovr", average="macro", labels=classes))

    return score(synthetic), score(train)


def _class_labels(real) -> tuple[list, Callable]:
    """The real classes (as strings) and a function mapping any column of that target to them."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(real) and not pd.api.types.is_bool_dtype(real):
        values = np.sort(real.dropna().astype(float).unique())

        def labels(column) -> np.ndarray:
            x = column.astype(float).to_numpy()
            nearest = values[np.abs(x[:, None] - values[None, :]).argmin(axis=1)]
            return np.array([_number_label(v) for v in nearest], dtype=object)

        return [_number_label(v) for v in values], labels

    def labels(column) -> np.ndarray:
        return column.astype(str).to_numpy(dtype=object)

    return sorted(real.dropna().astype(str).unique()), labels


def _number_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def c2st(real, synthetic, rows: int, seed: int) -> float:
    """sdmetrics' LogisticDetection (TabSyn's C2ST) on at most `rows` rows of each; rare categories pooled.

    sdmetrics' encoder is fitted on the real rows alone, so a synthetic category missing from the real sample
    (a rare one, when `rows` is below the training rows) counts as the sample's most frequent category."""
    import numpy as np
    from sdmetrics.single_table import LogisticDetection

    from validation.fidelity import pool_rare_categories, sdmetrics_metadata

    real = real.sample(min(rows, len(real)), random_state=seed)
    synthetic = synthetic.sample(min(rows, len(synthetic)), random_state=seed + 1)
    real, synthetic, _ = pool_rare_categories(real, synthetic[real.columns])
    metadata = sdmetrics_metadata(real)
    for name, column in metadata["columns"].items():
        if column["sdtype"] == "categorical":  # one missing marker: sdmetrics' one-hot encoder tells None from NaN
            for table in (real, synthetic):
                table[name] = table[name].astype(object).where(table[name].notna(), np.nan)
            seen = synthetic[name].isin(real[name]) | (synthetic[name].isna() & real[name].isna().any())
            synthetic[name] = synthetic[name].where(seen, real[name].mode(dropna=False).iloc[0])
    # its 3 folds are shuffled by numpy's global generator: seeded here, and put back as it was
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return float(LogisticDetection.compute(real, synthetic, metadata=metadata))
    finally:
        np.random.set_state(state)


def score(split: Split, synthetic, *, seed: int, score_rows: int) -> dict[str, float | None]:
    """Every quality, utility and privacy figure of one synthetic table (module docstring, step 4)."""
    from synth.spec import ValidationSpec
    from validation.fidelity import detection_check, quality_checks
    from validation.privacy import distance_checks, membership_check

    gate = ValidationSpec()
    # identifiers are left out, as the gate leaves them out: our models regenerate them as fresh keys (numbered
    # on from the real maximum), which any detector would tell apart and which say nothing of the other columns
    train, test = split.train.drop(columns=list(split.identifiers)), split.test.drop(columns=list(split.identifiers))
    synthetic = synthetic[train.columns]
    quality, _ = quality_checks(train, synthetic, min_quality=gate.min_quality,
                                min_column_shapes=gate.min_column_shapes, min_pair_trends=gate.min_pair_trends,
                                max_rows=score_rows, seed=seed)
    detection, _ = detection_check(train, synthetic, max_auc=gate.max_detection_auc, max_rows=score_rows, seed=seed)
    distances, _ = distance_checks(train, test, synthetic, max_dcr_share=gate.max_dcr_share,
                                   max_rows=score_rows, seed=seed)
    membership, _ = membership_check(train, test, synthetic, max_auc=gate.max_membership_auc,
                                     max_rows=score_rows, seed=seed)
    synthetic_score, real_score = tstr(train, test, synthetic, split.target, split.task, seed)
    by_name = {c.name: c.value for c in quality}
    return {
        "column_shapes": by_name["column_shapes"],
        "pair_trends": by_name["pair_trends"],
        "detection_auc": detection.value,
        "c2st": round(c2st(train, synthetic, score_rows, seed), 4),
        "tstr": round(synthetic_score, 4),
        "trtr": round(real_score, 4),
        "tstr_ratio": round(synthetic_score / real_score, 4) if real_score > 0 else None,
        "dcr_share": distances[0].value,
        "membership_auc": membership.value,
    }


# -- cells --------------------------------------------------------------------------------------------------
def run_cell(split: Split, model: str, seed: int, *, epochs: int, batch_size: int, score_rows: int,
             steps: int | None = None) -> dict:
    """Fit one model with one seed on one table, sample as many rows as it trained on, and score them."""
    return fit_and_score(split, build(model, epochs, batch_size, seed, steps), seed, score_rows)


def fit_and_score(split: Split, generator, seed: int, score_rows: int) -> dict:
    """Fit `generator` on the split's training rows, timed; sample as many rows (seed + 1000), timed; score them.
    Adds why training stopped when the model records it (`stopped_`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SDV's metadata and sdmetrics' convergence chatter
        started = time.perf_counter()
        generator.fit(split.train)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        synthetic = generator.sample(len(split.train), seed=seed + 1000)
        sample_seconds = time.perf_counter() - started
        figures = score(split, synthetic.reset_index(drop=True), seed=seed, score_rows=score_rows)
    stopped = getattr(generator, "stopped_", None)
    return {**figures, "fit_seconds": round(fit_seconds, 2), "sample_seconds": round(sample_seconds, 3),
            **({"stopped": stopped} if stopped else {})}


def warm_up(split: Split, models: list[str]) -> None:
    """A process's first fit pays one-off costs (thread pools, kernel selection, first allocations) that would
    land on whichever model runs first: fit each model once, 1 epoch on 200 rows, before anything is timed."""
    rows = split.train.head(200)
    for model in models:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                build(model, 1, MIN_BATCH, 0, steps=10).fit(rows).sample(10, seed=0)
        except Exception:  # the model's own cell reports its error
            pass


def cell_path(cells: Path, table: str, model: str, seed: int) -> Path:
    return cells / f"{table}__{model}__{seed}.json"


def read_cell(path: Path, settings: dict, retry_failed: bool) -> dict | None:
    """A finished cell with the same settings (a failed one only without `retry_failed`), else None."""
    try:
        cell = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing, or cut short mid-write by an older run: compute it again
    if cell.get("settings") != settings or ("error" in cell and retry_failed):
        return None
    return cell


def write_json(path: Path, data: dict) -> None:
    """Write atomically, so an interrupted run never leaves a half cell that a rerun would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(temporary, path)


def run_or_skip(cells: Path, table: str, model: str, seed: int, settings: dict, compute: Callable[[], dict],
                retry_failed: bool = False) -> tuple[dict, bool]:
    """The cell's figures and whether they were computed now (False: read back from its file)."""
    path = cell_path(cells, table, model, seed)
    done = read_cell(path, settings, retry_failed)
    if done is not None:
        return done, False
    try:
        figures = compute()
    except KeyboardInterrupt:
        raise
    except Exception as err:  # one model failing on one table must not lose the other cells
        figures = {"error": f"{type(err).__name__}: {str(err)[:300]}", "traceback": traceback.format_exc()[-2000:]}
    cell = {"table": table, "model": model, "seed": seed, "settings": settings, **figures}
    write_json(path, cell)
    return cell, True


# -- summary and markdown -----------------------------------------------------------------------------------
def summarise(cells: list[dict]) -> dict:
    """{table: {model: {metric: mean, metric_sd: sd, seeds: n, errors: [...]}}} over the seeds of each pair."""
    grouped: dict[str, dict[str, list[dict]]] = {}
    for cell in cells:
        grouped.setdefault(cell["table"], {}).setdefault(cell["model"], []).append(cell)
    summary: dict = {}
    for table, models in grouped.items():
        for model, runs in models.items():
            ok = [r for r in runs if "error" not in r]
            row: dict[str, Any] = {"seeds": len(ok), "errors": [r["error"] for r in runs if "error" in r]}
            for key in [m.key for m in METRICS] + ["trtr"]:
                values = [r[key] for r in ok if r.get(key) is not None]
                row[key] = round(statistics.fmean(values), 4) if values else None
                if len(values) > 1:
                    row[f"{key}_sd"] = round(statistics.stdev(values), 4)
            summary.setdefault(table, {})[model] = row
    return summary


def winners(row: dict[str, dict], metric: Metric, among: list[str] | None = None) -> list[str]:
    """The models with the best mean of `metric` in one table's row, ties (at the digits shown) included."""
    scored = {m: round(r[metric.key], metric.digits) for m, r in row.items()
              if r.get(metric.key) is not None and (among is None or m in among)}
    if not scored:
        return []
    badness = {
        "high": lambda v: -v, "low": lambda v: v, "half": lambda v: round(abs(v - 0.5), metric.digits),
    }[metric.better]
    best = min(badness(v) for v in scored.values())
    return [m for m, v in scored.items() if badness(v) == best]


def render(results: dict) -> str:
    s, summary = results["settings"], results["summary"]
    tables = [t for t in s["tables"] if t in summary]
    models = [m for m in s["models"] if any(m in summary[t] for t in tables)]
    lines = [
        "## Seven-table benchmark: our generators and SDV's, side by side"
        + (" (QUICK smoke run: not a result)" if s["quick"] else ""),
        "",
        (f"Same split (80/20, seed {SPLIT_SEED}; the 20% is a real test split no generator sees), same seeds, "
        f"same epochs and batch size for ours and SDV's: a budget of {s['steps']:,} optimisation steps per model "
        f"(batches of {BATCH_SIZE}, or a tenth of the training rows on small tables; at most {MAX_EPOCHS} epochs). "
        f"At most {s['train_rows']:,} training and {s['test_rows']:,} test rows; metrics on at most "
        f"{s['score_rows']:,} rows per table. {results['machine']['cpu_count']} CPU cores, torch "
        f"{results['machine']['torch']} ({results['machine']['torch_threads']} threads). Means over the seeds "
        "(± standard deviation where there are several); **bold**: the best of the row. Written by bench/suite.py."),
        "",
        "| table | rows read | train / test rows | target (task) | epochs × batch | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for t in tables:
        info = results["tables"][t]
        lines.append(f"| {t} | {info['rows']:,} | {info['train_rows']:,} / {info['test_rows']:,} | {info['target']} "
                     f"({info['task']}) | {info['epochs']} × {info['batch_size']} | {info['seeds']} |")
    for metric in METRICS:
        header = "| table | " + " | ".join(models) + (" | real (TRTR) |" if metric.key == "tstr" else " |")
        lines += ["", f"### {metric.title}", "", header,
                  "|---|" + "---|" * (len(models) + (metric.key == "tstr"))]
        for t in tables:
            best = winners(summary[t], metric)
            cells = []
            for m in models:
                r = summary[t].get(m)
                value = None if r is None else r.get(metric.key)
                if value is None:
                    cells.append("failed" if r and r["errors"] else "–")
                    continue
                text = f"{value:.{metric.digits}f}"
                if r.get(f"{metric.key}_sd") is not None:
                    text += f" ± {r[f'{metric.key}_sd']:.{metric.digits}f}"
                cells.append(f"**{text}**" if m in best else text)
            if metric.key == "tstr":
                trtr = [r["trtr"] for r in summary[t].values() if r.get("trtr") is not None]
                cells.append(f"{statistics.fmean(trtr):.3f}" if trtr else "–")
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines += _head_to_head(summary, tables, models, results["tables"])
    errors = [(t, m, e) for t in tables for m, r in summary[t].items() for e in r["errors"]]
    if errors:
        lines += ["", "### Failed cells", ""] + [f"- {t} / {m}: {e}" for t, m, e in errors]
    return "\n".join(lines) + "\n"


def _head_to_head(summary: dict, tables: list[str], models: list[str], info: dict) -> list[str]:
    """Ours' best against SDV's best per table on every quality metric, and issue 12's targets."""
    ours = [m for m in models if m.startswith("ours_")]
    sdv = [m for m in models if m.startswith("sdv_")]
    if not ours or not sdv:
        return []
    lines = ["", "### Ours' best against SDV's best, per table", "",
             "| metric | ours' best better | tied | SDV's best better |", "|---|---|---|---|"]
    for metric in METRICS[:8]:
        tally = {"ours": 0, "tie": 0, "sdv": 0}
        for t in tables:
            a, b = winners(summary[t], metric, ours), winners(summary[t], metric, sdv)
            if a and b:
                best = winners({a[0]: summary[t][a[0]], b[0]: summary[t][b[0]]}, metric)
                tally["tie" if len(best) == 2 else "ours" if best == [a[0]] else "sdv"] += 1
        lines.append(f"| {metric.key} | {tally['ours']} | {tally['tie']} | {tally['sdv']} |")
    detection = {t: summary[t][winners(summary[t], METRICS[2], ours)[0]]["detection_auc"]
                 for t in tables if winners(summary[t], METRICS[2], ours)}
    ratios = {t: summary[t][winners(summary[t], METRICS[5], ours)[0]]["tstr_ratio"] for t in tables
              if info[t]["task"] == "classification" and winners(summary[t], METRICS[5], ours)}
    if detection:
        worst = max(detection.values())
        mean = statistics.fmean(detection.values())
        lines += ["", "Issue 12's targets, on our best generator per table: detection AUC ≤ 0.85 on every table: "
                      f"{'yes' if worst <= 0.85 else 'no'} (worst {worst:.3f}); ≤ 0.75 on average: "
                      f"{'yes' if mean <= 0.75 else 'no'} ({mean:.3f}); TSTR/TRTR ≥ 0.95 on every classification "
                      f"table: {'yes' if ratios and min(ratios.values()) >= 0.95 else 'no'} ("
                      + ", ".join(f"{t} {v:.3f}" for t, v in ratios.items()) + ")."]
    return lines


# -- main ---------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"{', '.join(QUICK_TABLES)} only, {QUICK['steps']} steps, "
                             f"{QUICK['train_rows']:,} training "
                             "rows, one seed: a smoke run of every model and metric")
    parser.add_argument("--tables", nargs="+", choices=list(TABLES),
                        help="tables to run (default: all, or the quick ones)")
    parser.add_argument("--models", nargs="+", help="models to run (default: every ours_<kind> and sdv_<kind>)")
    parser.add_argument("--seeds", type=int, help="training seeds 0..N-1 for every table (default: 3 for tables under "
                                                  f"{SMALL_TABLE:,} training rows, else 1)")
    parser.add_argument("--steps", type=int, help=f"training budget in optimisation steps (default {STEPS:,})")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads, ours and SDV's alike (default 1: on 2 shared cores more threads than "
                             "free cores slow every step many times over; run two suites on different --tables to use "
                             "both cores, then one more run with every table, which only collects the cells)")
    parser.add_argument("--retry-failed", action="store_true", help="compute again the cells whose model raised")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    known = model_names()
    models = args.models or known
    unknown = [m for m in models if m not in known]
    if unknown:
        parser.error(f"--models: {', '.join(unknown)} unknown; choose from {', '.join(known)}")
    budget = QUICK if args.quick else {"steps": STEPS, "train_rows": MAX_TRAIN_ROWS, "test_rows": MAX_TEST_ROWS,
                                       "score_rows": SCORE_ROWS}
    budget = {**budget, **({"steps": args.steps} if args.steps else {})}
    tables = args.tables or (list(QUICK_TABLES) if args.quick else list(TABLES))
    stem = "suite_quick" if args.quick else "suite"
    cells_dir = args.out / f"{stem}_cells"

    import torch

    torch.set_num_threads(args.threads)
    results: dict = {
        "settings": {"quick": args.quick, "tables": tables, "models": models, **budget},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "python": platform.python_version()},
        "tables": {}, "cells": [],
    }
    plan = []
    for table in tables:
        split = load_split(table, train_rows=budget["train_rows"], test_rows=budget["test_rows"])
        epochs, batch = schedule(len(split.train), budget["steps"])
        seeds = args.seeds or (1 if args.quick else default_seeds(len(split.train)))
        results["tables"][table] = {"rows": split.rows, "train_rows": len(split.train), "test_rows": len(split.test),
                                    "target": split.target, "task": split.task, "epochs": epochs, "batch_size": batch,
                                    "seeds": seeds}
        plan += [(split, model, seed, epochs, batch) for model in models for seed in range(seeds)]

    def settings_of(split: Split, epochs: int, batch: int) -> dict:
        return {"steps": budget["steps"], "epochs": epochs, "batch_size": batch, "train_rows": len(split.train),
                "test_rows": len(split.test), "score_rows": budget["score_rows"], "split_seed": SPLIT_SEED,
                **({"not_scored": list(split.identifiers)} if split.identifiers else {})}

    pending = [(split, model) for split, model, seed, epochs, batch in plan
               if read_cell(cell_path(cells_dir, split.name, model, seed), settings_of(split, epochs, batch),
                            args.retry_failed) is None]
    if pending:
        warm_up(pending[0][0], list(dict.fromkeys(model for _, model in pending)))
    started = time.perf_counter()
    for i, (split, model, seed, epochs, batch) in enumerate(plan, start=1):
        settings = settings_of(split, epochs, batch)
        compute = functools.partial(run_cell, split, model, seed, epochs=epochs, batch_size=batch,
                                    score_rows=budget["score_rows"], steps=budget["steps"])
        cell_started = time.perf_counter()
        cell, fresh = run_or_skip(cells_dir, split.name, model, seed, settings, compute, args.retry_failed)
        results["cells"].append(cell)
        print(f"[{i}/{len(plan)}] {split.name} {model} seed {seed}: {_progress(cell)}"
              + (f" ({time.perf_counter() - cell_started:.0f} s; {time.perf_counter() - started:.0f} s in all)"
                 if fresh else " (done before: skipped)"), flush=True)
        results["summary"] = summarise(results["cells"])
        write_json(args.out / f"{stem}.json", results)  # after every cell, so a cut-short run keeps its figures
    results["summary"] = summarise(results["cells"])
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.out / f"{stem}.json", results)
    (args.out / f"{stem}.md").write_text(render(results))
    print(f"wrote {args.out / f'{stem}.md'} and {stem}.json in {results['wall_seconds']:.0f} s")
    return results


def _progress(cell: dict) -> str:
    if "error" in cell:
        return f"FAILED {cell['error']}"
    parts = [f"{m.key} {cell[m.key]:.{m.digits}f}" for m in METRICS if cell.get(m.key) is not None]
    return ", ".join(parts) + (f", trtr {cell['trtr']:.3f}" if cell.get("trtr") is not None else "")


if __name__ == "__main__":
    main()
