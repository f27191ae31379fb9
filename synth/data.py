"""Loading real tables and splitting off the holdout the generator never sees.

`load_table` refuses what no generator can use, naming the file, the column
(or the line) and the fix, so a bad table fails before any training:

- CSV structure: a line with more or fewer fields than the header (pandas
  would silently pad it with missing values or drop fields), a header that
  names a column twice (pandas would rename it `age.1`) or leaves one unnamed
  (a saved index), text that is not UTF-8.
- Values: nested Parquet columns (list, struct, map) and object columns that
  hold lists, dicts or raw bytes; infinite numbers, and numbers whose
  magnitude exceeds `MAX_ABS_VALUE` (see there), in numeric and text columns.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import sys
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import DataError
from synth.spec import SourceSpec, column_names, cut

#: Largest magnitude a numeric value may have. Every step squares values somewhere (variances and
#: standard scores in the transformers, Euclidean distances in the gate) and then sums many squares:
#: with |x| ≤ 1e150 a square is at most 1e300, so even a sum of 1e8 of them stays below float64's
#: largest value (1.8e308). Beyond it a variance or a distance becomes inf and the result NaN, far
#: from where the value was read. No real measurement needs more: rescale such a column (e.g. log10).
MAX_ABS_VALUE = 1e150
#: Separators a user may have meant when a CSV header comes out as one field.
OTHER_SEPARATORS = (";", "\t", "|", ",")


def load_table(source: SourceSpec) -> pd.DataFrame:
    """Read the source table as the spec describes; every problem raises `DataError`.

    CSV is read with spaces after the separator skipped (UCI's ", "), blank
    lines ignored and `na_values` turned into missing values.
    """
    path = Path(source.path)
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise DataError(f"{path}: source file not found{hint}; fix source.path in the spec")
    if source.resolved_format == "parquet":
        table = _read_parquet(path, source)
    else:
        table = _read_csv(path, source)
    if table.empty:
        what = "is empty" if path.stat().st_size == 0 else "has no data rows"
        raise DataError(f"{path}: the file {what}; point source.path at a table with data")
    table = _recode(table, source, path)
    check_values(table, str(path))
    return table


def _read_parquet(path: Path, source: SourceSpec) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as err:  # pyarrow raises several unrelated types
        raise DataError(f"{path}: cannot read as Parquet ({cut(err, 200)}); the file may be truncated or corrupt "
                        "(or set source.format: csv if it is a CSV)") from None
    index_columns = {name for name in schema.names if name.startswith("__index_level_")}  # pandas' saved index
    names = [name for name in schema.names if name not in index_columns]
    _refuse_duplicates(names, path, "the file has")
    if source.columns:
        missing = [c for c in source.columns if c not in names]
        if missing:
            raise DataError(f"{path}: columns {column_names(missing)} listed in source.columns are not in the file; "
                            f"it has {column_names(names)}")
    for name in source.columns or names:
        kind = schema.field(name).type
        if pa.types.is_nested(kind):
            raise DataError(f"{path}: column {cut(name)!r} is a nested Parquet column ({cut(kind, 60)}); "
                            "a table generator needs one plain value per cell: flatten it into columns, "
                            "or leave it out of source.columns")
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
            raise DataError(f"{path}: column {cut(name)!r} holds raw bytes ({kind}); decode it to text or numbers, "
                            "or leave it out of source.columns")
    try:
        table = pd.read_parquet(path, columns=source.columns or None)
    except Exception as err:  # a truncated or corrupt file may only fail here, when the pages are read
        raise DataError(f"{path}: cannot read as Parquet ({cut(err, 200)}); "
                        "the file may be truncated or corrupt") from None
    return table


def _read_csv(path: Path, source: SourceSpec) -> pd.DataFrame:
    header, trailing = _check_csv_structure(path, source)
    keep = _kept_columns(header, source)
    # every line ends in a separator: pandas would read an empty last column `Unnamed: N`; leave it out
    usecols = keep if keep is not None or not trailing else list(range(len(header)))
    try:
        table = pd.read_csv(
            path,
            sep=source.sep,
            header=0 if source.header else None,
            names=source.columns if not source.header else None,
            skiprows=source.skip_rows,
            na_values=source.na_values or None,
            skipinitialspace=True,
            skip_blank_lines=True,
            index_col=False,
            usecols=usecols,
            encoding="utf-8",
            # one pass over each whole column, so a column's type is decided from all its values (chunked
            # inference can leave a column holding both the number 1 and the text "1")
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; point source.path at a CSV with data") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: cannot parse as CSV with sep={source.sep!r}: {cut(err, 200)}") from None
    except (UnicodeDecodeError, OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read as CSV ({cut(err, 200)}); set source.format if it is Parquet") from None
    if table.empty:
        return table  # load_table reports it
    if keep is not None:
        table = table[keep]  # the order source.columns gives
    elif source.header and source.columns:
        # A header row is present and names are also given that are not all in it: rename, but only
        # if the counts agree, so a wrong list fails instead of shifting columns.
        if len(source.columns) != table.shape[1]:
            raise DataError(f"{path}: source.columns lists {len(source.columns)} names "
                            f"but the file has {table.shape[1]} columns")
        table.columns = source.columns
    return table


def _check_csv_structure(path: Path, source: SourceSpec) -> tuple[list[str] | None, bool]:
    """One streaming pass over the CSV, before pandas reads it: every line has as many fields as the header
    (or `source.columns`), the header names each column once, and the text is UTF-8. Returns the header's names
    and whether every line, the header included, ends in a separator (Excel and database exports write that:
    the empty last column is then left out of the names and of the table).

    pandas would pad a short line with missing values, drop the extra fields of a long first line, rename a
    repeated name (`age`, `age.1`) and name an empty one `Unnamed: 3`, all silently. A line ending in one extra
    empty field (a trailing separator) is accepted, as pandas' `index_col=False` reads it.
    """
    from pandas.io.common import get_handle  # pandas' own opener: the same decompression as read_csv

    _lift_csv_field_limit()
    width = None if source.header else len(source.columns or [])
    header, line, data_lines, trailing = None, source.skip_rows, 0, False
    try:
        with get_handle(path, "rb", compression="infer", is_text=False) as handles:
            text = io.TextIOWrapper(handles.handle, encoding="utf-8-sig", newline="")
            for _ in range(source.skip_rows):  # pandas' skip_rows counts physical lines, blank ones included
                text.readline()
            reader = csv.reader(text, delimiter=source.sep, skipinitialspace=True)
            for fields in reader:
                line = source.skip_rows + reader.line_num
                if not fields or fields == [""]:
                    continue  # a blank line: pandas skips it
                if width is None:
                    header, width = fields, len(fields)
                    trailing = len(header) > 1 and not header[-1].strip() and all(name.strip() for name in header[:-1])
                    _check_header(header[:-1] if trailing else header, path, source)
                    continue
                if trailing:
                    if len(fields) == width and not fields[-1].strip():
                        data_lines += 1
                        continue
                    raise DataError(f"{path}: the header ends in a trailing separator (an empty column {width}) but "
                                    f"line {line} {_trailing_problem(fields, width)}; "
                                    "end every line with the separator, or remove it from the header")
                if len(fields) == width or (len(fields) == width + 1 and not fields[-1].strip()):
                    data_lines += 1
                    continue
                if header is None and data_lines == 0:
                    raise DataError(f"{path}: source.columns lists {width} names but the file has {len(fields)} fields "
                                    f"per line (separator {source.sep!r}); fix source.columns or source.sep")
                against = "the header has" if header is not None else "source.columns lists"
                raise DataError(f"{path}: line {line} has {_count(len(fields), 'field')} but {against} {width} "
                                f"(separator {source.sep!r}); "
                                "fix that line (quote a field that contains the separator)")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} "
                        f"on line {_first_undecodable_line(path)}); "
                        "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8), "
                        "or set source.format: parquet if it is Parquet") from None
    except csv.Error as err:
        raise DataError(f"{path}: cannot read line {line + 1} as CSV ({cut(err, 100)}); fix that line, "
                        "or set source.format: parquet if it is Parquet") from None
    except (OSError, EOFError) as err:  # gzip: truncated or not gzip at all
        raise DataError(f"{path}: cannot read as CSV ({cut(err, 200)}); the file may be truncated or corrupt") from None
    return (header[:-1] if trailing else header), trailing


def _trailing_problem(fields: list[str], width: int) -> str:
    if len(fields) == width:
        return f"has the value {cut(fields[-1], 30)!r} there"
    return f"has {_count(len(fields), 'field')}, not {width}"


def _lift_csv_field_limit() -> None:
    """csv.reader refuses a cell over 128 KiB (its default `field_size_limit`); pandas reads any size, so must we."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:  # a C long is 32 bits on some platforms (Windows)
            limit //= 2


def _kept_columns(header: list[str] | None, source: SourceSpec) -> list[str] | None:
    """With a header, `source.columns` naming only header columns selects them; None: read every column."""
    if header is None or not source.columns or not set(source.columns) <= set(header):
        return None
    return list(source.columns)


def _first_undecodable_line(path: Path) -> int:
    """The number of the first line that is not UTF-8 (a newline byte never occurs inside a UTF-8 character)."""
    from pandas.io.common import get_handle

    with get_handle(path, "rb", compression="infer", is_text=False) as handles:
        for number, raw in enumerate(handles.handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _check_header(header: list[str], path: Path, source: SourceSpec) -> None:
    kept = _kept_columns(header, source)
    if kept is not None:  # source.columns selects columns: those must be named once
        _refuse_duplicates([name for name in header if name in set(kept)], path, "the header names")
        return
    if source.columns:
        return  # the names come from source.columns; the header line is only skipped
    for i, name in enumerate(header):
        if not name.strip():
            why = "a trailing separator or a saved row index?" if i == len(header) - 1 else "a saved row index?"
            raise DataError(f"{path}: column {i + 1} of the header has no name ({why}); name it in the "
                            "file, or set header: false and list every name in source.columns")
    _refuse_duplicates(header, path, "the header names")
    if len(header) == 1:
        guesses = [s for s in OTHER_SEPARATORS if s != source.sep and s in header[0]]
        if guesses:
            raise DataError(f"{path}: the header is one column {cut(header[0])!r} with separator {source.sep!r}; "
                            f"if the separator is {guesses[0]!r}, set source.sep: {guesses[0]!r}")


def _refuse_duplicates(names: list[str], path: Path, where: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(f"{path}: {where} column {cut(name)!r} twice (columns {seen[name] + 1} and {i + 1}); "
                            "give every column its own name")
        seen[name] = i


def check_values(table: pd.DataFrame, origin: str) -> None:
    """Refuse values no generator can use, naming the column and the first bad row: duplicated column names,
    cells holding lists, dicts or raw bytes, and numbers that are infinite or beyond `MAX_ABS_VALUE`
    (also in text columns whose every value is a number)."""
    duplicated = table.columns[table.columns.duplicated()]
    if len(duplicated):
        raise DataError(f"{origin}: column {cut(duplicated[0])!r} appears twice; give every column its own name")
    for name in table.columns:
        column = table[name]
        if isinstance(column.dtype, pd.CategoricalDtype):  # a Parquet dictionary column: judge its categories
            column = pd.Series(column.cat.categories, dtype=object)
        problem = _unusable(column)
        if problem is not None:
            position, what, fix = problem
            row = f" (data row {position + 1})" if position is not None else ""
            raise DataError(f"{origin}: column {cut(name)!r} holds {what}{row}; {fix}")


_NESTED = "every cell must hold one plain value (text, number, date): flatten the column or drop it"
_BYTES = "decode the column to text or numbers, or drop it"
_COMPLEX = "split it into two real columns, or drop it"
_INFINITE = "values must be finite: replace them by a number or leave the cell empty (missing)"
_HUGE = f"numbers beyond ±{MAX_ABS_VALUE:g} overflow the squares every step computes; rescale the column (e.g. log10)"

Problem = tuple[int | None, str, str]  # (row position or None, what the column holds, how to fix it)


def _unusable(column: pd.Series) -> Problem | None:
    """The first unusable value of `column`, or None."""
    dtype = column.dtype
    if pd.api.types.is_complex_dtype(dtype):
        return None, "complex numbers", _COMPLEX
    if pd.api.types.is_float_dtype(dtype):
        return _first_out_of_range(column.to_numpy(dtype="float64", na_value=np.nan))
    if dtype != np.dtype(object):  # numpy object columns only: extension dtypes (string, category) have kind "O" too
        return None  # integers, booleans, datetimes, nullable text: always usable
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind == "string":  # text; if every value is a number, the numbers must be usable too
        values = column.to_numpy(dtype=object)
        present = pd.notna(values)
        numbers = np.full(len(values), np.nan)
        try:  # Python's float(): "1e309" and "inf" become inf, where pandas' parser left them as text
            numbers[present] = values[present].astype("float64")
        except (ValueError, TypeError, OverflowError):
            return None  # some value is not a number: a text column
        found = _first_out_of_range(numbers)
        if found is not None:
            position, what, fix = found
            return position, f"the text {cut(values[position], 30)!r}, {what}", fix
        return None
    if kind in ("empty", "boolean", "date", "datetime", "datetime64", "time", "period", "interval", "timedelta"):
        return None
    for position, value in enumerate(column.to_numpy()):  # mixed, bytes, decimal, Python numbers, nested ...
        problem = _unusable_value(value)
        if problem is not None:
            return position, *problem
    return None


def _unusable_value(value: Any) -> tuple[str, str] | None:
    if isinstance(value, (list, tuple, dict, set, frozenset, np.ndarray)):
        return f"a {type(value).__name__} in one cell", _NESTED
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "raw bytes", _BYTES
    if isinstance(value, (complex, np.complexfloating)):
        return "complex numbers", _COMPLEX
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if abs(value) > MAX_ABS_VALUE:
            return f"a number beyond ±{MAX_ABS_VALUE:g} ({cut(value, 30)})", _HUGE
        return None
    if isinstance(value, (float, np.floating, Decimal)) and not pd.isna(value):
        if math.isinf(value):
            return f"an infinite number ({value})", _INFINITE
        if abs(value) > MAX_ABS_VALUE:
            return f"a number beyond ±{MAX_ABS_VALUE:g} ({float(value):g})", _HUGE
    return None


def _first_out_of_range(values: np.ndarray) -> Problem | None:
    with np.errstate(invalid="ignore"):
        bad = np.abs(values) > MAX_ABS_VALUE  # NaN (missing) compares False; inf is caught here too
    if not bad.any():
        return None
    position = int(np.argmax(bad))
    value = values[position]
    if np.isinf(value):
        return position, f"an infinite number ({value})", _INFINITE
    return position, f"a number beyond ±{MAX_ABS_VALUE:g} ({value:g})", _HUGE


class RecodeWarning(UserWarning):
    """A `source.recode` mapping matched no value of its column (most likely keys written unlike the file's values)."""


def _recode_key(value: Any) -> str:
    """How a value is matched against `source.recode` keys: YAML reads `1:` as an int and `"1":` as a string, and
    a column may hold either, so both sides compare as text, with integer-valued floats written as integers."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return _recode_key(value.item())
    return str(value).strip()


def _recode(table: pd.DataFrame, source: SourceSpec, path: Path) -> pd.DataFrame:
    """Replace values as `source.recode` says, keys matched as they appear in the file (ints or text)."""
    for column, mapping in source.recode.items():
        if column not in table.columns:
            raise DataError(f"{path}: source.recode names column {cut(column)!r}, which is not in the table; "
                            f"columns: {column_names(list(table.columns))}")
        wanted = {_recode_key(key): new for key, new in mapping.items()}
        present = table[column].dropna().unique()
        replace = {value: wanted[_recode_key(value)] for value in present if _recode_key(value) in wanted}
        if not replace:
            seen = ", ".join(repr(cut(v, 40)) for v in present[:5].tolist()) or "only missing values"
            keys = ", ".join(repr(k) for k in list(mapping)[:5])
            warnings.warn(RecodeWarning(
                f"{path}: source.recode for column {cut(column)!r} matched no value (keys {keys}; the column holds "
                f"e.g. {seen}); write the keys as the values appear in the file"), stacklevel=2)
            continue
        table[column] = table[column].replace(replace)
    return table


def fingerprint(path: str | Path) -> str:
    """sha256 of the file's bytes: the card records exactly which data was used."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_sizes(n_rows: int, fraction: float) -> tuple[int, int]:
    """(training rows, holdout rows) that `split_holdout` makes of `n_rows` rows."""
    n_holdout = int(round(n_rows * fraction))
    return n_rows - n_holdout, n_holdout


def minimum_rows(fraction: float) -> int:
    """The fewest rows that leave at least one holdout row and two training rows at this holdout fraction."""
    # round(n·f) ≥ 1 needs n ≥ 0.5 / f, and n − round(n·f) ≥ 2 needs about n ≥ 1.5 / (1 − f): start just below both
    n = max(1, int(max(0.5 / fraction, 1.5 / (1 - fraction))) - 1)
    while not enough_rows(n, fraction):
        n += 1
    return n


def enough_rows(n_rows: int, fraction: float) -> bool:
    train, holdout = split_sizes(n_rows, fraction)
    return holdout >= 1 and train >= 2


def split_positions(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, holdout) row positions, each sorted, of the seeded split `split_holdout` makes."""
    _, n_holdout = split_sizes(n_rows, fraction)
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_holdout:]), np.sort(order[:n_holdout])


def split_holdout(table: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Randomly split rows into (train, holdout); both keep the original index."""
    if not enough_rows(len(table), fraction):
        raise DataError(
            f"the table has {len(table)} rows: too few to hold out {fraction:.0%} and still train "
            f"(at least {minimum_rows(fraction)} rows are needed); use a larger table or change holdout_fraction"
        )
    train, holdout = split_positions(len(table), fraction, seed)
    return table.iloc[train], table.iloc[holdout]
