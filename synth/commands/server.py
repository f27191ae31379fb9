"""`synth server`: a local Prefect server (UI and API) for `synth serve` and the run history."""

from __future__ import annotations

import argparse
import os


def register(commands) -> None:
    parser = commands.add_parser(
        "server",
        help="start a local Prefect server (API + UI) in the foreground",
        description="Run `prefect server start` with telemetry off. Then, in another shell: "
        "export PREFECT_API_URL=http://HOST:PORT/api and `synth serve SPEC`.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)


def execute(args: argparse.Namespace) -> int:
    import shutil
    import subprocess
    import sys

    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    prefect = shutil.which("prefect", path=os.path.dirname(sys.executable)) or "prefect"
    print(f"Prefect UI and API: http://{args.host}:{args.port}  (export PREFECT_API_URL=http://{args.host}:{args.port}/api)", flush=True)
    try:
        return subprocess.call([prefect, "server", "start", "--host", args.host, "--port", str(args.port)], env=env)
    except KeyboardInterrupt:
        return 0
