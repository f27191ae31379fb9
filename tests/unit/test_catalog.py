import json

import pandas as pd
import pytest

from synth import catalog


class FakeModel:
    """Stands in for a generator: publishing only needs `save(folder)`."""

    def __init__(self, fail: bool = False):
        self.fail = fail

    def save(self, folder):
        folder.mkdir()
        if self.fail:
            raise OSError("disk full")
        (folder / "config.json").write_text("{}")


CARD = {
    "description": "d", "target": None,
    "source": {"path": "x.csv", "format": "csv", "sha256": "0" * 64, "rows": 3, "columns": ["a"]},
    "split": {"train_rows": 2, "holdout_rows": 1, "holdout_fraction": 0.3, "seed": 0},
    "generator": {"kind": "ctgan", "hyperparameters": {"epochs": 1}, "seed": 0, "device": "cpu", "final_losses": {"g": 1.0}},
    "output": {"rows": 3, "file": "data.parquet"},
    "timings": {"load": 0.1, "total": 0.1},
    "gate": {"passed": True, "checks": [{"suite": "privacy", "name": "exact_copy_rate", "passed": True, "value": 0.0, "threshold": 0.01, "detail": ""}]},
    "packages": {"torch": "x"},
}


def _publish(root, model=None):
    return catalog.publish(
        root, "demo", synthetic=pd.DataFrame({"a": [1, 2, 3]}), model=model or FakeModel(), card=CARD,
        validation={"gate": {"passed": True}},
    )


def test_publish_writes_a_complete_version_and_moves_latest(tmp_path):
    first = _publish(tmp_path)
    assert first == tmp_path / "demo" / "v1"
    assert sorted(p.name for p in first.iterdir()) == ["card.json", "card.md", "data.parquet", "model", "validation"]
    card = json.loads((first / "card.json").read_text())
    assert card["version"] == "v1" and card["name"] == "demo" and card["published_at"]
    assert "exact_copy_rate" in (first / "card.md").read_text()
    assert catalog.latest_version(tmp_path, "demo") == "v1"
    second = _publish(tmp_path)
    assert second.name == "v2" and catalog.latest_version(tmp_path, "demo") == "v2"
    assert catalog.versions_of(tmp_path, "demo") == ["v1", "v2"]


def test_failed_publish_leaves_nothing_and_latest_alone(tmp_path):
    _publish(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        _publish(tmp_path, FakeModel(fail=True))
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["LATEST", "v1"]
    assert catalog.latest_version(tmp_path, "demo") == "v1"


def test_versions_sort_numerically(tmp_path):
    for name in ["v2", "v10", "v1", ".incoming-x"]:
        (tmp_path / "demo" / name).mkdir(parents=True)
    assert catalog.versions_of(tmp_path, "demo") == ["v1", "v2", "v10"]
    assert _publish(tmp_path).name == "v11"
