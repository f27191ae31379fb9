"""`synth server`: a local Prefect server (UI and API) for `synth serve` and the run history."""

from __future__ import annotations

import argparse
import os


def register(commands) -> None:
    parser = commands.add_parser(
        "server",
        help="start a local Prefect server (API + UI) in the foreground",
        description="Run `prefect server start` with telemetry off; its UI calls the API on this --host/--port "
        "(set PREFECT_UI_API_URL to override, e.g. behind a proxy). Then, in another shell: "
        "export PREFECT_API_URL=http://HOST:PORT/api and `synth serve SPEC`. Stop it with Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)


def execute(args: argparse.Namespace) -> int:
    import shutil
    import signal
    import subprocess
    import sys

    from synth.errors import SynthError

    if not 0 < args.port < 65536:
        raise SynthError(f"--port must be between 1 and 65535, got {args.port}")
    address = f"http://{_browser_host(args.host)}:{args.port}"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    # The UI finds the API through /ui-settings, which Prefect fills from PREFECT_UI_API_URL, else PREFECT_API_URL,
    # else its own host/port settings (not the --port it was started with): point it at this server, unless the
    # user set the UI's URL explicitly (e.g. behind a proxy).
    if not (env.get("PREFECT_SERVER_UI_API_URL") or env.get("PREFECT_UI_API_URL")):
        env["PREFECT_SERVER_UI_API_URL"] = f"{address}/api"
    prefect = shutil.which("prefect", path=os.path.dirname(sys.executable)) or "prefect"
    print(f"Prefect UI and API: {address}  (export PREFECT_API_URL={address}/api)", flush=True)
    server = subprocess.Popen([prefect, "server", "start", "--host", args.host, "--port", str(args.port)], env=env)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` stops the server too, not only Ctrl-C
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()  # Prefect shuts down cleanly on SIGTERM (Ctrl-C in a terminal reached it already)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _browser_host(host: str) -> str:
    """The host a browser should call: a wildcard bind address (all interfaces) is not one, this machine's name is."""
    import socket

    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host
