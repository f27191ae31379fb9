"""A scheduled interval run, end to end, against a real local Prefect server.

Starts `prefect server start` (its own home and SQLite database), serves a
tiny copula pipeline with `synth serve` on a 10-second interval, and waits
until the scheduler's run has published a version. Everything is torn down
afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture()
def prefect_server_process(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
        "PREFECT_API_URL": "",
    }
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            _get(f"{api}/health")
            break
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.5)
    else:
        server.poll()
    try:
        _get(f"{api}/health")
    except OSError:
        _stop(server)
        pytest.skip(f"a local Prefect server did not start in 90 s; see {tmp_path / 'server.log'}")
    yield api, env
    _stop(server)
    log.close()


def test_an_interval_schedule_publishes(prefect_server_process, tmp_path, adult_sample_csv):
    api, env = prefect_server_process
    root = tmp_path / "published"
    sets = [
        f"source.path={adult_sample_csv}", f"publish.root={root}", "name=nightly_adult",
        "generator={kind: gaussian_copula}", "schedule={interval: 10}",
        # the copula is the fastest generator; it does not reach the default detection and utility bars
        "validation.max_detection_auc=1.0", "validation.min_utility_ratio=0", "validation.min_rare_class_f1_ratio=0",
        "validation.max_target_share_ratio=1000", "validation.null_tolerance=0.2",
        "validation.min_pair_trends=0.5",
    ]
    args = [str(BIN / "synth"), "serve", str(ROOT / "pipelines" / "adult_ctgan.yaml")]
    for item in sets:
        args += ["--set", item]
    serve_env = {**env, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1", "SYNTH_DEVICE": "cpu"}
    log = open(tmp_path / "serve.log", "w")
    served = subprocess.Popen(args, cwd=ROOT, env=serve_env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    def completed_runs() -> list[dict]:
        runs = _get(f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}})
        return [r for r in runs if r["deployment_id"] and r["auto_scheduled"]]

    try:
        # the version appears a moment before the run reports Completed: wait for both
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not ((root / "nightly_adult" / "LATEST").is_file() and completed_runs()):
            assert served.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(1)
        assert (root / "nightly_adult" / "LATEST").is_file(), (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        _stop(served)
        log.close()

    card = json.loads((root / "nightly_adult" / "v1" / "card.json").read_text())
    assert card["gate"]["passed"] and card["generator"]["kind"] == "gaussian_copula"
    # the run came from the deployment's schedule, and it left its gate artifact in Prefect
    deployments = _get(f"{api}/deployments/filter", {})
    assert [d["name"] for d in deployments] == ["nightly_adult"]
    assert deployments[0]["schedules"][0]["schedule"]["interval"] == 10.0
    runs = completed_runs()
    assert runs and all(r["deployment_id"] == deployments[0]["id"] for r in runs)
    artifacts = _get(f"{api}/artifacts/filter", {"artifacts": {"key": {"any_": ["nightly-adult-gate"]}}})
    assert artifacts and "gate passed" in artifacts[0]["data"] and "report.html" in artifacts[0]["data"]
    # the catalog's runs log names the Prefect flow run that published v1
    from synth import catalog

    first = next(e for e in catalog.runs("nightly_adult", root) if e["version"] == "v1")
    assert first["passed"] and first["flow_run_id"] in {r["id"] for r in runs}
