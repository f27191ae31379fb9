"""validation.diagnosis: single-column detectors name the column that gives synthetic rows away; next steps follow
from what failed; a failed run's evidence is kept outside the catalog's datasets."""

import numpy as np
import pandas as pd

from validation.checks import CheckResult
from validation.diagnosis import column_detection, next_steps


def _tables(n: int = 2000):
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"amount": rng.lognormal(3, 1, n), "kind": rng.choice(["a", "b", "c"], n),
                         "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
                         "flag": rng.random(n) < 0.3})
    synth = real.sample(frac=1, random_state=1).reset_index(drop=True).copy()
    synth["amount"] = rng.normal(20, 5, n)  # smeared: the one column that gives the rows away
    return real, synth


def test_the_column_that_gives_rows_away_comes_first_and_faithful_ones_score_near_a_half():
    real, synth = _tables()
    columns = column_detection(real, synth, max_rows=5000, seed=0)
    assert columns[0][0] == "amount" and columns[0][1] > 0.8
    assert all(auc < 0.6 for name, auc in columns[1:])


def test_missing_values_and_a_cap_on_rows_are_handled():
    real, synth = _tables()
    real.loc[::7, "kind"] = None
    synth.loc[::3, "kind"] = None  # more missing in the synthetic rows: detectable
    columns = dict(column_detection(real, synth, max_rows=800, seed=0))
    assert columns["kind"] > columns["flag"]


def _check(suite, name, passed=False, detail=""):
    return CheckResult(suite=suite, name=name, passed=passed, value=0.5, threshold=0.6, detail=detail, bound="max")


def test_next_steps_follow_from_what_failed():
    columns = [("amount", 0.91), ("kind", 0.52)]
    steps = next_steps([_check("fidelity", "detection_auc")], columns, {"epochs": 300})
    assert len(steps) == 1 and "amount (AUC 0.91)" in steps[0] and "generator.epochs=600" in steps[0]
    steps = next_steps([_check("privacy", "dcr_closer_to_training")], columns, {"epochs": 300})
    assert "generator.epochs=150" in steps[0] and "memorisation" in steps[0]
    assert next_steps([_check("fidelity", "detection_auc", passed=True)], columns) == []


def test_a_failed_run_keeps_its_evidence_in_a_hidden_area_and_only_the_last_few(tmp_path):
    from flows.staging import FAILED_KEPT, keep_failed_run

    evidence = tmp_path / "evidence"
    synth = _tables(300)[1]
    kept = []
    for i in range(FAILED_KEPT + 2):
        evidence.mkdir(exist_ok=True)
        (evidence / "report.html").write_text(f"<p>run {i}</p>")
        folder = keep_failed_run(tmp_path / "root", "sales", evidence, synth, {"passed": False})
        kept.append(folder)
        folder.rename(folder.with_name(f"{i:02d}"))  # distinct, ordered names (the real ones carry the time)
    folders = sorted((tmp_path / "root" / ".failed" / "sales").iterdir())
    assert len(folders) <= FAILED_KEPT + 1
    last = folders[-1]
    assert (last / "report.html").read_text() == f"<p>run {FAILED_KEPT + 1}</p>"
    assert len(pd.read_csv(last / "synthetic_sample.csv")) == 200


def test_a_linked_failed_area_is_never_written_through(tmp_path):
    from flows.staging import keep_failed_run

    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / ".failed").symlink_to(outside)
    assert keep_failed_run(tmp_path / "root", "sales", tmp_path, _tables(50)[1], {}) is None
    assert list(outside.iterdir()) == []
