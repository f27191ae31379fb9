"""Shared fixtures. Prefect gets a throw-away home and one test server per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before anything imports Prefect: no telemetry, no downloads, a private home.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="synth-test-prefect-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("SYNTH_DEVICE", "cpu")

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
]


#: Hostile-input files whose cases run whole `synth` processes (signals, concurrency, the shared Prefect
#: server, resumed training, gate memory in a child process): with tests/integration, the `slow` tier.
SLOW_HOSTILE_FILES = {"test_runs.py", "test_server.py", "test_resume.py", "test_gate_limits.py"}


#: Files whose tests run the whole statistical gate, train private or several models, or fit a model per case
#: (measured with `pytest -m "not slow" --durations=40`, 2026-12-02: together about 2 of the fast tier's 3
#: minutes); they join the `slow` tier so `make test-fast` stays under 2 minutes. `make test` runs them all.
SLOW_FILES = {
    ("unit", "test_gate.py"), ("unit", "test_validate_cli.py"), ("unit", "test_images_gate.py"),
    ("unit", "test_privacy.py"), ("unit", "test_resume.py"), ("unit", "test_columns.py"),
    ("unit", "test_generators_with_rules.py"), ("hostile", "test_models.py"),
}
#: Single tests of the same weight in otherwise quick files: `synth init` on the 100,000-row shared table.
SLOW_TESTS = {"test_init_diabetes"}


def pytest_collection_modifyitems(config, items):
    """Whole pipelines, whole-process fault cases and the heaviest unit files are the `slow` tier: `make test-fast`
    runs everything else."""
    for item in items:
        parts = item.path.parts
        folder = parts[-2] if len(parts) > 1 else ""
        if ("integration" in parts or ("hostile" in parts and item.path.name in SLOW_HOSTILE_FILES)
                or (folder, item.path.name) in SLOW_FILES or item.originalname in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server (and database) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    """The bundled raw UCI Adult training split, loaded as the demo spec loads it."""
    from synth.data import load_table
    from synth.spec import load_spec

    return load_table(load_spec(ROOT / "pipelines" / "adult_ctgan.yaml").source)


@pytest.fixture()
def adult_sample_csv(tmp_path, adult) -> Path:
    """1,500 Adult rows written back in UCI's raw form (no header, ', ', '?')."""
    path = tmp_path / "adult_sample.data"
    adult.sample(1500, random_state=1).to_csv(path, header=False, index=False, sep=",", na_rep="?")
    return path


#: Each tabular generator at a size that fits in seconds: the tests' shared hyperparameters.
TINY = {
    "ctgan": {"epochs": 2, "batch_size": 100, "generator_dim": (32,), "discriminator_dim": (32,), "embedding_dim": 16},
    "tvae": {"epochs": 2, "batch_size": 100, "compress_dims": (32,), "decompress_dims": (32,), "embedding_dim": 16},
    "tab_ddpm": {"steps": 8, "batch_size": 100, "hidden_dims": (32, 32), "sampling_steps": 5},
    "gaussian_copula": {},
}
#: The same for one epoch.
TINY_ONE_EPOCH = {kind: {**hyper, "epochs": 1} if "epochs" in hyper else hyper for kind, hyper in TINY.items()}


def mixed_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small table with every column type the generators must round-trip."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ints = rng.integers(18, 90, n)
    nullable = pd.array(rng.integers(0, 5, n), dtype="Int64")
    nullable[rng.random(n) < 0.2] = pd.NA
    floats = np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n))
    category = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]).astype(object)
    category[rng.random(n) < 0.15] = None
    return pd.DataFrame(
        {
            "age": ints,
            "children": nullable,
            "score": floats,
            "group": category,
            "member": rng.random(n) < 0.3,
            "joined": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
            "label": rng.choice(["yes", "no"], n),
        }
    )
