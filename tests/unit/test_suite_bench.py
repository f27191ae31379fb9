"""bench/suite.py's bookkeeping (a cell on a tiny table, resume and skip, the markdown), and the bundled specs:
every pipelines/*.yaml loads and reads its data from data/, so a fresh clone runs without ../shared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench import suite
from synth.spec import ImageSourceSpec, SourceSpec, load_spec
from tests.conftest import ROOT

SPECS = sorted((ROOT / "pipelines").glob("*.yaml"))
#: Specs whose data is too large to bundle (Fashion-MNIST is 30 MB): they read ../shared's copy via data/.
NOT_BUNDLED = {"fashion_mnist_dcgan.yaml", "fashion_mnist_ddpm.yaml", "fashion_mnist_vae.yaml"}


def _tiny_split(rows: int = 240, seed: int = 0) -> suite.Split:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    table = pd.DataFrame({
        "amount": np.round(np.exp(x) * 100, 2),
        "count": rng.integers(0, 5, rows),
        "colour": rng.choice(["red", "green", "blue"], rows),
        "label": np.where(x + rng.normal(scale=0.5, size=rows) > 0, "yes", "no"),
    })
    train, test = table.iloc[:180].reset_index(drop=True), table.iloc[180:].reset_index(drop=True)
    return suite.Split("tiny", train, test, "label", "classification", rows)


def _settings(**changes) -> dict:
    return {"steps": 10, "epochs": 1, "batch_size": 20, "train_rows": 180, "test_rows": 60, "score_rows": 180,
            "split_seed": 0, **changes}


# --------------------------------------------------------------------------------------------------- the cell

def test_a_copula_cell_on_a_tiny_table_measures_every_metric():
    cell = suite.run_cell(_tiny_split(), "ours_gaussian_copula", 0, epochs=1, batch_size=20, score_rows=180)
    for metric in suite.METRICS:
        assert metric.key in cell, metric.key
    assert 0.0 <= cell["column_shapes"] <= 1.0 and 0.0 <= cell["c2st"] <= 1.0
    assert 0.0 <= cell["detection_auc"] <= 1.0 and 0.0 <= cell["membership_auc"] <= 1.0
    assert 0.0 <= cell["tstr"] <= 1.0 and 0.5 < cell["trtr"] <= 1.0  # the label is learnable from `amount`
    assert cell["fit_seconds"] >= 0 and cell["sample_seconds"] >= 0


@pytest.mark.slow
def test_a_trained_cell_ours_and_sdv_at_the_same_epochs():
    split = _tiny_split()
    for model in ("ours_tvae", "sdv_tvae"):
        cell = suite.run_cell(split, model, 0, epochs=2, batch_size=20, score_rows=180)
        assert 0.0 <= cell["detection_auc"] <= 1.0, model


def test_models_follow_the_generator_registry():
    from synth.models import GENERATORS

    names = suite.model_names()
    assert [n for n in names if n.startswith("ours_")] == [f"ours_{kind}" for kind in GENERATORS]
    assert {"sdv_gaussian_copula", "sdv_ctgan", "sdv_tvae"} <= set(names)


def test_tstr_is_r2_for_a_regression_target_and_handles_a_one_class_synthetic_table():
    split = _tiny_split()
    one_class = split.train.assign(label="yes")
    synthetic, real = suite.tstr(split.train, split.test, one_class, "label", "classification", 0)
    assert synthetic == 0.5 and real > 0.5  # a constant prediction ranks nothing
    regression = split.train.assign(y=split.train["count"] * 3.0 + 0.5)
    test = split.test.assign(y=split.test["count"] * 3.0 + 0.5)
    synthetic, real = suite.tstr(regression, test, regression, "y", "regression", 0)
    assert synthetic == real and real > 0.9


def test_c2st_takes_none_and_nan_as_the_same_missing_value():
    split = _tiny_split()
    real = split.train.assign(colour=split.train["colour"].where(split.train.index % 7 > 0))  # NaN
    synthetic = split.train.assign(colour=split.train["colour"].astype(object).where(split.train.index % 5 > 0, None))
    assert 0.0 <= suite.c2st(real, synthetic, 180, 0) <= 1.0


def test_c2st_is_seeded_and_leaves_numpy_global_generator_as_it_was():
    split = _tiny_split()
    synthetic = _tiny_split(seed=1).train
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = suite.c2st(split.train, synthetic, 180, 0)
    assert np.random.random() == expected_next
    assert suite.c2st(split.train, synthetic, 180, 0) == first


def test_the_step_budget_sets_epochs_and_batches():
    assert suite.schedule(800, 4000) == (400, 80)  # a tenth of the rows per batch: 10 steps an epoch
    assert suite.schedule(20_000, 4000) == (100, 500)
    assert suite.schedule(100, 1_000_000)[0] == suite.MAX_EPOCHS
    for rows in (150, 999, 7_043):
        assert suite.schedule(rows, 100)[1] % suite.BATCH_MULTIPLE == 0  # CTGAN's pac divides the batch


# ------------------------------------------------------------------------------------------- resume and skip

def test_a_finished_cell_is_skipped_and_a_changed_one_recomputed(tmp_path):
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"detection_auc": 0.6}

    cell, fresh = suite.run_or_skip(tmp_path, "tiny", "ours_tvae", 0, _settings(), compute)
    assert fresh and cell["detection_auc"] == 0.6
    assert json.loads(suite.cell_path(tmp_path, "tiny", "ours_tvae", 0).read_text())["detection_auc"] == 0.6
    cell, fresh = suite.run_or_skip(tmp_path, "tiny", "ours_tvae", 0, _settings(), compute)
    assert not fresh and len(calls) == 1  # read back, not trained again
    _, fresh = suite.run_or_skip(tmp_path, "tiny", "ours_tvae", 0, _settings(steps=20), compute)
    assert fresh and len(calls) == 2  # another budget: not the same cell
    _, fresh = suite.run_or_skip(tmp_path, "tiny", "ours_tvae", 1, _settings(steps=20), compute)
    assert fresh and len(calls) == 3  # another seed: its own cell
    assert not list(tmp_path.glob("*.tmp"))


def test_a_failed_cell_is_kept_with_its_error_and_retried_only_when_asked(tmp_path):
    def boom() -> dict:
        raise ValueError("bad column")

    cell, _ = suite.run_or_skip(tmp_path, "tiny", "sdv_ctgan", 0, _settings(), boom)
    assert cell["error"] == "ValueError: bad column"
    cell, fresh = suite.run_or_skip(tmp_path, "tiny", "sdv_ctgan", 0, _settings(), lambda: {"c2st": 0.9})
    assert not fresh and "error" in cell
    cell, fresh = suite.run_or_skip(tmp_path, "tiny", "sdv_ctgan", 0, _settings(), lambda: {"c2st": 0.9},
                                    retry_failed=True)
    assert fresh and cell["c2st"] == 0.9


def test_a_truncated_cell_file_is_computed_again(tmp_path):
    suite.cell_path(tmp_path, "tiny", "ours_tvae", 0).write_text('{"detection_auc": 0.')
    _, fresh = suite.run_or_skip(tmp_path, "tiny", "ours_tvae", 0, _settings(), lambda: {"detection_auc": 0.7})
    assert fresh


# ------------------------------------------------------------------------------------------------- markdown

def _results(cells: list[dict]) -> dict:
    return {
        "settings": {"quick": False, "tables": ["tiny"], "models": ["ours_tvae", "sdv_tvae"], "steps": 10,
                     "train_rows": 180, "test_rows": 60, "score_rows": 180},
        "machine": {"cpu_count": 2, "torch": "x", "torch_threads": 2},
        "tables": {"tiny": {"rows": 240, "train_rows": 180, "test_rows": 60, "target": "label",
                            "task": "classification", "epochs": 1, "batch_size": 20, "seeds": 2}},
        "summary": suite.summarise(cells),
    }


def _cell(model: str, seed: int, **figures) -> dict:
    base = {m.key: 0.5 for m in suite.METRICS} | {"trtr": 0.8}
    return {"table": "tiny", "model": model, "seed": seed, **base, **figures}


def test_markdown_has_a_table_per_metric_and_marks_the_winner():
    cells = [_cell("ours_tvae", 0, detection_auc=0.6, tstr=0.7, dcr_share=0.7),
             _cell("ours_tvae", 1, detection_auc=0.7, tstr=0.7, dcr_share=0.7),
             _cell("sdv_tvae", 0, detection_auc=0.9, tstr=0.75, dcr_share=0.45)]
    text = suite.render(_results(cells))
    for metric in suite.METRICS:
        assert f"### {metric.title}" in text
    detection = text.split("### Detection AUC")[1].split("###")[0]
    assert "| tiny | **0.650 ± 0.071** | 0.900 |" in detection  # lower is better; mean ± sd over 2 seeds
    tstr = text.split("### TSTR:")[1].split("###")[0]
    assert "| tiny | 0.700 ± 0.000 | **0.750** | 0.800 |" in tstr  # higher is better; TRTR beside it
    dcr = text.split("### DCR share")[1].split("###")[0]
    assert "**0.450**" in dcr  # 0.45 is nearer 0.5 than 0.7
    assert "| detection_auc | 1 | 0 | 0 |" in text  # ours' best beat SDV's best on the one table
    assert "| tstr | 0 | 0 | 1 |" in text


def test_tied_best_values_are_all_marked_and_counted_as_ties():
    cells = [_cell("ours_tvae", 0, c2st=1.0), _cell("sdv_tvae", 0, c2st=1.0)]
    text = suite.render(_results(cells))
    c2st = text.split("### C2ST")[1].split("###")[0]
    assert "| tiny | **1.000** | **1.000** |" in c2st
    assert "| c2st | 0 | 1 | 0 |" in text


def test_markdown_names_failed_cells():
    cells = [_cell("ours_tvae", 0), {"table": "tiny", "model": "sdv_tvae", "seed": 0, "error": "RuntimeError: boom"}]
    text = suite.render(_results(cells))
    assert "failed" in text.split("### Column shapes")[1].split("###")[0]
    assert "- tiny / sdv_tvae: RuntimeError: boom" in text


# ------------------------------------------------------------------------------------------ bundled specs

@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_every_bundled_spec_loads_and_reads_its_data_from_data(path):
    spec = load_spec(path)
    source = spec.source
    if isinstance(source, ImageSourceSpec) and source.path is None:
        assert source.format == "sklearn_digits"  # ships with scikit-learn
        return
    files = [source.path] + ([source.labels_path, source.test_path, source.test_labels_path]
                             if isinstance(source, ImageSourceSpec) else [])
    if path.name in NOT_BUNDLED and not all((ROOT / f).is_file() for f in filter(None, files)):
        pytest.xfail("Fashion-MNIST (30 MB) is not bundled: copy ../shared/data/fashion-mnist to data/ to run it")
    for file in filter(None, files):
        assert not file.is_absolute() and file.parts[0] == "data", f"{path.name}: {file} is not under data/"
        assert (ROOT / file).is_file(), f"{path.name}: {file} is missing"


@pytest.mark.parametrize("table", sorted(suite.TABLES))
def test_every_benchmark_table_has_a_spec_with_a_target_and_provenance(table):
    spec = load_spec(ROOT / suite.TABLES[table])
    assert isinstance(spec.source, SourceSpec) and spec.target is not None
    folder = (ROOT / spec.source.path).parent
    assert (folder / "README.md").is_file(), f"{folder} has no README.md (provenance)"
    for file in folder.iterdir():
        assert file.stat().st_size < 2_000_000, f"{file} is over 2 MB"
