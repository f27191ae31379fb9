"""Partitioned generation: parallel Prefect tasks on a local Dask cluster of 2 workers."""

from __future__ import annotations

import json

import pandas as pd

from synth import catalog
from synth.cli import main
from tests.conftest import ADULT_COLUMNS, ROOT

SPEC = str(ROOT / "pipelines" / "adult_copula.yaml")
RELAXED = [  # the copula baseline does not reach the default detection and utility bars; this is about the mechanics
    "validation.max_detection_auc=1.0", "validation.min_utility_ratio=0", "validation.min_rare_class_f1_ratio=0",
    "validation.max_target_share_ratio=1000", "validation.null_tolerance=0.2", "validation.min_pair_trends=0.5",
]


def _run(*sets: str) -> int:
    args = ["run", SPEC]
    for item in sets:
        args += ["--set", item]
    return main(args)


def test_partitions_run_on_dask_and_publish_one_dataset(prefect_server, tmp_path, adult_sample_csv, monkeypatch):
    monkeypatch.setenv("SYNTH_DASK_WORKERS", "2")
    root = tmp_path / "published"
    base = [f"source.path={adult_sample_csv}", f"publish.root={root}", "rows=5000", "partition_rows=2000", *RELAXED]
    assert _run(*base) == 0

    version = root / "adult_copula" / "v1"
    parts = sorted(p.name for p in (version / "data").iterdir())
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [len(pd.read_parquet(version / "data" / p)) for p in parts] == [2000, 2000, 1000]
    table = catalog.load("adult_copula", root=root)
    assert table.shape == (5000, 15) and sorted(table.columns) == sorted(ADULT_COLUMNS)
    # partitions are not copies of each other: each has its own seeds
    first, second = (pd.read_parquet(version / "data" / p) for p in parts[:2])
    assert not first.reset_index(drop=True).equals(second.reset_index(drop=True))

    card = json.loads((version / "card.json").read_text())
    assert card["output"]["partitions"] == 3 and card["output"]["rows"] == 5000 and card["output"]["file"] == "data/"
    checks = {c["name"]: c for c in card["gate"]["checks"]}
    assert checks["all_partitions"]["passed"] and "5,000 rows" in checks["all_partitions"]["detail"]
    assert not (version / "model-for-workers").exists()


def test_a_schema_failure_in_any_partition_fails_the_gate(prefect_server, tmp_path, adult_sample_csv, capsys):
    # constraints are kept while sampling now, so a schema failure comes from a null share no partition can match
    # exactly (no tolerance at all)
    root = tmp_path / "published"
    code = _run(f"source.path={adult_sample_csv}", f"publish.root={root}", "rows=3000", "partition_rows=1500", *RELAXED,
                "validation.null_tolerance=0")
    assert code == 1
    err = capsys.readouterr().err
    assert "[FAIL] schema/all_partitions" in err and "nulls_" in err
    assert not (root / "adult_copula").exists() or not catalog.versions_of(root, "adult_copula")
