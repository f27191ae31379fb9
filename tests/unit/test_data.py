import gzip

import numpy as np
import pandas as pd
import pytest

from synth.data import RecodeWarning, fingerprint, load_table, split_holdout
from synth.errors import DataError
from synth.spec import SourceSpec
from tests.conftest import ADULT_COLUMNS, ROOT, SHARED_DATA


def test_raw_uci_train_split_loads_with_missing_values(adult):
    assert adult.shape == (32561, 15)
    assert list(adult.columns) == ADULT_COLUMNS
    # '?' became missing, with no stray spaces left on any category
    assert adult["workclass"].isna().sum() == 1836
    assert adult["occupation"].isna().sum() == 1843
    assert adult["native-country"].isna().sum() == 583
    assert "?" not in set(adult["workclass"].dropna())
    assert set(adult["income"]) == {"<=50K", ">50K"}
    assert (adult["income"] == ">50K").sum() == 7841
    assert adult["age"].dtype == np.int64 and adult["capital-gain"].dtype == np.int64


def test_raw_uci_test_split_loads():
    source = SourceSpec(
        path=ROOT / "data/adult/adult.test.gz", header=False, columns=ADULT_COLUMNS, na_values=["?"],
        skip_rows=1, recode={"income": {"<=50K.": "<=50K", ">50K.": ">50K"}},
    )
    table = load_table(source)
    assert table.shape == (16281, 15)
    assert set(table["income"]) == {"<=50K", ">50K"}
    assert table["age"].dtype == np.int64


def test_bundled_copy_is_the_original_uci_file():
    with gzip.open(ROOT / "data/adult/adult.data.gz", "rb") as raw:
        import hashlib

        digest = hashlib.sha256(raw.read()).hexdigest()
        assert digest == "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d"


@pytest.mark.skipif(not (SHARED_DATA / "adult").is_dir(), reason="../shared/data/adult is not beside the checkout")
def test_parquet_source_matches_raw_csv(adult):
    table = load_table(SourceSpec(path=SHARED_DATA / "adult" / "adult_train.parquet"))
    assert table.shape == adult.shape
    # the parquet copy keeps '?' as a literal category; the raw loader turns it into missing
    assert (table["workclass"] == "?").sum() == adult["workclass"].isna().sum()
    pd.testing.assert_series_equal(table["age"], adult["age"])


def test_csv_with_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2,\n")
    table = load_table(SourceSpec(path=path))
    assert list(table.columns) == ["a", "b"] and table["b"].isna().sum() == 1


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: source file not found"):
        load_table(SourceSpec(path=tmp_path / "nope.csv"))


@pytest.mark.parametrize("content", ["", "a,b\n"])
def test_empty_csv_is_refused(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=r"empty\.csv: the file (is empty|has no data rows)"):
        load_table(SourceSpec(path=path))


def test_wrong_number_of_column_names(tmp_path):
    path = tmp_path / "t.data"
    path.write_text("1, x, 3\n4, y, 6\n")
    with pytest.raises(DataError, match="lists 2 names but the file has 3 fields"):
        load_table(SourceSpec(path=path, header=False, columns=["a", "b"]))


