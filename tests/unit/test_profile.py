"""Column profiling (synth.profile) and `synth init`: each rule on small columns built to trigger it and not to,
and `synth init` on every bundled and shared benchmark table, producing a spec that loads and whose source reads."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth.commands.init import MAX_EPOCHS, dataset_name, tvae_schedule
from synth.errors import DataError
from synth.profile import ColumnProfile, profile_table, public_bounds, sniff_csv, suggest_target
from tests.conftest import ROOT, SHARED_DATA

N = 400


def _one(values, name: str = "x", **others) -> ColumnProfile:
    """Profile `values` as column `name` of a table (with `others` beside it); returns its profile."""
    table = pd.DataFrame({name: values, **others})
    return {p.name: p for p in profile_table(table)}[name]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------------------- sniffing

@pytest.mark.parametrize("sep", [",", ";", "\t", "|", " "])
def test_separator_is_sniffed(tmp_path, sep):
    path = tmp_path / "t.csv"
    rows = ["a,b,c".replace(",", sep)] + [sep.join([str(i), f"v{i % 3}", f"{i * 1.5}"]) for i in range(30)]
    path.write_text("\n".join(rows) + "\n")
    layout = sniff_csv(path)
    assert (layout.sep, layout.fields, layout.header) == (sep, 3, True)


def test_comma_space_file_is_comma_separated_not_space(tmp_path):
    """UCI's ", " splits into the same number of fields on spaces too; the comma is preferred."""
    path = tmp_path / "t.data"
    path.write_text("".join(f"{i}, State-gov, {i * 7}, <=50K\n" for i in range(30)))
    layout = sniff_csv(path)
    assert (layout.sep, layout.header, layout.fields) == (",", False, 4)


