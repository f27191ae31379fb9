"""Profiling a table a user brings: what each column is, stated with its evidence and what is done about it.

`sniff_csv` reads the first lines of a CSV (optionally compressed) and decides the separator and whether the
first line is a header. `profile_table` takes the table as `synth.data.load_table` reads it (with no extra
`na_values`) and returns one `ColumnProfile` per column: its `kind`, the `evidence` (what the data shows) and
the `action` (what a spec does with it). `synth init` turns both into a spec.

Every rule is stated next to its threshold below and decided from the values alone, never from column names:

- missing markers: a token that is not a number (no digit, at most 12 characters, at most 3 such tokens) in
  an otherwise numeric text column, or a token made only of "?" in any text column, means "missing"; the
  column is then read as numbers with nulls (pandas already reads "", " ", "NA", "null", "None" ... as missing).
- identifier: text whose values mostly hold no space, unique per row (at least `ID_MIN_ROWS` values); integers
  unique per row that also grow with the row position, fill their range densely (span at most `ID_DENSE_RANGE`
  times their count: row numbers, shuffled or not) or are all `ID_FIXED_WIDTH`+ digits wide (a quantity that
  happens to be unique in a small table is none of these); or near-unique: text with more than `MAX_CATEGORIES`
  distinct values making up at least `ID_NEAR_UNIQUE` of its values, or integers with that share distinct that
  grow with the row position (rank correlation at least `ID_ORDER_CORRELATION`: numbers handed out over time,
  such as patient numbers, where a quantity is unrelated to the row order).
- free text: the same unique or near-unique text, when most values contain spaces.
- dates stored as text (ISO-like `2020-01-31`, `31/01/2020 10:00`): categorical when few, else left out.
- discrete: integer-valued numbers with at most `DISCRETE_MAX_VALUES` distinct values (codes, counts).
- grid: integer values that are all multiples of 10, 20, 50, 100 ... (the largest such step), or decimals
  with a fixed number of places (at most `MAX_DECIMALS`).
- heavy tail: for continuous columns, tail = (p99 - p50) / (p75 - p25) or its mirror (p50 - p1) / IQR,
  computed without the most frequent value when it holds at least 10% of the rows (a spike such as 0 gets its
  own slot in the generators). Heavy when tail > `HEAVY_TAIL_RATIO` (a normal gives 1.7, an exponential 3.5,
  a log-normal with sigma 1 gives 6.4). Transform: log(1 + x) when every value is >= 0, the heavy side is the
  upper one and the log brings the tail to at most `LOG_TAIL_RATIO`; otherwise a quantile transform.

`pandas_na_words` finds, in text columns of a CSV, words that pandas reads as missing by default ("None",
"NA", "null" ...), which may be real values there (a lab result "None" = not measured).

Cost: value counts, quantiles, the grid and the rank correlation use every row (vectorised); rules that look
at single strings (spaces, date shape) use at most `SAMPLE_ROWS` distinct values, and say so in their evidence.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import DataError

#: Bytes of a CSV the separator and header are decided on (decompressed), cut at the last complete line.
SNIFF_BYTES = 256 * 1024
#: Lines of that the decision uses at most.
SNIFF_LINES = 500
#: Separators tried, in order of preference when several split every line the same way.
SEPARATORS = (",", ";", "\t", "|", " ")
#: A separator is consistent when at least this share of the sniffed lines has the same number of fields.
SEP_CONSISTENCY = 0.9
#: Leading lines with another number of fields (a title before the table) skipped, at most.
MAX_LEAD_LINES = 5

#: Tokens that are not numbers and that pandas does not already read as missing, but that mean "missing" in
#: an otherwise numeric column: at most this many distinct ones ...
MAX_MARKERS = 3
#: ... each at most this long, with no digit in it.
MARKER_MAX_CHARS = 12
#: In a text column only tokens made of question marks are taken as missing (a "-" may be a real category).
TEXT_MARKER = re.compile(r"^\?+$")
#: What pandas' CSV reader turns into missing by default (keep_default_na); never needs an na_values entry.
PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                       "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})

#: Identifier rules (see the module docstring).
ID_MIN_ROWS = 50
ID_NEAR_UNIQUE = 0.5
ID_ORDER_CORRELATION = 0.5
#: Unique integers spanning at most this many times their count are dense (row numbers, shuffled or not) ...
ID_DENSE_RANGE = 2.0
#: ... and unique integers all this many digits wide or wider are fixed-width codes.
ID_FIXED_WIDTH = 5
#: Categories the generators keep per column by default (`generator.max_categories`).
MAX_CATEGORIES = 100
#: Integer-valued columns with at most this many distinct values are discrete (codes, counts; a month's days fit).
DISCRETE_MAX_VALUES = 32
#: Fixed decimal places looked for at most.
MAX_DECIMALS = 6
#: A column with no fixed decimals whose values are whole numbers in at least this share of rows is taken as whole
#: numbers (the rest rounded when generating).
GRID_SHARE = 0.99
#: What is done with an identifier (synth.column_plan).
ID_ACTION = ("kept, not learned: synthetic rows get fresh unique keys in its format (an identifier carries no pattern; "
             "learned it would be pooled or copied); the gate leaves it out")
#: Heavy-tail rule (see the module docstring).
HEAVY_TAIL_RATIO = 5.0
LOG_TAIL_RATIO = 2.5
#: A value this common is a spike (a point mass in the generators) and left out of the tail measure.
SPIKE_SHARE = 0.1
#: Distinct string values the per-string rules look at, at most.
SAMPLE_ROWS = 20_000
#: A target is suggested only with this many classes at most.
MAX_TARGET_CLASSES = 20

_DATE = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
                   r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")

#: Kinds a column can be profiled as.
KINDS = ("identifier", "text", "date_text", "categorical", "boolean", "discrete", "continuous", "datetime", "empty")
#: Kinds left out of a spec's `source.columns` (the generators would learn them as categories or numbers).
LEFT_OUT = ("text", "empty")


@dataclass
class ColumnProfile:
    """What one column is, why (evidence), and what a spec does about it (action)."""

    name: str
    kind: str
    evidence: str
    action: str
    #: dtype as read (before missing markers are applied).
    dtype: str
    rows: int
    missing: int
    distinct: int
    #: Whether the column goes into the spec's `source.columns`.
    keep: bool = True
    #: Tokens read as missing in this column (to go into `source.na_values`).
    markers: tuple[str, ...] = ()
    #: Grid step of the values (1 for integers, 0.01 for two decimals, 100 for multiples of 100), if any.
    grid: float | None = None
    #: "log" or "quantile" for a heavy tail, else None.
    transform: str | None = None
    #: Observed range of numeric columns, and the same rounded outward to round numbers.
    low: float | None = None
    high: float | None = None
    bounds: tuple[float, float] | None = None
    #: Notes on what today's generators cannot do yet for this column (grid snapping, id regeneration ...).
    todo: list[str] = field(default_factory=list)


@dataclass
class CsvLayout:
    """How a CSV is laid out, as sniffed from its first lines."""

    sep: str
    header: bool
    fields: int
    #: Lines before the table (a title), to skip.
    skip_rows: int
    #: Why, for the separator, the skipped lines (empty when none) and the header.
    sep_evidence: str
    skip_evidence: str
    header_evidence: str

    @property
    def evidence(self) -> str:
        return "; ".join(e for e in (self.sep_evidence, self.skip_evidence, self.header_evidence) if e)


# ---------------------------------------------------------------------------------------------------- CSV sniffing

def read_head(path: Path) -> str:
    """The first `SNIFF_BYTES` of a CSV as text (decompressed as pandas would), cut at the last complete line."""
    from pandas.io.common import get_handle  # pandas' own opener: the same decompression as read_csv

    try:
        with get_handle(path, "rb", compression="infer", is_text=False) as handles:
            raw = handles.handle.read(SNIFF_BYTES + 1)
    except (OSError, EOFError, ValueError) as err:  # gzip/zip: truncated or not what the name says
        raise DataError(f"{path}: cannot read it ({' '.join(str(err).split())[:200]}); the file may be truncated "
                        "or not what its name says "
                        "(synth init reads CSV, optionally .gz/.bz2/.zip/.xz, or Parquet)") from None
    if not raw:
        raise DataError(f"{path}: the file is empty; give a CSV or Parquet table with data")
    if b"\x00" in raw:
        raise DataError(f"{path}: a binary file, not CSV text (it holds NUL bytes); "
                        "give a CSV (UTF-8 text) or a Parquet file")
    if len(raw) > SNIFF_BYTES:
        raw = raw[:SNIFF_BYTES]
        cut = raw.rfind(b"\n")
        raw = raw[: cut + 1] if cut > 0 else raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}: not UTF-8 text (byte 0x{raw[err.start]:02x} on line {line}); save it as UTF-8 "
                        "(e.g. iconv -f latin1 -t utf-8), or give a Parquet file") from None


def _rows(text: str, sep: str) -> tuple[list[list[str]], list[int]]:
    """The sniffed text split into rows of fields (blank lines dropped, as pandas does), and the physical line
    each row ends on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)
    rows, ends = [], []
    try:
        for fields in reader:
            if not fields or fields == [""]:
                continue  # a blank line: pandas skips it
            if len(fields) > 1 and not fields[-1].strip():
                fields = fields[:-1]  # a trailing separator (read as nothing by synth.data)
            rows.append(fields)
            ends.append(reader.line_num)
            if len(rows) >= SNIFF_LINES:
                break
    except csv.Error:
        return [], []
    return rows, ends


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _is_marker(token: str) -> bool:
    token = token.strip()
    return token in PANDAS_NA or bool(TEXT_MARKER.match(token))


