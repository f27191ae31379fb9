"""`synth validate`: the gate on a pair of files, with the report a person reads."""

import json

import pytest

from synth.cli import main
from tests.conftest import ROOT

SPEC = str(ROOT / "pipelines" / "adult_tvae.yaml")


@pytest.fixture(scope="module")
def files(adult, tmp_path_factory):
    """Real, holdout and fresh real rows of Adult as Parquet files, plus a training copy."""
    folder = tmp_path_factory.mktemp("validate")
    rows = adult.sample(6000, random_state=3).reset_index(drop=True)
    paths = {}
    for name, part in (("real", rows.iloc[:3000]), ("holdout", rows.iloc[3000:4500]), ("fresh", rows.iloc[4500:])):
        paths[name] = folder / f"{name}.parquet"
        part.to_parquet(paths[name], index=False)
    paths["copy"] = folder / "copy.csv"
    rows.iloc[:3000].to_csv(paths["copy"], index=False)
    return paths


def _validate(capsys, *args):
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_training_copy_fails_with_exit_1(capsys, files):
    code, out, _ = _validate(capsys, "--real", files["real"], "--synthetic", files["copy"],
                             "--holdout", files["holdout"])
    assert code == 1
    assert "[FAIL] privacy/exact_copy_rate" in out and "[FAIL] privacy/membership_auc" in out
    assert "gate FAILED" in out


def test_fresh_rows_pass_and_the_report_is_complete(capsys, files, tmp_path):
    # fresh rows can fall outside the 3,000 real rows' ranges; the schema is not what this test is about
    report_dir = tmp_path / "report"
    code, out, _ = _validate(
        capsys, "--real", files["real"], "--synthetic", files["fresh"], "--holdout", files["holdout"],
        "--target", "income", "--report", report_dir,
    )
    gate = json.loads((report_dir / "gate.json").read_text())
    non_schema = [c for c in gate["checks"] if c["suite"] != "schema"]
    assert all(c["passed"] for c in non_schema), [c for c in non_schema if not c["passed"]]
    assert {c["name"] for c in non_schema} >= {"quality_score", "pair_trends", "membership_auc", "tstr_trtr_ratio"}
    assert code == (0 if gate["passed"] else 1)

    page = (report_dir / "report.html").read_text()
    assert "<script" not in page and "http" not in page.split("</style>")[0]  # self-contained, nothing fetched
    for column in ("age", "workclass", "native-country", "income"):
        assert f"<figcaption>{column}</figcaption>" in page  # one marginal plot per column
    assert page.count("<figure>") == 15
    assert "Association difference" in page and "Distance to closest record (DCR)" in page
    assert "tstr_trtr_ratio" in page
    # sdmetrics' sub-scores (worst columns, worst pairs) and what every check scored
    assert "Column shape similarity" in page and "<td>native-country</td>" in page
    assert "Column pair trend similarity" in page and "ContingencySimilarity" in page
    assert "What each check scored" in page and "every one of the 1,500 synthetic rows judged" in page
    assert not (report_dir / "data_docs").exists()  # GX's pages are not written: they cannot be made safe (issue 13)
    assert {p.name for p in report_dir.glob("*_suite_result.json")} == {
        "schema_suite_result.json", "fidelity_suite_result.json", "privacy_suite_result.json",
        "utility_suite_result.json"}


def test_spec_read_options_and_thresholds_apply(capsys, files, adult_sample_csv, tmp_path):
    """--real in UCI's raw form is read with the spec's options; the spec's thresholds judge."""
    strict = tmp_path / "strict.yaml"
    spec_text = (ROOT / "pipelines" / "adult_tvae.yaml").read_text()
    strict.write_text(spec_text.replace("min_quality: 0.75", "min_quality: 0.999"))
    code, out, _ = _validate(capsys, "--real", adult_sample_csv, "--synthetic", files["fresh"], "--spec", strict)
    assert code == 1
    assert "[FAIL] fidelity/quality_score" in out and "required at least 0.999" in out
    # no holdout: no DCR, membership or utility checks
    assert "dcr_closer_to_training" not in out and "tstr_trtr_ratio" not in out


@pytest.mark.parametrize("problem", ["missing", "columns", "target"])
def test_bad_input_exits_2(capsys, files, tmp_path, problem):
    args = ["--real", files["real"], "--synthetic", files["fresh"]]
    if problem == "missing":
        args[3] = tmp_path / "nope.parquet"
        expected = "nope.parquet"
    elif problem == "columns":
        import pandas as pd

        narrow = tmp_path / "narrow.parquet"
        pd.read_parquet(files["fresh"]).drop(columns=["age"]).to_parquet(narrow)
        args[3] = narrow
        expected = "missing ['age']"
    else:
        args += ["--target", "salary"]
        expected = "--target 'salary' is not a column"
    code, _, err = _validate(capsys, *args)
    assert code == 2 and expected in err and "Traceback" not in err
