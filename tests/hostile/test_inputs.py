"""Hostile specs and data files (issue 13, items 9-12): every one is refused before Prefect starts.

Each case runs `synth run` in-process on a spec and a data file written into
`tmp_path`, and asserts exit 2, one line on stderr naming the file and the
column, line or key (and how to fix it), no traceback, and that nothing was
published under the spec's own catalog root. Nothing here trains: the checks
run in `synth run`'s step 1 (load_spec, load_table, check_against).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.hostile.conftest import leftovers

#: A spec's echoed input is cut to a few dozen characters; a whole line stays well below this.
SHORT_LINE = 800


def small_table(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "score": rng.normal(50, 10, n).round(2),
        "group": rng.choice(["a", "b", "c"], n),
        "member": rng.choice(["yes", "no"], n),
    })


def write_spec(folder: Path, data: Path, generator: dict | None = None, **top) -> Path:
    """A spec reading `data`, publishing into `folder/published`; `top` adds or replaces top-level keys."""
    spec = {
        "name": "hostile",
        "source": {"path": str(data)},
        "generator": generator or {"kind": "gaussian_copula"},
        "publish": {"root": str(folder / "published")},
        **top,
    }
    path = folder / "spec.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def refused(outcome, folder: Path, *names: str) -> str:
    """The contract: exit 2, one short line naming `names`, no traceback, nothing published or left behind."""
    line = outcome.one_line_error(2, *names)
    assert len(line) < SHORT_LINE, f"{len(line)} characters: {line[:300]}…"
    published = folder / "published"
    assert not published.exists() or not any(published.iterdir()), sorted(published.rglob("*"))
    assert leftovers(folder) == []
    return line


@pytest.fixture()
def csv_file(tmp_path):
    def write(text: str | bytes, name: str = "data.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    return write


def table_csv(tmp_path: Path, table: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


# -- 9. unusable values, named by column, at load time --------------------------------------------

@pytest.mark.parametrize("kind, values", [
    ("list", pa.array([[1, 2], [3]] * 30, type=pa.list_(pa.int64()))),
    ("struct", pa.array([{"x": 1}, {"x": 2}] * 30)),
    ("map", pa.array([[("k", 1)], [("j", 2)]] * 30, type=pa.map_(pa.string(), pa.int64()))),
])
def test_nested_parquet_column(cli, tmp_path, kind, values):
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"age": list(range(60)), "tags": values}), path)
    line = refused(cli("run", write_spec(tmp_path, path)), tmp_path, "nested.parquet", "'tags'", "nested")
    assert "flatten" in line


def test_binary_parquet_column(cli, tmp_path):
    path = tmp_path / "blob.parquet"
    pq.write_table(pa.table({"age": list(range(60)), "blob": [b"\x00\x01"] * 60}), path)
    refused(cli("run", write_spec(tmp_path, path)), tmp_path, "blob.parquet", "'blob'", "bytes")


@pytest.mark.parametrize("value, what", [("inf", "infinite"), ("-Infinity", "infinite"), ("1e308", "beyond"),
                                         ("1e309", "infinite"), ("-3e200", "beyond")])
def test_csv_number_that_is_infinite_or_too_large(cli, tmp_path, value, what):
    table = small_table().astype({"score": object})
    table.loc[7, "score"] = value
    line = refused(cli("run", write_spec(tmp_path, table_csv(tmp_path, table))), tmp_path,
                   "data.csv", "'score'", what, "data row 8")
    assert "rescale" in line or "finite" in line


@pytest.mark.parametrize("value", [np.inf, -1e200])
def test_parquet_float_that_is_infinite_or_too_large(cli, tmp_path, value):
    table = small_table()
    table.loc[3, "score"] = value
    path = tmp_path / "data.parquet"
    table.to_parquet(path)
    refused(cli("run", write_spec(tmp_path, path)), tmp_path, "data.parquet", "'score'", "data row 4")


# -- 10. what used to fail only after training started --------------------------------------------

def test_condition_on_a_numeric_column(cli, tmp_path):
    spec = write_spec(tmp_path, table_csv(tmp_path, small_table()), conditions=[{"values": {"age": 30}, "rows": 10}])
    refused(cli("run", spec), tmp_path, "spec.yaml", "conditions[0].values.age", "categorical")


def test_condition_on_a_categorical_column_is_accepted_by_the_check(tmp_path):
    """The same spec conditioned on a text column passes the early check (the rule is not 'refuse all')."""
    from synth.data import load_table
    from synth.spec import load_spec

    spec = load_spec(write_spec(tmp_path, table_csv(tmp_path, small_table()),
                                conditions=[{"values": {"group": "a", "member": "yes"}, "rows": 10}]))
    spec.check_against(load_table(spec.source), origin="spec")


def test_privacy_delta_not_below_one_over_training_rows(cli, tmp_path):
    spec = write_spec(tmp_path, table_csv(tmp_path, small_table()), generator={"kind": "tvae", "batch_size": 10},
                      privacy={"epsilon": 3, "delta": 0.05})
    # 60 rows, holdout 20%: 48 training rows, so δ must be below 1/48
    refused(cli("run", spec), tmp_path, "spec.yaml", "privacy.delta=0.05", "1/48", "leave delta out")


@pytest.mark.parametrize("rows, fraction", [(1, 0.2), (2, 0.2), (40, 0.01)])
def test_too_few_rows_for_the_holdout_split(cli, tmp_path, rows, fraction):
    from synth.data import minimum_rows

    spec = write_spec(tmp_path, table_csv(tmp_path, small_table(rows)), holdout_fraction=fraction)
    refused(cli("run", spec), tmp_path,
            "spec.yaml", f"{rows} row", f"at least {minimum_rows(fraction)}", "holdout_fraction")


def test_minimum_rows_is_the_smallest_table_the_split_accepts():
    from synth.data import enough_rows, minimum_rows

    for fraction in (0.01, 0.1, 0.2, 0.5, 0.9, 0.99):
        n = minimum_rows(fraction)
        assert enough_rows(n, fraction) and not enough_rows(n - 1, fraction), fraction


@pytest.mark.parametrize("header", [True, False])
def test_all_null_column(cli, tmp_path, header):
    table = small_table()
    table["empty"] = np.nan
    path = tmp_path / "data.csv"
    table.to_csv(path, index=False, header=header)
    source = {"path": str(path)} if header else {"path": str(path), "header": False, "columns": list(table.columns)}
    line = refused(cli("run", write_spec(tmp_path, path, source=source)), tmp_path, "spec.yaml", "'empty'", "missing")
    assert ("source.columns" in line) if header else ("remove that field" in line)


def test_all_null_column_can_be_dropped_through_source_columns(tmp_path):
    """The fix the message suggests works: a header CSV's source.columns selects the columns to keep."""
    from synth.data import load_table
    from synth.spec import load_spec

    table = small_table()
    table["empty"] = np.nan
    spec = load_spec(write_spec(tmp_path, table_csv(tmp_path, table), source={
        "path": str(tmp_path / "data.csv"), "columns": ["group", "age", "score", "member"]}))
    loaded = load_table(spec.source)
    assert list(loaded.columns) == ["group", "age", "score", "member"]
    spec.check_against(loaded, origin="spec")