def sniff_csv(path: Path, text: str | None = None) -> CsvLayout:
    """The separator (the first of `SEPARATORS` that splits at least `SEP_CONSISTENCY` of the first lines into
    the same number, at least two, of fields; failing that, the one that splits most lines alike, so that
    reading the file names the odd line) and whether the first line is a header (see `_header_votes`)."""
    text = read_head(path) if text is None else text
    consistent, ragged = [], None
    for sep in SEPARATORS:
        rows, ends = _rows(text, sep)
        if not rows:
            continue
        widths = [len(r) for r in rows]
        width = max(set(widths), key=widths.count)
        share = widths.count(width) / len(widths)
        if width >= 2 and share >= SEP_CONSISTENCY:
            consistent.append((sep, rows, ends, width, share))
        elif width >= 2 and share >= 0.5 and (ragged is None or share > ragged[4]):
            ragged = (sep, rows, ends, width, share)  # most lines agree: synth.data then names the line that does not
    found = consistent[0] if consistent else ragged
    for other in consistent[1:]:
        # "1,5;2,3" splits consistently on both: when most rows of the first choice hold another consistent
        # separator (other than a space, common inside values) inside their fields, that one is the separator
        inside = sum(any(other[0] in f for f in r) for r in found[1])
        if other[0] != " " and inside >= 0.5 * len(found[1]):
            found = other
            break
    if found is None:
        raise DataError(f"{path}: found one column only (tried separators {', '.join(repr(s) for s in SEPARATORS)} "
                        "on the first lines); synth needs a table of at least two columns: check the file is a CSV "
                        "with a separator between fields")
    sep, rows, ends, width, share = found
    lead = 0  # a title line or two before the table (adult.test's "|1x3 Cross validator"): skipped
    while lead < min(MAX_LEAD_LINES, len(rows) - 2) and len(rows[lead]) != width and len(rows[lead + 1]) == width:
        lead += 1
    skip = ends[lead - 1] if lead else 0
    first = "the first line" if skip == 1 else f"the first {skip} lines"
    skipped = f"{first} ({rows[0][0][:30]!r}…) not {width} fields: skipped" if skip else ""
    header, why = _header_votes(rows[lead:], width)
    return CsvLayout(sep=sep, header=header, fields=width, skip_rows=skip,
                     sep_evidence=f"separator {sep!r}: {width} fields on {share:.0%} of the first {len(rows)} lines",
                     skip_evidence=skipped, header_evidence=f"{'header' if header else 'no header'}: {why}")