def test_semicolon_file_with_decimal_commas_is_semicolon_separated(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b;c\n" + "".join(f"{i},5;{i % 3},25;x{i % 2}\n" for i in range(30)))
    assert sniff_csv(path).sep == ";"


def test_text_with_spaces_does_not_make_space_the_separator(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name,city\n" + "".join(f"person {'x ' * (i % 4)}{i},New York\n" for i in range(30)))
    assert sniff_csv(path).sep == ","


def test_header_detected_from_numeric_columns(tmp_path):
    with_header, without = tmp_path / "h.csv", tmp_path / "n.csv"
    body = "".join(f"{i},{i * 2.5},cat{i % 2}\n" for i in range(20))
    with_header.write_text("id,amount,kind\n" + body)
    without.write_text(body)
    assert sniff_csv(with_header).header is True
    assert sniff_csv(without).header is False


def test_header_of_an_all_text_table(tmp_path):
    """No numeric column to vote: a first row of distinct names that never recur below is a header; a first row
    whose values recur below is data."""
    named, unnamed = tmp_path / "h.csv", tmp_path / "n.csv"
    body = "".join(f"{['Yes', 'No'][i % 2]},{['Male', 'Female'][i % 3 % 2]}\n" for i in range(20))
    named.write_text("partner,gender\n" + body)
    unnamed.write_text(body)
    assert sniff_csv(named).header is True
    assert sniff_csv(unnamed).header is False


def test_header_ignores_missing_markers_in_the_first_data_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("?,a\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(20)))
    assert sniff_csv(path).header is False


def test_a_title_line_before_the_table_is_skipped(tmp_path):
    path = tmp_path / "t.test"
    path.write_text("|1x3 Cross validator\n" + "".join(f"{i}, a{i % 3}, {i * 2}\n" for i in range(30)))
    layout = sniff_csv(path)
    assert (layout.skip_rows, layout.header, layout.fields) == (1, False, 3) and "skipped" in layout.evidence


def test_no_line_skipped_when_every_line_has_the_same_fields(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    assert sniff_csv(path).skip_rows == 0


def test_gzip_csv_is_sniffed_decompressed(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("a;b\n" + "".join(f"{i};{i % 3}\n" for i in range(20)))
    assert (sniff_csv(path).sep, sniff_csv(path).header) == (";", True)


def test_one_column_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("value\n" + "".join(f"{i}\n" for i in range(20)))
    with pytest.raises(DataError, match="one column"):
        sniff_csv(path)


# -------------------------------------------------------------------------------------------- missing markers

def test_markers_in_an_otherwise_numeric_column_make_it_numeric():
    values = [str(v) for v in _rng().normal(50, 10, N).round(1)]
    values[::17] = ["?"] * len(values[::17])
    p = _one(pd.Series(values, dtype=object))
    assert p.markers == ("?",) and p.kind == "continuous"
    assert p.missing == len(values[::17]) and "numbers stored as text" in p.evidence


def test_word_markers_in_a_numeric_column():
    values = pd.Series([str(i) for i in range(N)], dtype=object)
    values[::10], values[5::10] = "unknown", "-"
    p = _one(values)
    assert set(p.markers) == {"unknown", "-"} and p.kind in ("continuous", "identifier")


def test_many_text_tokens_are_a_text_column_not_markers():
    values = pd.Series([str(i % 7) if i % 2 else f"level{i % 9}".replace("level", "") + "x" for i in range(N)],
                       dtype=object)
    p = _one(values)
    assert p.markers == () and p.kind == "categorical"


def test_question_mark_in_a_text_column_is_missing_but_dash_is_a_category():
    questions = pd.Series(["a", "b", "?", "c"] * 100, dtype=object)
    signs = pd.Series(["+", "-"] * 200, dtype=object)
    profiles = {p.name: p for p in profile_table(pd.DataFrame({"q": questions, "s": signs}))}
    assert profiles["q"].markers == ("?",) and profiles["q"].missing == 100 and profiles["q"].distinct == 3
    assert profiles["s"].markers == () and profiles["s"].distinct == 2 and profiles["s"].missing == 0


def test_a_marker_found_in_one_column_applies_to_every_column():
    """na_values is global: a '?' found in a numeric column also turns a text column's '?' into missing."""
    numbers = pd.Series([str(i % 50) for i in range(N)], dtype=object)
    numbers[::8] = "?"
    text = pd.Series(["?" if i % 20 == 0 else "ab"[i % 2] for i in range(N)], dtype=object)
    profiles = {p.name: p for p in profile_table(pd.DataFrame({"n": numbers, "t": text}))}
    assert profiles["t"].missing == N // 20 and "'?' read as missing" in profiles["t"].evidence


def test_parquet_markers_are_reported_not_applied():
    values = pd.Series([str(i) for i in range(N)], dtype=object)
    values[::10] = "?"
    p = {q.name: q for q in profile_table(pd.DataFrame({"x": values, "y": 1}), markers_fixable=False)}["x"]
    assert p.markers == () and "Parquet" in p.evidence and p.missing == 0


# ------------------------------------------------------------------------------------------------ identifiers

def test_unique_integers_are_an_identifier():
    ids = _rng().permutation(N) + 1000
    assert _one(ids).kind == "identifier" and _one(ids).keep and "fresh unique keys" in _one(ids).action


def test_unique_integers_handed_out_in_order_or_of_fixed_width_are_identifiers():
    rng = _rng()
    ordered = np.cumsum(rng.integers(1, 40, N)) + 10
    assert _one(ordered).kind == "identifier" and "row position" in _one(ordered).evidence
    fixed = rng.permutation(np.arange(100_000, 999_999, 997))[:N]
    assert _one(fixed).kind == "identifier" and "6 digits wide" in _one(fixed).evidence


def test_unique_integer_amounts_in_a_small_table_are_a_quantity():
    amounts = _rng().permutation(np.arange(1, 60 * N))[:N]  # sparse, varied widths, unrelated to the order
    assert _one(amounts).kind == "continuous"


def test_integers_with_repeats_are_not_an_identifier():
    assert _one(_rng().integers(0, 1000, N)).kind == "continuous"


def test_near_unique_integers_growing_with_the_row_position_are_an_identifier():
    ids = np.sort(_rng().integers(0, 10 * N, N))  # numbers handed out over time, some repeated
    ids[::5] = ids[1::5]
    p = _one(ids)
    assert p.kind == "identifier" and "row position" in p.evidence


def test_near_unique_integers_in_random_order_are_a_quantity():
    """A weight or an amount is as varied as an id but unrelated to the row order."""
    weights = _rng().integers(10_000, 1_000_000, N)
    weights[::5] = weights[1::5]
    assert _one(weights).kind == "continuous"


def test_too_few_rows_for_an_identifier():
    assert _one(np.arange(20)).kind != "identifier"


def test_unique_codes_are_an_identifier_and_unique_sentences_free_text():
    codes = pd.Series([f"{i:04d}-{'ABCDEFG'[i % 7]}X" for i in range(N)], dtype=object)
    sentences = pd.Series([f"the customer number {i} said hello" for i in range(N)], dtype=object)
    profiles = {p.name: p for p in profile_table(pd.DataFrame({"code": codes, "note": sentences}))}
    assert profiles["code"].kind == "identifier" and profiles["code"].keep
    assert profiles["note"].kind == "text" and not profiles["note"].keep


def test_many_categories_are_kept_and_pooled_not_dropped():
    """More than 100 categories but each repeated: a wide categorical (the generators pool the rare ones)."""
    values = pd.Series([f"code{i % 150}" for i in range(2000)], dtype=object)
    p = _one(values)
    assert p.kind == "categorical" and p.keep and "100 most frequent" in p.evidence


def test_few_categories():
    p = _one(pd.Series(["red", "green", "blue", "red"] * 50, dtype=object))
    assert p.kind == "categorical" and p.distinct == 3 and p.keep


# ------------------------------------------------------------------------------------------------- numerics

def test_low_cardinality_integers_are_discrete():
    p = _one(_rng().integers(0, 6, N))
    assert p.kind == "discrete" and p.distinct == 6 and "comes back exactly" in p.action


def test_many_integer_values_are_continuous_integers():
    p = _one(_rng().integers(0, 100, N))
    assert p.kind == "continuous" and p.grid == 1.0 and "integers" in p.evidence


def test_values_on_a_grid_of_hundreds():
    p = _one(_rng().integers(1, 400, N) * 100)
    assert p.grid == 100 and "multiple of 100" in p.evidence and "snapped to multiples of 100" in p.action


def test_integers_off_the_grid():
    values = _rng().integers(1, 400, N) * 100
    values[3] += 7
    assert _one(values).grid == 1.0


def test_fixed_decimals():
    p = _one(_rng().normal(100, 20, N).round(2))
    assert p.grid == pytest.approx(0.01) and "2 places" in p.evidence


def test_full_precision_decimals_have_no_grid():
    p = _one(_rng().normal(100, 20, N))
    assert p.grid is None and "full-precision" in p.evidence


def test_integers_with_missing_values_are_numbers_with_nulls():
    values = _rng().integers(0, 200, N).astype(float)
    values[::9] = np.nan
    p = _one(values)
    assert p.kind == "continuous" and p.grid == 1.0 and p.missing == len(values[::9])
    assert "read as decimals" in p.evidence and "rounded to whole numbers" in p.action


def test_whole_numbers_with_a_few_interpolated_readings_are_whole_numbers():
    values = _rng().integers(990, 1040, N).astype(float)
    values[:3] += 0.666667  # a sensor's interpolated gap fills
    p = _one(values)
    assert p.grid == 1.0 and "off it" in p.evidence and "rounded to whole numbers" in p.action


def test_heavy_positive_tail_gets_a_log():
    p = _one(_rng().lognormal(3, 1.5, 2000))
    assert p.transform == "log" and "heavy" in p.evidence


def test_normal_values_get_no_transform():
    p = _one(_rng().normal(0, 1, 2000))
    assert p.transform is None and "not heavy" in p.evidence


def test_heavy_tail_with_negative_values_gets_a_quantile_transform():
    p = _one(_rng().standard_t(1.2, 2000))
    assert p.transform == "quantile" and "negative" in p.evidence


def test_spike_at_zero_is_left_out_of_the_tail_measure():
    """Mostly zeros plus a log-normal amount: the tail is judged on the amounts (the zeros are a point mass)."""
    values = np.where(_rng(1).random(3000) < 0.9, 0.0, _rng(2).lognormal(6, 1.5, 3000)).round(0)
    p = _one(values)
    assert p.transform == "log" and "spike at 0" in p.evidence


# ---------------------------------------------------------------------------------------------- other kinds

def test_empty_column_is_left_out():
    p = _one([np.nan] * N, y=np.arange(N) % 3)
    assert p.kind == "empty" and not p.keep


def test_booleans():
    p = _one(_rng().random(N) < 0.3)
    assert p.kind == "boolean" and p.keep


def test_many_dates_as_text_are_left_out_few_are_categories():
    many = pd.Series(pd.date_range("2020-01-01", periods=N, freq="D").strftime("%Y-%m-%d"), dtype=object)
    few = pd.Series(np.tile(pd.date_range("2020-01-01", periods=4, freq="MS").strftime("%Y-%m-%d"), N // 4),
                    dtype=object)
    profiles = {p.name: p for p in profile_table(pd.DataFrame({"many": many, "few": few}))}
    assert profiles["many"].kind == "date_text" and not profiles["many"].keep
    assert profiles["few"].kind == "date_text" and profiles["few"].keep


def test_datetimes_are_kept():
    p = _one(pd.date_range("2020-01-01", periods=N, freq="h"))
    assert p.kind == "datetime" and p.keep


def test_every_profile_states_evidence_and_action():
    from tests.conftest import mixed_table

    for p in profile_table(mixed_table()):
        assert p.evidence and p.action and p.kind


# ------------------------------------------------------------------------------------------- bounds, target

@pytest.mark.parametrize("low, high, expected", [
    (17, 90, (0, 100)), (-19, 42, (-20, 50)), (0.0003, 0.6752, (0, 1)), (1, 2, (0, 2)), (-5, -1, (-5, 0)),
])
def test_public_bounds_round_outward(low, high, expected):
    assert public_bounds(low, high) == expected


def test_target_suggested_when_the_last_column_is_a_class_label():
    table = pd.DataFrame({"a": _rng().normal(size=N), "label": ["yes", "no"] * (N // 2)})
    assert suggest_target(profile_table(table))[0] == "label"


def test_no_target_suggested_when_the_last_column_is_a_measurement():
    table = pd.DataFrame({"label": ["yes", "no"] * (N // 2), "a": _rng().normal(size=N)})
    name, why = suggest_target(profile_table(table))
    assert name is None and "--target" in why


# ------------------------------------------------------------------------------------------ epochs, names

def test_small_tables_are_not_undertrained():
    """A 1,000-row table (800 training rows) gets thousands of steps, not TVAE's default 300 epochs × 2 batches."""
    epochs, batch, rule = tvae_schedule(800)
    steps = epochs * -(-800 // batch)
    assert steps >= 4_000 and epochs <= MAX_EPOCHS and "steps" in rule


def test_adult_sized_tables_get_the_demos_schedule():
    epochs, batch, _ = tvae_schedule(26_049)
    assert batch == 500 and 250 <= epochs <= 320


def test_epochs_are_clamped():
    assert tvae_schedule(5_000_000)[0] == 10
    epochs, batch, _ = tvae_schedule(30)
    assert epochs == MAX_EPOCHS and 2 <= batch <= 30


@pytest.mark.parametrize("file, name", [
    ("adult.data", "adult"), ("PRSA_data_2010.1.1-2014.12.31.csv.gz", "PRSA_data_2010.1.1-2014.12.31"),
    ("my table (v2).parquet", "my_table__v2"), ("...csv", "table"),
])
def test_dataset_name_from_the_file_name(file, name):
    assert dataset_name(Path(file)) == name


# ------------------------------------------------------------- synth init on the bundled and shared tables

def _init(tmp_path, data: Path, *extra: str):
    """Run `synth init` in-process; returns (spec, loaded table, stdout)."""
    import contextlib
    import io

    from synth.cli import main
    from synth.data import load_table
    from synth.spec import load_spec

    out = tmp_path / "spec.yaml"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["init", str(data), "--out", str(out), *extra])
    assert code == 0, stderr.getvalue()
    spec = load_spec(out)
    return spec, load_table(spec.source), stdout.getvalue()


def _shared(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared benchmark data lives next to the checkout)")
    return path


def test_init_on_the_bundled_adult(tmp_path):
    spec, table, out = _init(tmp_path, ROOT / "data" / "adult" / "adult.data.gz")
    assert spec.source.header is False and spec.source.na_values == ["?"] and spec.source.sep == ","
    assert table.shape[1] == 15 and spec.target == table.columns[-1]
    assert spec.generator.kind == "tvae" and len(out.splitlines()) >= 15
    # the rules every row keeps are offered commented out: education ↔ education-num, gain and loss never both
    text = (tmp_path / "spec.yaml").read_text()
    assert '#   - "fixed combinations of col4, col5"' in text and '#   - "col11 == 0 or col12 == 0"' in text
    assert "constraint found (commented out in the spec; uncomment to keep it): fixed combinations of col4, col5" in out


def test_init_adult_with_an_explicit_target(tmp_path):
    spec, _, _ = _init(tmp_path, ROOT / "data" / "adult" / "adult.data.gz", "--target", "col10")
    assert spec.target == "col10"


def test_init_shared_adult(tmp_path):
    spec, table, _ = _init(tmp_path, _shared("adult/adult.data"))
    assert spec.source.header is False and spec.source.na_values == ["?"]
    assert len(table) == 32_561 and table.shape[1] == 15 and table["col2"].isna().sum() == 1_836


def test_init_shared_adult_test_split(tmp_path):
    """adult.test starts with a line that is not a row ('|1x3 Cross validator'): skipped."""
    spec, table, _ = _init(tmp_path, _shared("adult/adult.test"))
    assert spec.source.skip_rows == 1 and spec.source.header is False and table.shape == (16_281, 15)


def test_init_shoppers(tmp_path):
    spec, table, _ = _init(tmp_path, _shared("shoppers/online_shoppers_intention.csv.gz"))
    assert spec.source.header is True and table.shape == (12_330, 18) and spec.target == "Revenue"


def test_init_magic(tmp_path):
    spec, table, _ = _init(tmp_path, _shared("magic/magic04.data.gz"))
    assert spec.source.header is False and table.shape == (19_020, 11) and table["col11"].nunique() == 2


def test_init_beijing_pm25(tmp_path):
    spec, table, out = _init(tmp_path, _shared("beijing_pm25/PRSA_data_2010.1.1-2014.12.31.csv.gz"))
    assert "No" in table.columns and table.shape[1] == 13  # the row number: an identifier, kept for fresh keys
    assert "identifier" in next(line for line in out.splitlines() if line.strip().startswith("No "))
    assert table["pm2.5"].dtype == "float64" and table["pm2.5"].isna().sum() == 2_067
    assert spec.target is None and "target: none" in out


def test_init_german_credit(tmp_path):
    spec, table, _ = _init(tmp_path, _shared("german_credit/german.data"))
    assert spec.source.sep == " " and spec.source.header is False and table.shape == (1_000, 21)
    assert spec.generator.epochs * -(-800 // spec.generator.batch_size) >= 4_000  # 800 rows are not undertrained


def test_init_telco_churn(tmp_path):
    spec, table, out = _init(tmp_path, _shared("telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv"))
    assert "customerID" in table.columns and spec.target == "Churn"
    assert "fresh unique keys" in next(line for line in out.splitlines() if "customerID" in line)
    assert table["TotalCharges"].dtype == "float64" and table["TotalCharges"].isna().sum() == 11


def test_init_diabetes(tmp_path):
    spec, table, out = _init(tmp_path, _shared("diabetes/diabetic_data.csv.gz"))
    assert {"encounter_id", "patient_nbr"} <= set(table.columns) and table.shape == (101_766, 50)
    assert all("identifier" in line for line in out.splitlines()
               if line.strip().startswith(("encounter_id", "patient_nbr")))
    assert "?" in spec.source.na_values and table["race"].isna().sum() == 2_273
    assert spec.target == "readmitted"


def test_init_reports_words_pandas_reads_as_missing_in_text_columns(tmp_path):
    """A lab result column whose "None" means "not measured": pandas reads it as missing, which the spec cannot
    change; `synth init` says so for that column and not for a column with plain empty cells."""
    path = tmp_path / "lab.csv"
    rng = np.random.default_rng(3)
    lab = rng.choice(["None", "Norm", ">7"], 300, p=[0.8, 0.1, 0.1])
    blanks = np.where(rng.random(300) < 0.1, "", rng.choice(["a", "b"], 300))
    pd.DataFrame({"lab": lab, "blank": blanks, "value": rng.integers(0, 9, 300)}).to_csv(path, index=False)
    spec, table, out = _init(tmp_path, path)
    lab_line = next(line for line in out.splitlines() if line.strip().startswith("lab "))
    blank_line = next(line for line in out.splitlines() if line.strip().startswith("blank "))
    assert "'None'" in lab_line and "as missing" in lab_line and "pandas reads" not in blank_line
    assert "keep_default_na" in (tmp_path / "spec.yaml").read_text()
    assert table["lab"].isna().sum() == (lab == "None").sum()


def test_init_parquet(tmp_path, adult):
    path = tmp_path / "people.parquet"
    table = adult.head(600).copy()
    table.insert(0, "person_id", [f"P{i:05d}" for i in range(len(table))])
    table.to_parquet(path)
    spec, loaded, _ = _init(tmp_path, path)
    assert spec.source.resolved_format == "parquet" and list(loaded.columns) == ["person_id", *adult.columns]
