"""The gate's memory bounds and the safety of the pages it writes (issue 13, items 4 and 5).

Memory: `synth validate` runs in a child process whose peak resident memory is
measured (`getrusage` of a wrapper that waits for it), on tables whose
cardinality used to decide the gate's memory: one-hot encodings as wide as
the distinct values, whole training tables encoded at once, dense
contingency tables of distinct × distinct values. A 50,000-row table with a
50,000-distinct string column took 22.5 GB before. The bound asserted is
2 GB: the interpreter with torch, pandas, scikit-learn, sdmetrics and Great
Expectations imported is about 0.45 GB, the fixed gate measured 0.7 GB on
that table, and a regression to any encoding that grows with cardinality
costs gigabytes at these sizes (distinct values × rows × 4 bytes: 50,000 ×
5,000 × 4 = 1 GB for one sample of one column alone). The child also gets an
8 GB address-space limit, so a regression fails the test (MemoryError, exit
3) instead of driving the machine into its OOM killer.

Escaping: column names, category values, titles and class names carrying
HTML payloads must appear in no written page unescaped, and no page may
carry a script element or an event-handler attribute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from tests.hostile.conftest import SYNTH, leftovers, synth_env

PEAK_RSS_BOUND = 2 * 1024**3

#: Runs `synth ARGS...` with an address-space limit and prints its exit code and peak RSS as JSON.
_MEASURE = """
import json, resource, subprocess, sys
limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (8 * 1024**3, 8 * 1024**3))
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, preexec_fn=limit, stdin=subprocess.DEVNULL)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"code": done.returncode, "out": done.stdout, "err": done.stderr, "peak": peak}))
"""


def validate_measured(*argv: str | Path) -> dict:
    """`synth validate ARGS...` in a child process: its exit code, stdout, stderr and peak RSS in bytes."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *SYNTH, "validate", *map(str, argv)],
                          capture_output=True, text=True, env=synth_env(), timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spec(folder: Path, source: Path, max_rows_scored: int) -> Path:
    spec = folder / "limits.yaml"
    spec.write_text(f"name: limits\nsource:\n  path: {source}\ngenerator:\n  kind: gaussian_copula\n"
                    f"validation:\n  max_rows_scored: {max_rows_scored}\n")
    return spec


def _write(folder: Path, **tables: pd.DataFrame) -> dict[str, Path]:
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.parquet"
        table.to_parquet(paths[name], index=False)
    return paths


def _normal_columns(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=n), "y": rng.integers(0, 100, n), "group": rng.choice(list("abcde"), n),
            "label": rng.choice(["yes", "no"], n)}


def _assert_ran_within_bound(run: dict, *codes: int) -> dict:
    assert run["code"] in codes, f"exit {run['code']}; stderr:\n{run['err'][-3000:]}"
    assert "Traceback" not in run["err"], run["err"][-3000:]
    assert run["peak"] < PEAK_RSS_BOUND, f"peak RSS {run['peak'] / 1024**3:.2f} GB"
    return run