def _header_votes(rows: list[list[str]], width: int) -> tuple[bool, str]:
    """Whether the first row names the columns: a column whose other values are numbers votes "header" when its
    first value is not a number and "data" when it is; a text column votes "data" when its first value recurs
    below. With no vote either way (every column text, no first value recurring), a first row of distinct,
    non-empty, non-numeric names is a header."""
    first, rest = rows[0], [r for r in rows[1:] if len(r) == width]
    if len(first) != width:
        return False, "the first line has a different number of fields"
    if not rest:
        names_like = all(f.strip() and not _is_number(f) for f in first)
        return names_like, ("only one line; "
                            + ("its fields are names, not numbers" if names_like else "it holds numbers"))
    header_votes, data_votes = [], []
    for j in range(width):
        head = first[j].strip()
        values = [r[j].strip() for r in rest if not _is_marker(r[j])]
        if not values:
            continue
        numeric = sum(_is_number(v) for v in values) >= 0.9 * len(values)
        if numeric:
            if _is_number(head):
                data_votes.append(j)
            elif not _is_marker(head):
                header_votes.append(j)
        elif head in set(values):
            data_votes.append(j)
    if header_votes or data_votes:
        header = len(header_votes) > len(data_votes)
        if header:
            return True, (f"{len(header_votes)} numeric column(s) start with a name "
                          f"(e.g. {first[header_votes[0]].strip()[:30]!r})")
        return False, f"{len(data_votes)} column(s) start with a value like those below it"
    names = [f.strip() for f in first]
    names_like = all(names) and len(set(names)) == len(names) and not any(_is_number(n) for n in names)
    return names_like, ("every column is text and no first value recurs below it" if names_like
                        else "the first line has empty or repeated fields")


