"""One local Prefect server shared by every `synth run` of this user, started on demand.

Prefect's own answer to "no PREFECT_API_URL" is a temporary server per
process: 12-20 s of start-up per run on a busy 2-core machine, against a
20 s timeout, in the run's own process group (so Ctrl-C in the terminal
killed it under a flow that carried on). Instead:

- The first run that needs a server starts one, under an `fcntl` lock in
  `<PREFECT_HOME>/synth-server/`: a separate process in its own session
  (Ctrl-C in the run's terminal does not reach it), with its own SQLite
  database there, listening on a free 127.0.0.1 port that the run binds and
  hands over (no race for the port). The run waits for `/api/health` for up
  to `SYNTH_PREFECT_SERVER_WAIT` seconds (default 120) and records the URL
  in `server.json`.
- Every run takes a lease (a file named by its pid, holding the process's
  identity) for as long as it runs, and points PREFECT_API_URL at the
  server for itself and its child processes.
- The server watches the leases and stops itself once no live lease has
  remained for `SYNTH_PREFECT_SERVER_IDLE` seconds (default 120), so runs
  that were killed with -9 leave no server behind for longer than that.
- A server recorded in `server.json` that is dead, or alive but not
  answering within the wait, is replaced by the next run; one that is not
  answering while other runs hold live leases is left to them (the new run
  fails with one line instead of killing it under them).

Everything that reads or changes `server.json` or the leases holds the lock,
so concurrent runs share one server safely; a run waits for the lock at
most twice the wait plus 10 s (a run suspended with Ctrl-Z while holding it
blocks no one forever), and the server's idle watcher never waits for it.
A user who sets PREFECT_API_URL (e.g. to `synth server`) gets exactly that
server; nothing is started.

`python -m flows.local_server STATE_DIR FD IDLE` is the server process.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STATE = "server.json"
LEASES = "leases"
LOG = "server.log"


class ServerStartError(RuntimeError):
    """The shared local Prefect server could not be started (one line, for the CLI)."""


# -- process identity: a pid plus its start time, so a reused pid is not mistaken for a live run ---------------------


def process_token(pid: int | None = None) -> str:
    """`PID:START` for a process (START from /proc; empty where there is no /proc)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid) or ''}"


def token_alive(token: str) -> bool:
    """Is the process named by `process_token()` still running (and not a zombie)?"""
    pid_text, _, start = token.strip().partition(":")
    foreign = False
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # the process exists, but is another user's
        foreign = True
    stat = _stat(pid)
    if stat is None:  # no /proc (or not readable for another user's process): kill(0) is all we can know
        return foreign or not Path("/proc").is_dir()
    return stat[0] != "Z" and (not start or stat[19] == start)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _start_time(pid: int) -> str | None:
    stat = _stat(pid)
    return stat[19] if stat else None


# -- the client side: `synth run` ------------------------------------------------------------------------------------


def state_folder() -> Path:
    """`<PREFECT_HOME>/synth-server`: per user (and per PREFECT_HOME, so tests get their own)."""
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser() / "synth-server"


@contextmanager
def prefect_api(wait: float, idle: float) -> Iterator[str | None]:
    """Make sure this process talks to a Prefect API for the duration of the block; yields its URL.

    With PREFECT_API_URL set, that server is used as it is. Otherwise the
    shared local server (started if needed) is leased for the block, and
    PREFECT_API_URL points at it in this process and in its children.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    from prefect.context import refresh_global_settings_context

    with shared_server(state_folder(), wait, idle) as url:
        before = os.environ.get("PREFECT_API_URL")
        # the environment for child processes (--jobs, Dask workers), the global settings for Prefect's own
        # background threads (which do not see this thread's settings context), and this thread's context
        os.environ["PREFECT_API_URL"] = url
        refresh_global_settings_context()
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):
                yield url
        finally:
            if before is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = before
            refresh_global_settings_context()


@contextmanager
def shared_server(folder: Path, wait: float, idle: float) -> Iterator[str]:
    """Lease the shared server in `folder` (starting it if none answers) for the block; yields its API URL."""
    lease = folder / LEASES / str(os.getpid())
    try:
        (folder / LEASES).mkdir(parents=True, exist_ok=True)
        # another run holds the lock for at most its health wait plus its start wait
        with _locked(folder, timeout=2 * wait + 10):
            # the lease first: a server starting now, or one about to go idle, sees it under the same lock
            lease.write_text(process_token())
            try:
                url = _healthy_server(folder, wait, lease) or _start_server(folder, wait, idle)
            except BaseException:
                try:
                    lease.unlink(missing_ok=True)
                except OSError:
                    pass
                raise
    except OSError as error:
        raise ServerStartError(
            f"cannot use the local Prefect server's folder {folder} ({error.strerror or error}); set PREFECT_HOME "
            "to a writable folder, or point PREFECT_API_URL at a running server (synth server)") from None
    try:
        yield url
    finally:
        lease.unlink(missing_ok=True)


class LockBusy(ServerStartError):
    """The state folder's lock was not free within the time allowed."""


@contextmanager
def _locked(folder: Path, timeout: float) -> Iterator[None]:
    """Hold the state folder's lock for the block; `LockBusy` if it is not free within `timeout` seconds
    (0: one attempt), so a run suspended with Ctrl-Z while holding it cannot block every other run forever."""
    path = folder / "lock"
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        f"the local Prefect server's lock {path} has been held by another synth run for over "
                        f"{timeout:g} s (one suspended with Ctrl-Z?); resume or stop that run, or set "
                        "SYNTH_PREFECT_SERVER_WAIT higher") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state(folder: Path) -> dict | None:
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and {"token", "url"} <= set(state) else None