def test_not_parquet(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(DataError, match=r"t\.parquet: cannot read as Parquet"):
        load_table(SourceSpec(path=path))


def test_recode_of_unknown_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(DataError, match="recode names column 'z'"):
        load_table(SourceSpec(path=path, recode={"z": {"1": "2"}}))


@pytest.mark.parametrize("key", [0, "0", 0.0])
def test_recode_matches_keys_as_they_appear_in_the_file(tmp_path, key):
    # a 0/1 integer target read from a CSV: YAML `0:` (int), `"0":` (text) and `0.0:` all name the value 0
    path = tmp_path / "t.csv"
    path.write_text("churn,x\n0,a\n1,b\n0,c\n")
    table = load_table(SourceSpec.model_validate({"path": path, "recode": {"churn": {key: "no", 1: "yes"}}}))
    assert table["churn"].tolist() == ["no", "yes", "no"]


def test_recode_of_text_keys_on_a_text_column_keeps_other_values(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("income\n<=50K.\n>50K\n\n")
    table = load_table(SourceSpec(path=path, recode={"income": {"<=50K.": "<=50K"}}))
    assert table["income"].tolist()[:2] == ["<=50K", ">50K"]


def test_recode_that_matches_nothing_says_so(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("churn\nYes\nNo\n")
    with pytest.warns(RecodeWarning, match=r"t\.csv: source.recode for column 'churn' matched no value .*'Yes'"):
        table = load_table(SourceSpec(path=path, recode={"churn": {"yes": 1, "no": 0}}))
    assert table["churn"].tolist() == ["Yes", "No"]


def test_holdout_is_disjoint_seeded_and_sized(adult):
    train, holdout = split_holdout(adult, 0.2, seed=3)
    assert len(holdout) == round(len(adult) * 0.2) and len(train) + len(holdout) == len(adult)
    assert not set(train.index) & set(holdout.index)
    again, _ = split_holdout(adult, 0.2, seed=3)
    assert train.index.equals(again.index)


def test_fingerprint_is_sha256(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert fingerprint(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# -- values no generator can use (issue 13, item 9) -------------------------------------------------

@pytest.mark.parametrize("value, what", [
    ([1, 2], "a list in one cell"), ({"k": 1}, "a dict in one cell"), (b"\x00", "raw bytes"),
    (float("inf"), "an infinite number"), (10**400, "a number beyond"), (complex(1, 2), "complex numbers"),
], ids=["list", "dict", "bytes", "inf", "huge-int", "complex"])
def test_object_column_with_unusable_values(value, what):
    from synth.data import check_values

    column = pd.Series(["a", "b", "c"], dtype=object)
    column[1] = value
    with pytest.raises(DataError, match=rf"t: column 'x' holds {what}.*data row 2"):
        check_values(pd.DataFrame({"x": column}), "t")


def test_bound_is_inclusive_and_missing_values_pass():
    from synth.data import MAX_ABS_VALUE, check_values

    check_values(pd.DataFrame({"x": [MAX_ABS_VALUE, -MAX_ABS_VALUE, np.nan], "t": ["1e150", None, "7"]}), "t")
    with pytest.raises(DataError, match="column 'x' holds a number beyond"):
        check_values(pd.DataFrame({"x": [0.0, MAX_ABS_VALUE * 1.01]}), "t")
    # a text column that is not all numbers is text: 'inf' is just a word there
    check_values(pd.DataFrame({"t": ["inf", "infinity war", "1e999 reasons"]}), "t")


def test_squares_of_the_largest_allowed_value_sum_without_overflow():
    """The documented reason for MAX_ABS_VALUE: 1e8 squares of it still sum to a finite float64."""
    from synth.data import MAX_ABS_VALUE

    assert np.isfinite(np.float64(MAX_ABS_VALUE) ** 2 * 1e8)


def test_categorical_parquet_column_is_judged_by_its_categories(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame({"c": pd.Categorical([1.0, float("inf"), 1.0])}).to_parquet(path)
    with pytest.raises(DataError, match="column 'c' holds an infinite number"):
        load_table(SourceSpec(path=path))


# -- CSV structure (issue 13, item 12) ---------------------------------------------------------------

def test_trailing_separator_on_every_line_is_accepted(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x,\n2,y,\n")
    table = load_table(SourceSpec(path=path))
    assert list(table.columns) == ["a", "b"] and len(table) == 2


def test_trailing_separator_on_the_header_and_every_line_is_dropped(tmp_path):
    """Excel and database exports end every line, the header too, in the separator (issue 13, review item 9)."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,\n1,2,3,\n4,5,6,\n")
    table = load_table(SourceSpec(path=path))
    assert table.to_dict("list") == {"a": [1, 4], "b": [2, 5], "c": [3, 6]}
    assert load_table(SourceSpec(path=path, columns=["c", "a"])).to_dict("list") == {"c": [3, 6], "a": [1, 4]}


@pytest.mark.parametrize("body, found", [("1,2,3,\n4,5,6,x\n", "line 3 has the value 'x'"),
                                         ("1,2,3,\n4,5,6\n", "line 3 has 3 fields, not 4")])
def test_trailing_separator_on_the_header_only_is_named(tmp_path, body, found):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,\n" + body)
    with pytest.raises(DataError, match=f"t.csv: the header ends in a trailing separator .*{found}"):
        load_table(SourceSpec(path=path))


def test_cell_larger_than_the_csv_module_default_limit(tmp_path):
    """csv.reader's default field_size_limit is 131072 characters; pandas reads any cell (review item 8)."""
    path = tmp_path / "t.csv"
    big = "x" * 200_000
    path.write_text(f"a,b\n1,{big}\n2,y\n")
    table = load_table(SourceSpec(path=path))
    assert table["b"].str.len().tolist() == [200_000, 1]


def test_skip_rows_blank_lines_bom_and_gzip(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress("\ufeffa title line, with, commas\nx,y\n\n1, p\n   \n2, q\n".encode("utf-8")))
    table = load_table(SourceSpec(path=path, skip_rows=1))
    assert list(table.columns) == ["x", "y"] and table["y"].tolist() == ["p", "q"]


def test_quoted_fields_with_separators_and_newlines_count_as_one(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a,b\n"1,5","line\nbreak"\n2,x\n3,y,z\n')
    with pytest.raises(DataError, match="line 5 has 3 fields but the header has 2"):
        load_table(SourceSpec(path=path))


def test_header_source_columns_select_by_name_or_rename_in_order(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,3\n")
    assert load_table(SourceSpec(path=path, columns=["c", "a"])).to_dict("list") == {"c": [3], "a": [1]}
    assert list(load_table(SourceSpec(path=path, columns=["x", "y", "z"])).columns) == ["x", "y", "z"]
    with pytest.raises(DataError, match="source.columns lists 2 names but the file has 3 columns"):
        load_table(SourceSpec(path=path, columns=["x", "a"]))


def test_mixed_types_in_a_long_csv_column_stay_one_type(tmp_path):
    """pandas' chunked type inference could leave both the number 1 and the text "x" in one column."""
    path = tmp_path / "t.csv"
    path.write_text("a\n" + "1\n" * 300_000 + "x\n")
    column = load_table(SourceSpec(path=path))["a"]
    assert {type(v) for v in column} == {str}


def test_split_positions_match_split_holdout(adult):
    from synth.data import split_positions

    train, holdout = split_holdout(adult, 0.2, seed=5)
    train_rows, holdout_rows = split_positions(len(adult), 0.2, seed=5)
    assert train.index.equals(adult.index[train_rows]) and holdout.index.equals(adult.index[holdout_rows])