@pytest.mark.parametrize("generator, names", [
    ({"kind": "tvae", "batch_size": 500}, ["generator.batch_size=500", "48 training rows", "at most 48"]),
    ({"kind": "ctgan", "batch_size": 500, "pac": 10}, ["generator.batch_size=500", "at most 40", "pac=10"]),
])
def test_batch_size_larger_than_the_training_rows(cli, tmp_path, generator, names):
    refused(cli("run", write_spec(tmp_path, table_csv(tmp_path, small_table()), generator=generator)),
            tmp_path, "spec.yaml", *names)


def test_private_batch_size_above_half_the_training_rows(cli, tmp_path):
    spec = write_spec(tmp_path, table_csv(tmp_path, small_table()), generator={"kind": "tvae", "batch_size": 30},
                      privacy={"epsilon": 3})
    refused(cli("run", spec), tmp_path, "spec.yaml", "generator.batch_size=30", "at most 24")


def test_epsilon_too_small_names_the_users_epsilon():
    """The ε a user gave, not the preprocessing share of it that the noise calibration was handed."""
    from synth.errors import GeneratorInputError
    from synth.privacy.budget import PrivacyBudget
    from synth.privacy.transformer import DPDataTransformer

    budget = PrivacyBudget(epsilon=1e-6, preprocessing_share=0.2)
    with pytest.raises(GeneratorInputError,
                       match=r"privacy\.epsilon=1e-06 is too small: its preprocessing share") as err:
        budget.preprocess(small_table(400), DPDataTransformer(), seed=0)
    assert "epsilon=2e-07" not in str(err.value)