# ------------------------------------------------------------------------------------------------ column profiling

def profile_table(table: pd.DataFrame, *, markers_fixable: bool = True) -> list[ColumnProfile]:
    """One `ColumnProfile` per column of `table`, in order.

    `table` is read as `synth.data.load_table` reads it without extra `na_values`. Markers found in any column
    are applied to every column (as `source.na_values` is). `markers_fixable=False` (a Parquet source, where no
    spec key can mark a value missing) reports such columns as they are and says how to fix the file.
    """
    found = {name: _markers(table[name]) for name in table.columns}
    applied = sorted({m for markers, _ in found.values() for m in markers}) if markers_fixable else []
    return [_profile_column(str(name), table[name], *found[name], applied, markers_fixable) for name in table.columns]


def _tokens(column: pd.Series) -> pd.Series:
    """Distinct present values of a text column as strings → how many rows hold each, most frequent first."""
    counts = column.value_counts(dropna=True)
    if not all(isinstance(v, str) for v in counts.index):
        counts.index = counts.index.map(str)
        counts = counts.groupby(level=0, sort=False).sum().sort_values(ascending=False)
    return counts


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or isinstance(column.dtype, pd.StringDtype) or (
        isinstance(column.dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(column.cat.categories))


def _markers(column: pd.Series) -> tuple[tuple[str, ...], bool]:
    """(missing markers of one column, most frequent first; whether the rest of the column is numbers)."""
    if not _is_text(column):
        return (), False
    counts = _tokens(column)
    if counts.empty:
        return (), False
    numeric = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").notna().to_numpy()
    others = counts[~numeric]
    if numeric.any() and 0 < len(others) <= MAX_MARKERS and all(
            len(t) <= MARKER_MAX_CHARS and not any(c.isdigit() for c in t) and t.strip() for t in others.index):
        return tuple(others.index), True
    return tuple(t for t in others.index if TEXT_MARKER.match(t)), False


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"{n:,} {noun}"
    return f"{n:,} {noun[:-1]}ies" if noun.endswith("y") else f"{n:,} {noun}s"


def _num(x: float) -> str:
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.6g}"


