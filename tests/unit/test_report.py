"""report.html and the card's "rows scored", rendered from a hand-made gate result (no gate run: fast)."""

import numpy as np
import pandas as pd

from synth.catalog import render_card
from validation.checks import CheckResult
from validation.gate import GateReport
from validation.report import write_report


def _tables():
    rng = np.random.default_rng(0)
    n = 300
    real = pd.DataFrame({
        "age": rng.integers(17, 90, n),
        "income": rng.normal(5e4, 1e4, n),
        "city": rng.choice(["Oslo", "Lima", "Pune", None], n),
        "member": rng.random(n) < 0.3,
        "joined": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
    })
    real.loc[:9, "income"] = np.nan
    synthetic = real.sample(frac=1, random_state=1).reset_index(drop=True)
    return real, synthetic


def _report() -> GateReport:
    checks = [
        CheckResult("schema", "range:age", True, [17, 89], [17, 89]),
        CheckResult("fidelity", "pair_trends", False, 0.61, 0.8, "pairwise similarity, averaged"),
        CheckResult("privacy", "nndr_p5", False, 0.01, "report only", "near 0", required=False),
    ]
    details = {
        "quality": {
            "column_shapes": {"age": 0.97, "income": 0.91, "city": None},  # None: sdmetrics could not score it
            "pair_trends": [
                {"columns": ["age", "income"], "metric": "CorrelationSimilarity", "score": 0.52, "counted": True,
                 "real_correlation": 0.61, "synthetic_correlation": -0.35, "real_association": None},
                {"columns": ["age", "city"], "metric": "ContingencySimilarity", "score": 0.93, "counted": True,
                 "real_correlation": None, "synthetic_correlation": None, "real_association": 0.41},
                {"columns": ["city", "member"], "metric": "ContingencySimilarity", "score": None, "counted": False,
                 "real_correlation": None, "synthetic_correlation": None, "real_association": 0.02},
            ],
            "pair_thresholds": {"correlation": 0.5, "association": 0.3},
        },
        "distances": {
            "dcr_histogram": {"edges": [0.0, 0.5, 1.0], "to_training": [3, 7], "to_holdout": [2, 8]},
            "rows": {"synthetic": 10, "train": 300, "holdout": 80},
        },
        "scored": {"schema (columns, ...)": "every one of the 300 synthetic rows judged",
                   "detection_auc": "a random 200 of 300 training rows"},
    }
    return GateReport(checks=checks, details=details, seconds=1.5)


def test_report_page_shows_checks_sub_scores_plots_and_what_was_scored(tmp_path):
    real, synthetic = _tables()
    page = write_report(tmp_path / "report.html", _report(), real, synthetic, title="t").read_text()

    assert "<script" not in page and "http" not in page  # self-contained: nothing to fetch
    assert "Gate FAILED (1 required checks failed)" in page
    assert "<tr class=bad><td>fidelity</td><td>pair_trends</td><td>FAIL</td>" in page
    assert "<tr class=warn><td>privacy</td><td>nndr_p5</td>" in page
    assert [c for c in real.columns if f"<figcaption>{c}</figcaption>" not in page] == []  # a plot per column
    assert page.count("<figure>") == len(real.columns)
    # sub-scores: the unscored column first, the worst pair first with its real and synthetic r
    assert page.index("<td>city</td><td>not scored</td>") < page.index("<td>income</td><td>0.910</td>")
    assert "<td>age × income</td><td>CorrelationSimilarity</td><td>0.520</td><td>+0.610</td><td>-0.350</td>" in page
    assert "<td>age × city</td><td>ContingencySimilarity</td><td>0.930</td><td></td><td></td><td>0.410</td>" in page
    assert page.index("age × income") < page.index("age × city")
    assert "2 of 3 pairs here" in page and "<td>city × member</td>" not in page  # not scored: not listed
    assert "What each check scored" in page and "a random 200 of 300 training rows" in page
    assert "Association difference" in page and "Distance to closest record (DCR)" in page


def test_card_says_which_rows_each_check_scored():
    report = _report()
    card = {
        "name": "toy", "version": "v1", "description": "", "published_at": "now", "output": {"rows": 300},
        "gate": report.to_dict(), "report": "report.html",
        "source": {"path": "toy.csv", "format": "csv", "sha256": "0" * 64, "rows": 380, "columns": ["age"]},
        "split": {"seed": 0, "train_rows": 300, "holdout_rows": 80},
        "generator": {"kind": "tvae", "device": "cpu", "seed": 0, "hyperparameters": {"epochs": 1}},
        "timings": {"total": 1.0}, "packages": {"torch": "2"},
    }
    text = render_card(card)
    assert "[report.html](report.html)" in text
    assert "## Rows scored\n- schema (columns, ...): every one of the 300 synthetic rows judged\n" in text
