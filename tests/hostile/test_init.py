"""Hostile inputs to `synth init`: exit 2, one line naming the file/column/flag and the fix, no traceback, and
no spec (nor a temporary file) left behind."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest

from tests.hostile.conftest import leftovers


def _csv(tmp_path, name: str = "table.csv", rows: int = 60) -> object:
    path = tmp_path / name
    rng = np.random.default_rng(0)
    pd.DataFrame({
        "client_id": [f"C{i:05d}" for i in range(rows)],
        "age": rng.integers(18, 90, rows),
        "plan": rng.choice(["basic", "plus", "pro"], rows),
        "churn": rng.choice(["yes", "no"], rows),
    }).to_csv(path, index=False)
    return path


def _nothing_written(tmp_path, *inputs) -> None:
    names = {p.name for p in inputs}
    extra = sorted(p.name for p in tmp_path.iterdir() if p.name not in names)
    assert extra == [], f"left behind: {extra}"
    assert leftovers(tmp_path) == []


def test_missing_file(cli, tmp_path):
    outcome = cli("init", tmp_path / "nope.csv", "--out", tmp_path / "s.yaml")
    outcome.one_line_error(2, "nope.csv", "not found")
    _nothing_written(tmp_path)


def test_folder_instead_of_a_file(cli, tmp_path):
    (tmp_path / "data").mkdir()
    cli("init", tmp_path / "data", "--out", tmp_path / "s.yaml").one_line_error(2, "data", "folder")


def test_empty_file(cli, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cli("init", empty, "--out", tmp_path / "s.yaml").one_line_error(2, "empty.csv", "empty")
    _nothing_written(tmp_path, empty)


def test_header_only(cli, tmp_path):
    path = tmp_path / "head.csv"
    path.write_text("a,b,c\n")
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "head.csv")
    _nothing_written(tmp_path, path)


def test_binary_file(cli, tmp_path):
    path = tmp_path / "blob.csv"
    path.write_bytes(bytes(range(256)) * 40)
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "blob.csv", "binary")
    _nothing_written(tmp_path, path)


def test_not_utf8(cli, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"name,city\n" + "".join(f"Jos\xe9 {i},Z\xfcrich\n" for i in range(30)).encode("latin-1"))
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "latin.csv", "UTF-8", "line 2")
    _nothing_written(tmp_path, path)


def test_one_column_csv(cli, tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("value\n" + "".join(f"{i}\n" for i in range(50)))
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "one.csv", "one column")
    _nothing_written(tmp_path, path)


def test_one_column_parquet(cli, tmp_path):
    path = tmp_path / "one.parquet"
    pd.DataFrame({"value": range(50)}).to_parquet(path)
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "one.parquet", "one column")
    _nothing_written(tmp_path, path)


def test_corrupt_parquet(cli, tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x01" * 500)
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "broken.parquet", "Parquet")
    _nothing_written(tmp_path, path)


def test_named_parquet_but_csv(cli, tmp_path):
    path = tmp_path / "t.parquet"
    path.write_text("a,b\n1,2\n")
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "t.parquet", "not a Parquet file")


def test_excel_workbook(cli, tmp_path):
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "book.xlsx", "export the sheet as CSV")
    _nothing_written(tmp_path, path)


def test_gzip_not_named_gz(cli, tmp_path):
    path = tmp_path / "packed.csv"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n3,4\n"))
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "packed.csv", ".gz")
    _nothing_written(tmp_path, path)


def test_truncated_gzip(cli, tmp_path):
    path = tmp_path / "cut.csv.gz"
    whole = gzip.compress("".join(f"{i},{i % 7},{i * 3}\n" for i in range(5000)).encode())
    path.write_bytes(whole[: len(whole) // 2])
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "cut.csv.gz")
    _nothing_written(tmp_path, path)


def test_ragged_line(cli, tmp_path):
    path = _csv(tmp_path)
    with open(path, "a") as handle:
        handle.write("C99999,40,basic,no,extra\n")
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "table.csv", "line 62")
    _nothing_written(tmp_path, path)


def test_target_not_a_column(cli, tmp_path):
    path = _csv(tmp_path)
    line = cli("init", path, "--target", "income", "--out", tmp_path / "s.yaml").one_line_error(2, "--target", "income")
    assert "churn" in line  # the columns there are
    _nothing_written(tmp_path, path)


def test_target_is_an_identifier(cli, tmp_path):
    path = _csv(tmp_path)
    cli("init", path, "--target", "client_id", "--out", tmp_path / "s.yaml").one_line_error(
        2, "client_id", "identifier")
    _nothing_written(tmp_path, path)


def test_out_exists_without_force(cli, tmp_path):
    path = _csv(tmp_path)
    out = tmp_path / "s.yaml"
    out.write_text("# mine\n")
    cli("init", path, "--out", out).one_line_error(2, "s.yaml", "--force")
    assert out.read_text() == "# mine\n"
    _nothing_written(tmp_path, path, out)


def test_out_exists_with_force_is_replaced(cli, tmp_path):
    from synth.spec import load_spec

    path = _csv(tmp_path)
    out = tmp_path / "s.yaml"
    out.write_text("# mine\n")
    outcome = cli("init", path, "--out", out, "--force")
    assert outcome.code == 0, outcome.err
    assert load_spec(out).source.columns == ["client_id", "age", "plan", "churn"]  # the id: fresh keys
    _nothing_written(tmp_path, path, out)


def test_out_folder_missing(cli, tmp_path):
    path = _csv(tmp_path)
    cli("init", path, "--out", tmp_path / "no" / "s.yaml").one_line_error(2, "does not exist")
    _nothing_written(tmp_path, path)


def test_out_is_a_folder(cli, tmp_path):
    path = _csv(tmp_path)
    (tmp_path / "specs").mkdir()
    cli("init", path, "--out", tmp_path / "specs").one_line_error(2, "specs", "folder")


def test_bad_name(cli, tmp_path):
    path = _csv(tmp_path)
    cli("init", path, "--name", "../evil", "--out", tmp_path / "s.yaml").one_line_error(2, "--name", "../evil")
    _nothing_written(tmp_path, path)


def test_only_identifiers(cli, tmp_path):
    path = tmp_path / "ids.csv"
    pd.DataFrame({"a": [f"A{i}" for i in range(80)], "b": range(1000, 1080)}).to_csv(path, index=False)
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "ids.csv", "nothing is left to model")
    _nothing_written(tmp_path, path)


def test_too_few_rows(cli, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "tiny.csv", "2 data row(s)", "at least 3")
    _nothing_written(tmp_path, path)


def test_ragged_short_file_names_the_line_not_one_column(cli, tmp_path):
    """Too few lines agree for a confident separator: the file is still read with the likeliest one, so the
    error names the odd line instead of claiming the table has one column."""
    path = tmp_path / "rag.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    cli("init", path, "--out", tmp_path / "s.yaml").one_line_error(2, "rag.csv", "line 3 has 3 fields")
    _nothing_written(tmp_path, path)


@pytest.mark.parametrize("hostile", ['say "hi" # not a comment', "line\u2028break", "tab\there", "ünïcødé ✓", "- dash"])
def test_hostile_column_names_round_trip(cli, tmp_path, hostile):
    """A column name with quotes, '#', a YAML line break or a tab is written so the spec reads it back exactly."""
    from synth.data import load_table
    from synth.spec import load_spec

    path = tmp_path / "names.csv"
    rng = np.random.default_rng(1)
    pd.DataFrame({hostile: rng.integers(0, 50, 80), "kind": rng.choice(["a", "b"], 80)}).to_csv(path, index=False)
    out = tmp_path / "s.yaml"
    outcome = cli("init", path, "--out", out)
    assert outcome.code == 0, outcome.err
    spec = load_spec(out)
    assert spec.source.columns == [hostile, "kind"]
    assert list(load_table(spec.source).columns) == [hostile, "kind"]
    assert all("\u2028" not in line and "\t" not in line for line in outcome.out.splitlines())