def _profile_column(name: str, column: pd.Series, markers: tuple[str, ...], numeric: bool, applied: list[str],
                    fixable: bool) -> ColumnProfile:
    rows = len(column)
    dtype = str(column.dtype)
    notes = []
    text = _is_text(column)
    counts = None
    if text:
        column = column.astype(object)  # a Parquet dictionary or string column: judge it as text
        counts = _tokens(column)
    if text and applied:
        hits = [m for m in applied if m in counts.index]
        if hits:
            hit = column.isin(hits)  # the CSV reader has already skipped the spaces before each value
            column = column.where(~hit)
            counts = counts.drop(hits)
            what = _count(int(hit.sum()), "row")
            if numeric:
                column = pd.to_numeric(column, errors="coerce")  # every other token is a number
                notes.append(f"numbers stored as text with missing markers {list(hits)} ({what}): "
                             "read as numbers with nulls")
            else:
                notes.append(f"{', '.join(repr(h) for h in hits)} read as missing ({what})")
    elif markers and not fixable:
        notes.append(f"{'numbers mixed with' if numeric else 'holds'} the tokens {list(markers)}, which a Parquet "
                     "source cannot mark missing (na_values is for CSV); write them as nulls in the file")
    missing = int(column.isna().sum())
    base = dict(name=name, dtype=dtype, rows=rows, missing=missing, markers=markers if fixable else ())
    lead = "; ".join(notes)
    if missing == rows:
        return ColumnProfile(**base, kind="empty", distinct=0, keep=False,
                             evidence=_join(lead, "every value is missing"),
                             action="left out: nothing to learn (the pipeline refuses an all-missing column)")
    if pd.api.types.is_bool_dtype(column):
        present = column.dropna()
        return ColumnProfile(**base, kind="boolean", distinct=int(present.nunique()),
                             evidence=_join(lead, f"true/false ({_share(present.value_counts())})"),
                             action="kept as a category")
    if pd.api.types.is_datetime64_any_dtype(column):
        present = column.dropna()
        return ColumnProfile(**base, kind="datetime", distinct=int(present.nunique()),
                             evidence=_join(lead, f"dates {present.min()} to {present.max()}"),
                             action="kept as a date (modelled as a number of seconds)")
    if pd.api.types.is_numeric_dtype(column):
        return _profile_numeric(base, lead, column, column.dropna())
    return _profile_text(base, lead, counts if counts is not None else _tokens(column))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _share(counts: pd.Series) -> str:
    """The most frequent value and its share, from value counts sorted by frequency."""
    return f"{str(counts.index[0])[:30]!r} in {counts.iloc[0] / counts.sum():.0%} of the values"


def _profile_text(base: dict[str, Any], lead: str, counts: pd.Series) -> ColumnProfile:
    """A text column from its value counts (most frequent first)."""
    distinct, n = len(counts), int(counts.sum())
    nulls = f", {_count(base['missing'], 'missing value')}" if base["missing"] else ""
    values = counts.index.to_numpy()
    sample = values if distinct <= SAMPLE_ROWS else np.random.default_rng(0).choice(values, SAMPLE_ROWS, replace=False)
    sampled = f" (checked on {SAMPLE_ROWS:,} of the {distinct:,} distinct values)" if distinct > SAMPLE_ROWS else ""
    spaced = float(np.mean([" " in str(v).strip() for v in sample]))
    dates = float(np.mean([bool(_DATE.match(str(v))) for v in sample]))
    base = {**base, "distinct": distinct}
    if dates >= 0.95 and distinct > MAX_CATEGORIES:
        return ColumnProfile(**base, kind="date_text", keep=False,
                             evidence=_join(lead, "dates written as text, "
                                                  f"{_count(distinct, 'distinct value')}{sampled}"),
                             action="left out: the CSV reader keeps dates as text and the generators would learn them "
                                    "as categories; to keep it, convert the file to Parquet with a datetime column")
    if dates >= 0.95:
        return ColumnProfile(**base, kind="date_text",
                             evidence=_join(lead, f"dates written as text, only {_count(distinct, 'distinct value')}"),
                             action="kept as a category (few distinct dates)")
    unique = distinct == n and n >= ID_MIN_ROWS
    near = distinct >= ID_NEAR_UNIQUE * n and distinct > MAX_CATEGORIES
    if (unique or near) and spaced < 0.5:
        how = "every value distinct" if unique else f"{distinct / n:.0%} of the values distinct"
        return ColumnProfile(**base, kind="identifier",
                             evidence=_join(lead, f"codes without spaces, {how} ({_count(distinct, 'value')} in "
                                                  f"{_count(n, 'row')}, e.g. {str(values[0])[:30]!r}){sampled}"),
                             action=ID_ACTION)
    if unique or near:
        return ColumnProfile(**base, kind="text", keep=False,
                             evidence=_join(lead, f"free text: {distinct / n:.0%} of the values distinct, "
                                                  f"{spaced:.0%} contain spaces{sampled}"),
                             action="left out: free text is not a category; the generators would pool or copy it")
    if distinct > MAX_CATEGORIES:
        kept = int(counts.iloc[:MAX_CATEGORIES].sum())
        return ColumnProfile(**base, kind="categorical",
                             evidence=_join(lead, f"{_count(distinct, 'category')}, the {MAX_CATEGORIES} most frequent "
                                                  f"cover {kept / n:.1%} of the values{nulls}"),
                             action=f"kept as a category; the generators keep the {MAX_CATEGORIES} most frequent "
                                    "values and pool the rest (generator.max_categories)")
    return ColumnProfile(**base, kind="categorical",
                         evidence=_join(lead, f"{_count(distinct, 'category')}, {_share(counts)}{nulls}"),
                         action="kept as a category")