def test_50000_distinct_strings_in_50000_rows_stay_under_2_gb(tmp_path):
    n = 50_000
    files = _write(
        tmp_path,
        real=pd.DataFrame({"key": [f"k-{i:07d}" for i in range(n)], **_normal_columns(n, 0)}),
        holdout=pd.DataFrame({"key": [f"k-{n + i:07d}" for i in range(n // 4)], **_normal_columns(n // 4, 1)}),
        synthetic=pd.DataFrame({"key": [f"k-{2 * n + i:07d}" for i in range(n)], **_normal_columns(n, 2)}),
    )
    # 2,000 rows scored keeps the case fast; every real row is still read by the schema suite and the distances
    spec = _spec(tmp_path, files["real"], max_rows_scored=2_000)
    report = tmp_path / "report"
    run = _assert_ran_within_bound(validate_measured(
        "--real", files["real"], "--synthetic", files["synthetic"], "--holdout", files["holdout"],
        "--target", "label", "--spec", spec, "--report", report), 1)
    gate = json.loads((report / "gate.json").read_text())
    failed = {c["name"] for c in gate["checks"] if c["required"] and not c["passed"]}
    assert failed == {"categories:key"}, failed  # every key is new; everything else is measured and passes
    assert "[FAIL] schema/categories:key" in run["out"] and "50000 known categories" in run["out"]
    # max_rows_scored bounds every sampled step, and the pooled column is named where the quality is reported
    details = gate["details"]
    assert details["quality"]["rows_scored"] == [2_000, 2_000]
    assert details["quality"]["pooled_columns"] == {"key": 2_000}
    assert details["detection"]["rows"] == 2_000 and details["membership"]["synthetic_rows"] == 2_000
    assert details["distances"]["rows"] == {"synthetic": 2_000, "train": n, "holdout": n // 4}  # exact, against all
    assert details["utility"]["rows"] == {"synthetic": 2_000, "train": 2_000, "holdout": 2_000}
    # the category set is named by a digest in GX's configuration, not copied into it 50,000 times over
    schema = json.loads((report / "schema_suite_result.json").read_text())
    key_check = next(r for r in schema["results"] if r["expectation_config"]["meta"]["check"] == "categories:key")
    assert key_check["expectation_config"]["kwargs"]["known_count"] == n
    assert len(json.dumps(schema)) < 200_000
    assert leftovers(tmp_path) == []


def test_a_table_of_only_unique_strings_is_judged_within_the_bound(tmp_path):
    n = 20_000

    def table(offset: int, rows: int) -> pd.DataFrame:
        return pd.DataFrame({name: [f"{name}-{offset + i}" for i in range(rows)] for name in ("id", "email", "street")})

    files = _write(tmp_path, real=table(0, n), holdout=table(n, n // 4), synthetic=table(2 * n, n))
    report = tmp_path / "report"
    run = _assert_ran_within_bound(validate_measured(
        "--real", files["real"], "--synthetic", files["synthetic"], "--holdout", files["holdout"],
        "--spec", _spec(tmp_path, files["real"], 2_000), "--report", report), 1)
    for column in ("id", "email", "street"):  # every synthetic value is new: named per column
        assert f"[FAIL] schema/categories:{column}" in run["out"]
    gate = json.loads((report / "gate.json").read_text())
    measured = {c["name"] for c in gate["checks"]}
    assert {"quality_score", "detection_auc", "dcr_closer_to_training", "membership_auc"} <= measured
    assert set(gate["details"]["quality"]["pooled_columns"]) == {"id", "email", "street"}


def test_a_20000_wide_category_column_is_judged_within_the_bound(tmp_path):
    n = 40_000
    cities = np.array([f"city-{i:05d}" for i in range(20_000)])

    def table(rows: int, seed: int) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        every_city_then_repeats = np.r_[np.arange(20_000), r.integers(0, 20_000, rows - 20_000)]
        return pd.DataFrame({"city": cities[every_city_then_repeats][r.permutation(rows)],
                             **_normal_columns(rows, seed)})

    real, synthetic = table(n, 1), table(n, 2)
    holdout = real.sample(n // 4, random_state=3)
    real = real.drop(holdout.index)
    files = _write(tmp_path, real=real, holdout=holdout, synthetic=synthetic)
    report = tmp_path / "report"
    run = _assert_ran_within_bound(validate_measured(
        "--real", files["real"], "--synthetic", files["synthetic"], "--holdout", files["holdout"],
        "--target", "label", "--spec", _spec(tmp_path, files["real"], 2_000), "--report", report), 0, 1)
    gate = json.loads((report / "gate.json").read_text())
    assert {"quality_score", "detection_auc", "dcr_closer_to_training", "membership_auc", "tstr_trtr_ratio"} <= {
        c["name"] for c in gate["checks"]}
    assert "city" in gate["details"]["quality"]["pooled_columns"]
    assert "city" in next(c["detail"] for c in gate["checks"] if c["name"] == "quality_score")  # the card says so
    assert run["out"].splitlines()[-2].startswith("gate ")  # every check ran and was printed


# --- item 5: nothing user-controlled reaches a page unescaped ------------------------------------------------------

PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", '"><svg onload=alert(3)>')


class _Markup(HTMLParser):
    """Every start tag and attribute name a browser would build from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def assert_page_is_inert(page: Path) -> None:
    """No payload verbatim, no script element, no event handler, no image or frame pulling anything in."""
    text = page.read_text(encoding="utf-8")
    for payload in PAYLOADS:
        assert payload not in text, f"{payload!r} unescaped in {page}"
    markup = _Markup()
    markup.feed(text)
    assert not markup.tags & {"script", "iframe", "object", "embed", "svg:script"}, (page, markup.tags)
    assert not [a for a in markup.attributes if a.startswith("on")], (page, markup.attributes)
    assert not markup.tags & {"img", "image"} or "src='data:image/png;base64," in text


def hostile_table(n: int, seed: int) -> pd.DataFrame:
    """Column names and category values that are HTML payloads, beside ordinary columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        PAYLOADS[0]: rng.choice(list(PAYLOADS), n),
        PAYLOADS[1]: rng.normal(size=n),
        PAYLOADS[2]: rng.choice(["plain", PAYLOADS[2]], n),
        "label": rng.choice(["yes", PAYLOADS[0]], n),
    })


def test_hostile_column_names_and_values_are_escaped_in_every_page_validate_writes(cli, tmp_path):
    real, holdout, synthetic = hostile_table(600, 0), hostile_table(200, 1), hostile_table(600, 2)
    synthetic.loc[:4, PAYLOADS[0]] = "<b>never seen</b>"  # quoted as an unexpected value in a failed check
    files = _write(tmp_path, real=real, holdout=holdout)
    named = tmp_path / f"{PAYLOADS[2]}.parquet"  # the page title names the synthetic file
    synthetic.to_parquet(named, index=False)
    report = tmp_path / "report"
    outcome = cli("validate", "--real", files["real"], "--synthetic", named, "--holdout", files["holdout"],
                  "--target", "label", "--report", report)
    assert outcome.code == 1 and outcome.err == "", outcome.err  # the unseen value fails the gate, as it should
    assert f"[FAIL] schema/categories:{PAYLOADS[0]}" in outcome.out
    pages = sorted(report.rglob("*.htm*"))
    assert [p.name for p in pages] == ["report.html"]  # GX Data Docs are not written: their renderer does not escape
    for page in pages:
        assert_page_is_inert(page)
    text = (report / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&quot;&gt;&lt;svg onload=alert(3)&gt;" in text
    assert "&lt;b&gt;never seen&lt;/b&gt;" in text  # shown, as text


def test_the_image_report_escapes_class_names_titles_and_details(tmp_path):
    from validation.checks import CheckResult
    from validation.gate import GateReport
    from validation.image_report import write_image_report

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (12, 8, 8, 1), dtype=np.uint8)
    labels = np.arange(12) % 3
    report = GateReport(
        checks=[CheckResult("fidelity", "label_faithfulness", False, PAYLOADS[1], 0.5, f"class {PAYLOADS[0]} failed")],
        details={"faithfulness": {"per_class": {p: 0.5 for p in PAYLOADS}, "judge_accuracy": 0.9}},
    )
    page = write_image_report(tmp_path / "report.html", report, images, labels, list(PAYLOADS),
                              title=PAYLOADS[0], subtitle=PAYLOADS[2], interpolation=[(PAYLOADS[1], images[:4])])
    assert_page_is_inert(page)
    assert page.read_text(encoding="utf-8").count("&lt;script&gt;") >= 3  # title, class name, detail: shown as text


def test_a_report_title_and_subtitle_from_the_spec_are_escaped(tmp_path):
    """`synth run` titles the page with the dataset name and subtitles it with the source path: both escaped."""
    from validation.gate import GateReport
    from validation.report import write_report

    table = hostile_table(300, 0)
    page = write_report(tmp_path / "report.html", GateReport(checks=[]), table, hostile_table(300, 1),
                        title=f"{PAYLOADS[0]}: synthetic data gate report", subtitle=f"trained on {PAYLOADS[1]}")
    assert_page_is_inert(page)
