"""`synth server` (issue 13 item 16): the UI must call the API on the port the server was started on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from tests.conftest import ROOT
from tests.hostile.conftest import SYNTH, synth_env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    """Nothing listens on `port` (connections of ours closing on it, in TIME_WAIT, do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def test_the_ui_calls_the_api_on_the_given_port(tmp_path):
    port = _free_port()
    # a PREFECT_API_URL left exported from another server must not leak into this one's UI either
    env = synth_env(PREFECT_HOME=str(tmp_path / "home"), PREFECT_API_URL="http://127.0.0.1:4200/api")
    for name in ("PREFECT_UI_API_URL", "PREFECT_SERVER_UI_API_URL"):
        env.pop(name, None)
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([*SYNTH, "server", "--port", str(port)], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a busy 2-core machine: generous, never a skip
        while _get(f"http://127.0.0.1:{port}/api/health") is None:
            assert server.poll() is None, f"synth server exited with {server.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer on port {port}:\n{log.read_text()}"
            time.sleep(0.5)
        settings = _get(f"http://127.0.0.1:{port}/ui-settings")
        assert settings is not None and settings["api_url"] == f"http://127.0.0.1:{port}/api", settings
        assert f"export PREFECT_API_URL=http://127.0.0.1:{port}/api" in log.read_text()

        # SIGTERM to `synth server` alone stops Prefect's server too
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while not _port_free(port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _port_free(port), "Prefect's server outlived `synth server`"
    finally:
        try:
            os.killpg(server.pid, signal.SIGKILL)  # whatever is left of the group, if the test failed
        except OSError:
            pass
        server.wait()


def test_a_port_out_of_range_is_one_line(cli):
    cli("server", "--port", "70000").one_line_error(2, "--port", "70000")