def _profile_numeric(base: dict[str, Any], lead: str, column: pd.Series, present: pd.Series) -> ColumnProfile:
    values = present.to_numpy(dtype="float64")
    n = len(values)
    distinct = int(pd.unique(values).size)
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    low, high = float(values.min()), float(values.max())
    base = {**base, "distinct": distinct, "low": low, "high": high, "bounds": public_bounds(low, high)}
    span = f"{_num(low)} to {_num(high)}"
    if integral and n >= ID_MIN_ROWS and distinct == n:
        why = _unique_integers_are_ids(column, values)
        if why:
            return ColumnProfile(**base, kind="identifier",
                                 evidence=_join(lead, f"integers, every value distinct ({_count(n, 'row')}, {span}), "
                                                      f"{why}"),
                                 action=ID_ACTION)
    if integral and n >= ID_MIN_ROWS and distinct >= ID_NEAR_UNIQUE * n:
        order = _order_correlation(column)
        if order >= ID_ORDER_CORRELATION:
            return ColumnProfile(**base, kind="identifier",
                                 evidence=_join(lead, f"integers, {distinct / n:.0%} of the values distinct, growing "
                                                      f"with the row position (rank correlation {order:.2f})"),
                                 action=ID_ACTION)
    nulls = f", {_count(base['missing'], 'missing value')}" if base["missing"] else ""
    if integral and distinct <= DISCRETE_MAX_VALUES:
        shown = sorted(pd.unique(values))[:8]
        more = ", …" if distinct > 8 else ""
        floats = " (read as decimals because of the gaps)" if not pd.api.types.is_integer_dtype(column) else ""
        return ColumnProfile(**base, kind="discrete", grid=1.0,
                             evidence=_join(lead, f"integer codes/counts, {_count(distinct, 'distinct value')} "
                                                  f"({', '.join(str(int(v)) for v in shown)}{more}){nulls}{floats}"),
                             action="kept; learned as categories (the copula: as a number snapped to these values), "
                                    "so every value, rare ones included, comes back exactly")
    step, off_grid = _grid(values, integral)
    done = []
    off = f" ({off_grid:.1%} of the values off it, e.g. interpolated readings)" if off_grid else ""
    if step is not None and step >= 10:
        grid_text = f"on a grid: every value a multiple of {_num(step)}{off}"
        done.append(f"sampled values snapped to multiples of {_num(step)}")
    elif step == 1:
        grid_text = ("integers" if not off_grid else f"integers{off}") + (
            " (read as decimals because of the gaps)" if not pd.api.types.is_integer_dtype(column) else "")
        if not pd.api.types.is_integer_dtype(column) or off_grid:
            done.append("sampled values rounded to whole numbers")
    elif step is not None:
        places = round(-math.log10(step))
        grid_text = f"fixed decimals: {places} place{'s' if places != 1 else ''}{off}"
        done.append(f"sampled values rounded to {places} decimal place{'s' if places != 1 else ''}")
    else:
        grid_text = "full-precision decimals"
    tail, transform, tail_text = _tail(values)
    if transform:
        done.append(f"heavy tail: {'log(1 + x)' if transform == 'log' else 'a quantile'} transform before learning "
                    "(not for the copula, which follows each column's own distribution)")
    action = "kept as a number" + "".join(f"; {d}" for d in done)
    return ColumnProfile(**base, kind="continuous", grid=step, transform=transform,
                         evidence=_join(lead, f"{grid_text}, {span}, {_count(distinct, 'distinct value')}{nulls}; "
                                              f"{tail_text}"),
                         action=action)


