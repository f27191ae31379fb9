import gzip

import numpy as np
import pandas as pd
import pytest

from synth.data import fingerprint, load_table, split_holdout
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

        assert hashlib.sha256(raw.read()).hexdigest() == "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d"


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
