"""Several pipelines at once: each worker process gets its share of the cores (flows/many.py)."""

import os

import pytest


@pytest.fixture()
def thread_calls(monkeypatch):
    import torch

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)  # never change this test process's threads
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return calls


def test_concurrent_pipelines_split_the_cores(thread_calls, monkeypatch):
    from flows.many import share_cores

    share_cores(2)
    share_cores(3)
    share_cores(40)  # more pipelines than cores: one thread each, never zero
    assert thread_calls == [8, 5, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # the user's explicit setting wins
    share_cores(2)
    assert thread_calls == [8, 5, 1]


def test_the_process_pool_runs_share_cores_in_every_worker(monkeypatch):
    import flows.many

    seen = {}

    class Capture:
        def with_options(self, task_runner):
            seen["runner"] = task_runner.duplicate()  # what the flow engine enters
            return lambda specs: []

    monkeypatch.setattr(flows.many, "run_pipelines", Capture())
    flows.many.run_concurrently([], jobs=3)
    runner = seen["runner"]
    assert runner._max_workers == 3 and runner._initializer is flows.many.share_cores and runner._initargs == (3,)