def _unique_integers_are_ids(column: pd.Series, values: np.ndarray) -> str | None:
    """Why integers that are unique per row are keys, or None for a quantity that happens to be unique (amounts in
    a small table): keys are handed out in row order, fill their range densely, or all have the same width."""
    order = _order_correlation(column)
    if order >= ID_ORDER_CORRELATION:
        return f"growing with the row position (rank correlation {order:.2f})"
    low, high = float(values.min()), float(values.max())
    if high - low + 1 <= ID_DENSE_RANGE * len(values):
        return f"filling {(high - low + 1) / len(values):.1f}× their count of the range (dense, like row numbers)"
    widths = np.unique(np.floor(np.log10(np.maximum(np.abs(values), 1))) + 1)
    if low >= 0 and len(widths) == 1 and widths[0] >= ID_FIXED_WIDTH:
        return f"all {int(widths[0])} digits wide (fixed-width codes)"
    return None


def _order_correlation(column: pd.Series) -> float:
    """Spearman rank correlation of a column's present values with their row position."""
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    position = np.flatnonzero(~np.isnan(values))
    if len(position) < 3:
        return 0.0
    ranks = pd.Series(values[position]).rank().to_numpy()
    order = np.arange(len(position), dtype="float64")
    if ranks.std() == 0:
        return 0.0
    return float(np.corrcoef(ranks, order)[0, 1])


def _grid(values: np.ndarray, integral: bool) -> tuple[float | None, float]:
    """(step, share of values off it): the largest step of 1, 2, 5 × 10^k (k ≥ 1) dividing every integer value (1
    when none does), or for decimals 10^-d for the fewest places d ≤ `MAX_DECIMALS` that hold every value; else
    whole numbers when at least `GRID_SHARE` of the values are (a few interpolated readings in a column of whole
    numbers); None when no grid fits."""
    if not integral:
        whole = float(np.mean(values == np.round(values)))
        if whole >= GRID_SHARE:
            return 1.0, 1 - whole
        return _decimal_grid(values), 0.0
    return _integer_grid(values), 0.0


def _decimal_grid(values: np.ndarray) -> float | None:
    for places in range(1, MAX_DECIMALS + 1):
        scaled = values * 10 ** places
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-6 * max(1.0, float(np.abs(scaled).max()) * 1e-9)):
            return 10.0 ** -places
    return None


def _integer_grid(values: np.ndarray) -> float:
    distinct = np.unique(values)
    if len(distinct) < 3:
        return 1.0
    best = 1.0
    magnitude = 10.0
    while magnitude <= 1e12:
        for m in (1, 2, 5):
            step = m * magnitude
            if np.all(np.mod(distinct, step) == 0):
                best = step
        magnitude *= 10
    return best


def _tail_ratio(values: np.ndarray) -> tuple[float, float]:
    p1, p25, p50, p75, p99 = np.percentile(values, [1, 25, 50, 75, 99])
    iqr = p75 - p25
    if iqr <= 0:
        return (math.inf if p99 > p50 else 0.0), (math.inf if p50 > p1 else 0.0)
    return (p99 - p50) / iqr, (p50 - p1) / iqr


