"""Loading real tables and splitting off the holdout the generator never sees."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from synth.errors import DataError
from synth.spec import SourceSpec


def load_table(source: SourceSpec) -> pd.DataFrame:
    """Read the source table as the spec describes; every problem raises `DataError`.

    CSV is read with spaces after the separator skipped (UCI's ", "), blank
    lines ignored and `na_values` turned into missing values.
    """
    path = Path(source.path)
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise DataError(f"{path}: source file not found{hint}; fix source.path in the spec")
    fmt = source.resolved_format
    if fmt == "parquet":
        try:
            table = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several unrelated types
            raise DataError(f"{path}: cannot read as Parquet ({err}); set source.format: csv if it is a CSV") from None
        if source.columns:
            missing = [c for c in source.columns if c not in table.columns]
            if missing:
                raise DataError(f"{path}: columns {missing} listed in source.columns are not in the file; it has {list(table.columns)}")
            table = table[source.columns]
    else:
        table = _read_csv(path, source)
    if table.empty:
        what = "is empty" if path.stat().st_size == 0 else "has no data rows"
        raise DataError(f"{path}: the file {what}; point source.path at a table with data")
    return _recode(table, source, path)


def _read_csv(path: Path, source: SourceSpec) -> pd.DataFrame:
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
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; point source.path at a CSV with data") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: cannot parse as CSV with sep={source.sep!r}: {err}") from None
    except (UnicodeDecodeError, OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read as CSV ({err}); set source.format if it is Parquet") from None
    if table.empty:
        return table  # load_table reports it
    if source.header and source.columns:
        # A header row is present and names are also given: rename, but only if
        # the counts agree, so a wrong list fails instead of shifting columns.
        if len(source.columns) != table.shape[1]:
            raise DataError(f"{path}: source.columns lists {len(source.columns)} names but the file has {table.shape[1]} columns")
        table.columns = source.columns
    elif not source.header:
        # pandas pads short rows with NaN and silently drops extra fields when
        # `names` is given, so count the fields in the first line ourselves.
        width = _first_line_width(path, source)
        if width != len(source.columns or []):
            raise DataError(
                f"{path}: source.columns lists {len(source.columns or [])} names but the file has {width} fields per line "
                f"(separator {source.sep!r}); fix source.columns or source.sep"
            )
    return table


def _first_line_width(path: Path, source: SourceSpec) -> int:
    import csv
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        lines = (line for line in handle if line.strip())
        for _ in range(source.skip_rows):
            next(lines, None)
        first = next(lines, "")
    return len(next(csv.reader([first], delimiter=source.sep, skipinitialspace=True), []))


def _recode(table: pd.DataFrame, source: SourceSpec, path: Path) -> pd.DataFrame:
    for column, mapping in source.recode.items():
        if column not in table.columns:
            raise DataError(f"{path}: source.recode names column {column!r}, which is not in the table; columns: {list(table.columns)}")
        table[column] = table[column].replace(mapping)
    return table


def fingerprint(path: str | Path) -> str:
    """sha256 of the file's bytes: the card records exactly which data was used."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_holdout(table: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Randomly split rows into (train, holdout); both keep the original index."""
    n_holdout = int(round(len(table) * fraction))
    if n_holdout < 1 or len(table) - n_holdout < 2:
        raise DataError(
            f"the table has {len(table)} rows: too few to hold out {fraction:.0%} and still train; "
            "use a larger table or change holdout_fraction"
        )
    order = np.random.default_rng(seed).permutation(len(table))
    holdout = table.iloc[np.sort(order[:n_holdout])]
    train = table.iloc[np.sort(order[n_holdout:])]
    return train, holdout
