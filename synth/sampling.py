"""Large outputs: sample in chunks and stream them into one Parquet file, and write any output atomically.

Memory stays bounded by one chunk, whatever the number of rows. Every
chunk comes from the same seeded stream: the chunk starting at row i is
`model.sample(size, seed=seed, start=i)`, so the same seed gives the same
file whatever the chunk size (and the same rows as one `sample(rows, seed)`).

Every output is written under a hidden temporary name of its own, unique
per writer (`temporary_file`, `staging_folder`, next to the target so the
rename stays on one file system), and moved into place in one step
(`publish_file`, `publish_folder`): a failure or a kill leaves nothing
half-written at the target, and two writers of the same target never
share a temporary file. Without `overwrite` an existing target is never
replaced, even by a writer that finishes at the same moment.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synth.errors import SynthError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_CHUNK_ROWS = 100_000
#: What every temporary output ends with, so a leftover from a killed writer is recognisable.
PARTIAL_SUFFIX = ".partial"


def temporary_file(path: Path) -> Path:
    """A new, empty, hidden file next to `path`, unique to this writer; permissions follow the umask (as for `path`)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{PARTIAL_SUFFIX}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue


def staging_folder(path: Path) -> Path:
    """A new, empty, hidden folder next to `path`, unique to this writer; permissions follow the umask."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{PARTIAL_SUFFIX}")
        try:
            tmp.mkdir(mode=0o777)
            return tmp
        except FileExistsError:
            continue


def publish_file(tmp: Path, path: Path, *, overwrite: bool) -> None:
    """Move the finished `tmp` to `path` in one step. Without `overwrite`, an existing `path` is an error
    (checked atomically: a hard link fails if the name exists), and `tmp` stays for the caller to remove."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise SynthError(f"{path}: already exists (another writer finished first?); "
                         "pass --force to replace it") from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # a file system without hard links: the check and the rename are two steps here
        if os.path.lexists(path):
            raise SynthError(f"{path}: already exists; pass --force to replace it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def publish_folder(staging: Path, path: Path, *, replace_if: Callable[[Path], bool]) -> None:
    """Move the finished folder `staging` to `path` in one step.

    An empty folder at `path` is replaced by the rename itself. A non-empty
    one only when `replace_if(path)` says so (a folder this tool wrote
    before): it is moved aside under a hidden name first and deleted after,
    so `path` is never half-written and a folder of someone else's files is
    never deleted.
    """
    try:
        os.rename(staging, path)
        return
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not replace_if(path):
        raise SynthError(f"{path}: already exists and is not empty; choose a new folder name")
    aside = staging_folder(path)
    os.rename(path, aside / "old")
    os.rename(staging, path)
    shutil.rmtree(aside, ignore_errors=True)


def fresh_seed() -> int:
    """A seed from OS entropy, for `sample(seed=None)`: every generator's unseeded draw."""
    import numpy as np

    return int(np.random.SeedSequence().entropy % 2**63)


def sample_to_parquet(
    model: Any,
    path: str | Path,
    rows: int,
    *,
    seed: int,
    conditions: dict[str, Any] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    first_row: int = 0,
    progress: bool = True,
    on_chunk: Callable[[pd.DataFrame], None] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write `rows` rows from `model.sample` to `path` (Parquet), `chunk_rows` at a time.

    The file holds rows `first_row .. first_row + rows` of the seed's stream
    (partitions of one dataset pass their offset). Each chunk is one Parquet row group. `on_chunk`, if given, sees every
    chunk before it is written (e.g. to check it), so nothing needs to read
    the file back. Without `overwrite`, an existing `path` is a `SynthError`
    (checked when the file is complete, atomically; see `publish_file`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    path = Path(path)
    tmp = temporary_file(path)
    writer = None
    try:
        with tqdm(total=rows, unit="row", unit_scale=True, desc="sampling", disable=not progress) as bar:
            for start in range(0, rows, chunk_rows):
                size = min(chunk_rows, rows - start)
                chunk = model.sample(size, conditions=conditions, seed=seed, start=first_row + start)
                if on_chunk is not None:
                    on_chunk(chunk)
                if writer is None:
                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    writer = pq.ParquetWriter(tmp, table.schema)
                else:  # later chunks keep the first chunk's types (e.g. a column that is all null in one chunk)
                    table = pa.Table.from_pandas(chunk, schema=writer.schema, preserve_index=False)
                writer.write_table(table)
                bar.update(size)
        writer.close()
        writer = None
        publish_file(tmp, path, overwrite=overwrite)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return path


def sample_to_csv(
    model: Any,
    path: str | Path,
    rows: int,
    *,
    seed: int,
    conditions: dict[str, Any] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    overwrite: bool = True,
) -> Path:
    """`sample_to_parquet` for a CSV file with a header: the same rows, streamed in chunks, published atomically."""
    path = Path(path)
    tmp = temporary_file(path)
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            for start in range(0, rows, chunk_rows):
                chunk = model.sample(min(chunk_rows, rows - start), conditions=conditions, seed=seed, start=start)
                chunk.to_csv(handle, header=start == 0, index=False)
        publish_file(tmp, path, overwrite=overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    return path
