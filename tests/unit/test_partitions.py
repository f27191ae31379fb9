"""The gate's sample of a partitioned output: the stated size, from every part, no row twice."""

import numpy as np
import pandas as pd


def test_read_sample_takes_exactly_the_stated_rows_from_every_part(tmp_path):
    from flows.partitions import read_sample

    for k, n in enumerate([20000, 20000, 20000, 7]):  # row groups of 3,000: 7 per large part
        part = pd.DataFrame({"a": np.arange(n) + k * 100_000})
        part.to_parquet(tmp_path / f"part-{k:05d}.parquet", row_group_size=3000)
    sample = read_sample(tmp_path, 20000, seed=0)
    assert len(sample) == 20000 and sample["a"].is_unique
    assert (sample["a"] // 100_000).value_counts().sort_index().tolist() == [6666, 6666, 6666, 2]
    pd.testing.assert_frame_equal(sample, read_sample(tmp_path, 20000, seed=0))  # seeded
    assert len(read_sample(tmp_path, 10**6, seed=0)) == 60007  # asking for more than there is: all of it