# -- 11. YAML that expands without bound, and input echoed without bound ---------------------------

BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["name: *a8", "source: {path: data.csv}", "generator: {kind: gaussian_copula}"]
) + "\n"


@pytest.mark.parametrize("text, names", [
    (BILLION_LAUGHS, ["expands to more than", "aliases"]),
    ("a: &a [1, *a]\nname: x\n", ["alias at line 1", "contains it"]),
    ("name: " + "[" * 2000 + "]" * 2000 + "\n", ["nested more than"]),
    ("name: x\nname: y\nsource: {path: a.csv}\ngenerator: {kind: ctgan}\n",
     ["key 'name' appears twice", "lines 1 and 2"]),
])
def test_yaml_that_expands_without_bound_is_refused(cli, tmp_path, text, names):
    spec = tmp_path / "bomb.yaml"
    spec.write_text(text)
    refused(cli("run", spec), tmp_path, "bomb.yaml", *names)


def test_alias_bomb_in_a_set_value(cli, tmp_path):
    spec = write_spec(tmp_path, table_csv(tmp_path, small_table()))
    nested = "&b0 [" + ", ".join(["lol"] * 9) + "]"
    for i in range(1, 8):  # each level holds the previous one nine times: 9^8 values
        nested = f"&b{i} [{nested}, " + ", ".join([f"*b{i - 1}"] * 8) + "]"
    refused(cli("run", spec, "--set", f"description={nested}"), tmp_path,
            "--set", "description=", "expands to more than")


def test_spec_file_over_the_size_cap(cli, tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text("name: x\ndescription: " + "y" * 1_100_000 + "\n")
    refused(cli("run", spec), tmp_path, "huge.yaml", "1,000,000", "bytes")


def test_long_values_are_cut_in_the_error(cli, tmp_path):
    spec = write_spec(tmp_path, tmp_path / "data.csv", generator={"kind": "k" * 50_000})
    text = spec.read_text().replace('"name": "hostile"', '"name": "' + "n" * 50_000 + '"')
    spec.write_text(text)
    line = refused(cli("run", spec), tmp_path, "spec.yaml", "name:", "generator:", "is not known")
    assert "n" * 100 not in line and "k" * 100 not in line


def test_long_constraint_is_cut_in_the_error(cli, tmp_path):
    spec = write_spec(tmp_path, table_csv(tmp_path, small_table()), constraints=["age >> " + "9" * 10_000])
    refused(cli("run", spec), tmp_path, "spec.yaml", "constraints.0", "not a rule this project knows")


# -- 12. duplicate and ragged CSV ------------------------------------------------------------------

def test_duplicate_csv_header(cli, tmp_path, csv_file):
    path = csv_file("age,group,age\n" + "".join(f"{i},a,{i + 1}\n" for i in range(60)))
    line = refused(cli("run", write_spec(tmp_path, path)), tmp_path, "data.csv", "'age' twice", "columns 1 and 3")
    assert "age.1" not in line


def test_duplicate_names_in_source_columns(cli, tmp_path, csv_file):
    path = csv_file("".join(f"{i},a,{i + 1}\n" for i in range(60)))
    spec = write_spec(tmp_path, path, source={"path": str(path), "header": False, "columns": ["age", "group", "age"]})
    refused(cli("run", spec), tmp_path, "spec.yaml", "source", "['age']", "more than once")


@pytest.mark.parametrize("bad_line, fields", [("7,b,3,extra", 4), ("7", 1)])
def test_ragged_csv_line(cli, tmp_path, csv_file, bad_line, fields):
    lines = ["age,group,score"] + [f"{i},a,{i * 2}" for i in range(60)]
    lines[30] = bad_line  # the 31st line of the file
    path = csv_file("\n".join(lines) + "\n")
    refused(cli("run", write_spec(tmp_path, path)), tmp_path, "data.csv", f"line 31 has {fields} field", "header has 3")


def test_ragged_headerless_line(cli, tmp_path, csv_file):
    path = csv_file("".join(f"{i}, a, {i}\n" for i in range(40))
                    + "1, a\n"
                    + "".join(f"{i}, b, {i}\n" for i in range(20)))
    spec = write_spec(tmp_path, path, source={"path": str(path), "header": False, "columns": ["x", "g", "y"]})
    refused(cli("run", spec), tmp_path, "data.csv", "line 41 has 2 fields", "source.columns lists 3")


# -- neighbours ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, names", [
    (b"- a\n- b\n", ["expected a mapping", "got a YAML list"]),
    (b"", ["the spec is empty"]),
    (bytes(range(256)) * 8, ["not a text file"]),
    (b"name: x\x00\n", ["not a text file", "NUL"]),
    (b"name: x\nsource: [unclosed\n", ["not valid YAML at line"]),
    (b"name: x\ndescription: 2024-13-45\n", ["not valid YAML", "month"]),
])
def test_spec_that_is_not_a_spec(cli, tmp_path, content, names):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    refused(cli("run", spec), tmp_path, "spec.yaml", *names)