def _tail(values: np.ndarray) -> tuple[float, str | None, str]:
    """(tail ratio, transform or None, stated evidence) by the heavy-tail rule in the module docstring."""
    rest, spike = values, ""
    uniques, counts = np.unique(values, return_counts=True)
    top = int(np.argmax(counts))
    if counts[top] >= SPIKE_SHARE * len(values) and len(uniques) > 1:
        rest = values[values != uniques[top]]
        spike = f" (without the spike at {_num(float(uniques[top]))}, {counts[top] / len(values):.0%} of the values)"
    if len(rest) < 20:
        return 0.0, None, "too few values to judge the tail"
    upper, lower = _tail_ratio(rest)
    tail = max(upper, lower)
    shown = "inf" if math.isinf(tail) else f"{tail:.1f}"
    if tail <= HEAVY_TAIL_RATIO:
        return tail, None, f"tail ratio {shown}{spike}: not heavy (> {HEAVY_TAIL_RATIO:g} is)"
    heavy = f"tail ratio {shown}{spike} > {HEAVY_TAIL_RATIO:g}: heavy"
    if rest.min() < 0:
        return tail, "quantile", f"{heavy}; negative values, so no log: quantile"
    if upper < lower:
        return tail, "quantile", f"{heavy} on the low side, which a log makes worse: quantile"
    after = max(_tail_ratio(np.log1p(rest)))
    after_text = "inf" if math.isinf(after) else f"{after:.1f}"
    if after <= LOG_TAIL_RATIO:
        return tail, "log", f"{heavy}; values ≥ 0 and log(1+x) brings it to {after_text} ≤ {LOG_TAIL_RATIO:g}: log"
    return tail, "quantile", f"{heavy}; log(1+x) leaves it at {after_text} > {LOG_TAIL_RATIO:g}: quantile"


def _nice_above(x: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above x > 0."""
    exponent = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        value = m * 10.0 ** exponent
        if value >= x * (1 - 1e-12):
            return value
    return 10.0 ** (exponent + 1)


def public_bounds(low: float, high: float) -> tuple[float, float]:
    """Bounds that look like ones a codebook would state: 0 (or minus a round number) up to a round number of
    the form 1, 2 or 5 × 10^k. They are read from the data, so declare them only if they are public knowledge."""
    lo = 0.0 if low >= 0 else -_nice_above(-low)
    hi = 0.0 if high <= 0 else _nice_above(high)
    if lo == hi:
        hi = lo + 1.0
    return lo, hi


def suggest_target(profiles: list[ColumnProfile]) -> tuple[str | None, str]:
    """The last kept column when it is categorical, boolean or discrete with 2 to `MAX_TARGET_CLASSES` values
    (tables conventionally put the label last); else none, and the reason says that a number can be named with
    --target (the gate then scores it as a regression target). Returns (name or None, the reason)."""
    kept = [p for p in profiles if p.keep]
    if not kept:
        return None, "no column kept"
    last = kept[-1]
    if last.kind in ("categorical", "boolean", "discrete") and 2 <= last.distinct <= MAX_TARGET_CLASSES:
        return last.name, f"the last column, {last.kind} with {last.distinct} classes"
    # a number to predict (regression) is never guessed: a table's last column is as often a measurement as a label
    return None, (f"the last column {last.name!r} is {last.kind} with {last.distinct:,} values, not a class label "
                  f"(2 to {MAX_TARGET_CLASSES} classes); pass --target to choose one (a numeric column with more than "
                  f"{DISCRETE_MAX_VALUES} values is predicted as a regression target, scored by R²)")


def pandas_na_words(path: Path, layout: CsvLayout, names: list[str] | None,
                    columns: list[str]) -> dict[str, dict[str, int]]:
    """For text `columns` of a CSV: the words that pandas' reader turned into missing values by default
    (`PANDAS_NA` other than the empty field), column → {word: rows}. In a text column such a word may be a real
    value (a lab test "None" = not measured) that the spec cannot keep yet: there is no keep_default_na key.

    Reads only those columns, as text with nothing treated as missing."""
    if not columns:
        return {}
    raw = pd.read_csv(path, sep=layout.sep, header=0 if layout.header else None, names=names, skiprows=layout.skip_rows,
                      usecols=columns, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True,
                      skip_blank_lines=True, index_col=False, encoding="utf-8", low_memory=False)
    words = sorted(PANDAS_NA - {""})
    found: dict[str, dict[str, int]] = {}
    for name in columns:
        counts = raw[name].str.strip().value_counts()
        hits = {w: int(counts[w]) for w in words if w in counts.index}
        if hits:
            found[name] = hits
    return found
