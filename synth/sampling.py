"""Large outputs: sample in chunks and stream them into one Parquet file.

Memory stays bounded by one chunk, whatever the number of rows. Every
chunk comes from the same seeded stream: the chunk starting at row i is
`model.sample(size, seed=seed, start=i)`, so the same seed gives the same
file whatever the chunk size (and the same rows as one `sample(rows, seed)`). The file is written under a hidden temporary name and renamed into
place, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_CHUNK_ROWS = 100_000


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
) -> Path:
    """Write `rows` rows from `model.sample` to `path` (Parquet), `chunk_rows` at a time.

    The file holds rows `first_row .. first_row + rows` of the seed's stream
    (partitions of one dataset pass their offset). Each chunk is one Parquet row group. `on_chunk`, if given, sees every
    chunk before it is written (e.g. to check it), so nothing needs to read
    the file back.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
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
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return path
