"""Streaming large outputs to Parquet in chunks."""

import pandas as pd
import pytest

from synth.models import build_generator
from synth.sampling import sample_to_parquet
from tests.conftest import mixed_table


@pytest.fixture(scope="module")
def model():
    return build_generator("gaussian_copula", {}, device="cpu", seed=0).fit(mixed_table(300))


def test_chunks_stream_into_one_file_reproducibly(model, tmp_path):
    first = sample_to_parquet(model, tmp_path / "a.parquet", 2_500, seed=5, chunk_rows=1_000, progress=False)
    again = sample_to_parquet(model, tmp_path / "b.parquet", 2_500, seed=5, chunk_rows=1_000, progress=False)
    a, b = pd.read_parquet(first), pd.read_parquet(again)
    assert len(a) == 2_500
    pd.testing.assert_frame_equal(a, b)
    # one seeded stream: the file holds the rows of one sample(2500, seed=5), whatever the chunk size
    whole = model.sample(2_500, seed=5)
    pd.testing.assert_frame_equal(a, whole, check_dtype=False)
    other = pd.read_parquet(sample_to_parquet(model, tmp_path / "c.parquet", 2_500, seed=5, chunk_rows=700,
                                              progress=False))
    pd.testing.assert_frame_equal(a, other)
    # dtypes survive the trip: ints stay ints, nullable ints keep their nulls
    assert str(a["age"].dtype) == "int64" and a["children"].isna().any() and a["joined"].dtype.kind == "M"


def test_a_failure_leaves_no_file(model, tmp_path):
    class Breaks:
        def sample(self, n, conditions=None, seed=None, start=0):
            if start > 0:
                raise RuntimeError("disk on fire")
            return model.sample(n, seed=seed, start=start)

    with pytest.raises(RuntimeError):
        sample_to_parquet(Breaks(), tmp_path / "out.parquet", 300, seed=0, chunk_rows=100, progress=False)
    assert list(tmp_path.iterdir()) == []