def test_non_utf8_csv(cli, tmp_path, csv_file):
    path = csv_file("age,city\n"
                    + "".join(f"{i},Zürich\n" for i in range(30))
                    + "".join(f"{i},Málaga\n" for i in range(30)),
                    name="latin.csv")
    path.write_bytes(path.read_text("utf-8").encode("latin-1"))
    refused(cli("run", write_spec(tmp_path, path)), tmp_path, "latin.csv", "not UTF-8", "line 2", "save it as UTF-8")


def test_header_only_csv(cli, tmp_path, csv_file):
    refused(cli("run", write_spec(tmp_path, csv_file("age,group\n"))), tmp_path, "data.csv", "no data rows")


def test_one_column_csv_that_uses_another_separator(cli, tmp_path, csv_file):
    path = csv_file("age;group\n" + "".join(f"{i};a\n" for i in range(60)))
    refused(cli("run", write_spec(tmp_path, path)), tmp_path, "data.csv", "'age;group'", "source.sep: ';'")


def test_unnamed_header_column(cli, tmp_path, csv_file):
    path = csv_file(",age,group\n" + "".join(f"{i},{i + 20},a\n" for i in range(60)))
    refused(cli("run", write_spec(tmp_path, path)), tmp_path, "data.csv", "column 1 of the header has no name")


def test_trailing_separator_on_the_header_only(cli, tmp_path, csv_file):
    """Review item 9: `a,b,` over lines without the trailing separator is named as such, not as an unnamed column."""
    path = csv_file("age,group,\n" + "".join(f"{i},a\n" for i in range(60)))
    refused(cli("run", write_spec(tmp_path, path)), tmp_path,
            "data.csv", "trailing separator", "line 2 has 2 fields, not 3")


def test_truncated_parquet(cli, tmp_path):
    path = tmp_path / "cut.parquet"
    small_table(500).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-200])
    refused(cli("run", write_spec(tmp_path, path)), tmp_path, "cut.parquet", "cannot read as Parquet")


def test_set_with_an_unknown_key(cli, tmp_path):
    spec = write_spec(tmp_path, table_csv(tmp_path, small_table()))
    refused(cli("run", spec, "--set", "generator.n_quantilez=3"), tmp_path, "generator.n_quantilez", "unknown key")


def test_separator_of_several_characters(cli, tmp_path):
    path = table_csv(tmp_path, small_table())
    refused(cli("run", write_spec(tmp_path, path, source={"path": str(path), "sep": ", "})), tmp_path,
            "source", "sep", "exactly one character")


@pytest.mark.parametrize("number", [".nan", ".inf"])
def test_constraint_with_a_number_that_is_not_finite(cli, tmp_path, number):
    spec = write_spec(tmp_path, table_csv(tmp_path, small_table()))
    refused(cli("run", spec, "--set", f"constraints=['age >= {number[1:]}']"), tmp_path,
            "constraints.0", "finite")