def _healthy(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _healthy_server(folder: Path, wait: float, lease: Path) -> str | None:
    """The recorded server's URL if it answers; a dead one is forgotten, an unanswering one stopped and forgotten.

    An unanswering server that other runs (live leases besides this run's `lease`) are using is left alone:
    `ServerStartError` instead of killing it under them.
    """
    state = _read_state(folder)
    if state is None:
        return None
    deadline = time.monotonic() + wait
    while token_alive(state["token"]):
        if _healthy(state["url"]):
            return state["url"]
        if time.monotonic() > deadline:
            others = _live_leases(folder, besides=lease)
            if others:
                raise ServerStartError(
                    f"the shared local Prefect server at {state['url']} is not answering while {others} other "
                    f"run{'s' if others > 1 else ''} use it; wait for them, or set SYNTH_PREFECT_SERVER_WAIT higher "
                    f"than {wait:g} s")
            _stop(state["token"])
            break
        time.sleep(0.5)
    (folder / STATE).unlink(missing_ok=True)
    return None


def _stop(token: str) -> None:
    """Kill a server process (a session leader, so its whole group) that stopped answering."""
    pid = int(token.partition(":")[0])
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _start_server(folder: Path, wait: float, idle: float) -> str:
    # the run binds the port and hands the socket over: no other process can take it in between
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_URL")}
    env.update({
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{folder.resolve() / 'server.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT__SERVER_EPHEMERAL": "1",  # as Prefect's own temporary server: no UI, only the services runs need
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")])),
    })
    log_path = folder / LOG
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.local_server", str(folder), str(listener.fileno()), str(idle)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            pass_fds=(listener.fileno(),), start_new_session=True,  # its own session: Ctrl-C here does not reach it
        )
    listener.close()
    token = process_token(process.pid)
    (folder / STATE).write_text(json.dumps({"token": token, "url": url, "started": time.time()}))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            (folder / STATE).unlink(missing_ok=True)
            raise ServerStartError(
                f"the local Prefect server exited during start-up (exit {process.returncode}); its log is {log_path}; "
                "or point PREFECT_API_URL at a running server (synth server)")
        if _healthy(url, timeout=2.0):
            return url
        time.sleep(0.25)
    _stop(token)
    (folder / STATE).unlink(missing_ok=True)
    raise ServerStartError(
        f"the local Prefect server did not answer within {wait:g} s (SYNTH_PREFECT_SERVER_WAIT); the machine may be "
        f"busy: set SYNTH_PREFECT_SERVER_WAIT=300, or point PREFECT_API_URL at a running server (synth server); "
        f"its log is {log_path}")


# -- the server side ---------------------------------------------------------------------------------------------------


def _live_leases(folder: Path, besides: Path | None = None) -> int:
    """Live leases (other than `besides`); the files of dead runs (killed with -9) are removed. Call under the lock."""
    live = 0
    for lease in (folder / LEASES).glob("*"):
        if lease == besides:
            continue
        try:
            token = lease.read_text()
        except OSError:
            continue
        if token_alive(token):
            live += 1
        else:
            lease.unlink(missing_ok=True)
    return live


def _watch_leases(server, folder: Path, idle: float, me: str) -> None:
    """Stop the server once no live lease has been held for `idle` seconds.

    If the state folder itself is gone or broken (a temporary PREFECT_HOME
    was deleted), no run can find or lease this server any more: stop too.
    A busy lock skips a tick (never waits); an unexpected error in a tick is
    logged and the next tick tries again, but if no tick has succeeded for
    `idle` seconds the server stops rather than run on unwatched.
    """
    last_busy = last_ok = time.monotonic()
    while not server.should_exit:
        time.sleep(min(1.0, idle / 4))
        try:
            with _locked(folder, timeout=0):
                if _live_leases(folder):
                    last_busy = time.monotonic()
                elif time.monotonic() - last_busy >= idle:
                    state = _read_state(folder)
                    if state and state["token"] == me:  # forget it first: no run can lease a server on its way out
                        (folder / STATE).unlink(missing_ok=True)
                    server.should_exit = True
            last_ok = time.monotonic()
        except LockBusy:  # a run is starting or checking the server: judge on the next tick
            continue
        except OSError:
            server.should_exit = True
        except Exception:
            traceback.print_exc()
            if time.monotonic() - last_ok >= idle:
                print("synth: the lease watcher keeps failing; stopping the server", file=sys.stderr, flush=True)
                server.should_exit = True


def serve(folder: Path, fd: int, idle: float) -> None:
    """The server process: Prefect's API app (as its temporary server builds it) under uvicorn, on socket `fd`."""
    import uvicorn
    from prefect.server.api.server import create_app

    listener = socket.socket(fileno=fd)
    server = uvicorn.Server(uvicorn.Config(create_app(ephemeral=True, final=True), log_level="error", lifespan="on"))
    watcher = threading.Thread(target=_watch_leases, args=(server, folder, idle, process_token()), daemon=True)
    watcher.start()
    server.run(sockets=[listener])
    try:
        with _locked(folder, timeout=10):  # stopped otherwise (a signal): forget it unless a successor took over
            state = _read_state(folder)
            if state and state["token"] == process_token():
                (folder / STATE).unlink(missing_ok=True)
    except (OSError, LockBusy):  # the state folder is gone, or the lock stays busy: runs forget a dead server anyway
        pass


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
