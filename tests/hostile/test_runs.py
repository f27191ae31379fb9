"""Signals, kill -9, concurrency and leftovers of `synth run` (issue 13: items 2, 8, 13, 14).

Every run here is a real `synth` subprocess in its own process group, so a
signal reaches the whole group as Ctrl-C in a terminal does. A stage is
reached by waiting for the flow's own log line for it (Prefect logs to
stderr), never by a test-only switch in the code. All runs of the module
share one PREFECT_HOME, so they share one local Prefect server, which stops
itself `IDLE` seconds after the last run; the last test checks that.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from synth import catalog
from tests.conftest import ROOT
from tests.hostile.conftest import SYNTH, Outcome, leftovers, synth_env

SPEC = ROOT / "pipelines" / "adult_copula.yaml"
NAME = "adult_copula"
IDLE = "8"  # seconds the shared server outlives its last run (SYNTH_PREFECT_SERVER_IDLE)
RELAXED = [  # the copula on 300 rows cannot reach the default bars; these tests are about the run's machinery
    "rows=150", "target=null", "validation.min_quality=0", "validation.min_column_shapes=0",
    "validation.min_pair_trends=0", "validation.max_detection_auc=1.0", "validation.max_dcr_share=1.0",
    "validation.max_membership_auc=1.0", "validation.null_tolerance=1", "validation.max_exact_copy_rate=1.0",
]
INTERRUPTED = "synth run: interrupted (SIGINT); nothing was published"
PREFECT_LOG = re.compile(r"\d\d:\d\d:\d\d\.\d+ \| (DEBUG|INFO|WARNING|ERROR) ")


@pytest.fixture(scope="module")
def source(tmp_path_factory, adult) -> Path:
    path = tmp_path_factory.mktemp("runs-data") / "adult_300.data"
    adult.sample(300, random_state=3).to_csv(path, header=False, index=False, na_rep="?")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The module's PREFECT_HOME; any server still running at the end is stopped."""
    folder = tmp_path_factory.mktemp("runs-prefect-home")
    yield folder
    state = _server_state(folder)
    if state:
        try:
            os.killpg(int(state["token"].split(":")[0]), signal.SIGTERM)
        except OSError:
            pass


def _server_state(home: Path) -> dict | None:
    try:
        return json.loads((home / "synth-server" / "server.json").read_text())
    except (OSError, ValueError):
        return None


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = synth_env(**{"PREFECT_HOME": str(home), "SYNTH_PREFECT_SERVER_IDLE": IDLE, **extra})
    env.pop("PREFECT_API_URL", None)  # no server configured: the shared local one is used
    return env


class Run:
    """`synth run` of the tiny copula spec, started in its own process group."""

    def __init__(self, source: Path, root: Path, home: Path, tmp: Path, **env: str):
        sets = [a for value in [*RELAXED, f"source.path={source}", f"publish.root={root}"] for a in ("--set", value)]
        self.out_path = tmp / f"stdout-{time.monotonic_ns()}"
        with open(self.out_path, "w") as out:
            self.process = subprocess.Popen(
                [*SYNTH, "run", SPEC, *sets], cwd=ROOT, env=_env(home, **env), stdout=out, stderr=subprocess.PIPE,
                text=True, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.err: list[str] = []

    def wait_for(self, text: str) -> None:
        """Read stderr until a line contains `text` (the stage has been reached)."""
        for line in self.process.stderr:
            self.err.append(line)
            if text in line:
                return
        raise AssertionError(f"the run ended before {text!r}:\n{''.join(self.err)}")

    def signal_group(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def finish(self, timeout: float = 240) -> Outcome:
        self.err.append(self.process.stderr.read())
        code = self.process.wait(timeout=timeout)
        return Outcome(code, self.out_path.read_text(), "".join(self.err))


def _last_line(outcome: Outcome) -> str:
    """The last line on stderr that is not one of Prefect's timestamped progress log lines: synth's verdict."""
    assert "Traceback" not in outcome.err, outcome.err
    own = [line for line in outcome.err.splitlines() if line.strip() and not PREFECT_LOG.match(line)]
    assert len(own) == 1, f"expected one line of synth's own on stderr:\n{outcome.err}"
    return own[0]


def _nothing_published(root: Path) -> None:
    assert catalog.versions_of(root, NAME) == []
    assert not (root / NAME / catalog.LATEST).exists()
    assert leftovers(root) == []
    assert list((root / ".staging").glob("*")) == [] if (root / ".staging").exists() else True


def test_a_dead_server_in_the_state_file_is_replaced(source, home, tmp_path):
    """First in the module: its run starts the server the later runs share."""
    root = tmp_path / "published"
    state = home / "synth-server" / "server.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    previous = state.read_text() if state.exists() else None
    # a server that was killed with -9: its pid is gone and nothing listens on its port
    state.write_text(json.dumps({"token": "999999999:1", "url": "http://127.0.0.1:9/api", "started": 0}))
    outcome = Run(source, root, home, tmp_path).finish()
    assert outcome.code == 0, outcome.err
    assert _server_state(home)["url"] != "http://127.0.0.1:9/api"
    if previous:  # the live server that was forgotten: stop it (it has no lease and would stop after IDLE anyway)
        os.killpg(int(json.loads(previous)["token"].split(":")[0]), signal.SIGTERM)


@pytest.mark.parametrize("stage, line", [
    ("load", "Beginning flow run"), ("train", "Training gaussian_copula"), ("gate", "Sampled 150 synthetic rows"),
])
def test_sigint_before_publish_stops_and_publishes_nothing(stage, line, source, home, tmp_path):
    root = tmp_path / "published"
    run = Run(source, root, home, tmp_path)
    run.wait_for(line)
    run.signal_group(signal.SIGINT)
    sent = time.monotonic()
    outcome = run.finish()
    assert time.monotonic() - sent < 60, "the run did not stop within seconds of Ctrl-C"
    assert outcome.code == 130, outcome.err
    assert _last_line(outcome) == INTERRUPTED
    assert outcome.out == ""  # no "published" line
    _nothing_published(root)
    assert catalog.runs(NAME, root) == []  # an interrupted run is not a failed gate


def test_sigterm_exits_143_and_publishes_nothing(source, home, tmp_path):
    root = tmp_path / "published"
    run = Run(source, root, home, tmp_path)
    # the gate is the run's longest stage: a signal sent when it starts lands before the publish even when this
    # process is slow to read the log line (the copula's training can be over by then on a busy machine)
    run.wait_for("Sampled 150 synthetic rows")
    run.signal_group(signal.SIGTERM)
    outcome = run.finish()
    assert outcome.code == 143, outcome.err
    assert _last_line(outcome) == "synth run: interrupted (SIGTERM); nothing was published"
    _nothing_published(root)


def test_sigint_after_the_publish_commit_keeps_a_complete_version(source, home, tmp_path):
    root = tmp_path / "published"
    run = Run(source, root, home, tmp_path)
    run.wait_for("Published ")
    run.signal_group(signal.SIGINT)
    outcome = run.finish()
    # the signal may land while the flow is finishing or after it returned: either way the version is complete
    assert outcome.code in (0, 130), outcome.err
    if outcome.code == 130:
        assert _last_line(outcome) == f"synth run: interrupted (SIGINT); published {NAME} v1 to {root / NAME / 'v1'}"
    assert catalog.versions_of(root, NAME) == ["v1"] and catalog.latest_version(root, NAME) == "v1"
    assert catalog.load(NAME, root=root).shape == (150, 15)
    assert [r["version"] for r in catalog.runs(NAME, root)] == ["v1"]  # its runs-log line was written too
    assert leftovers(root) == [] and not (root / ".staging").exists()


def test_kill_9_leaves_staging_that_the_next_run_removes(source, home, tmp_path):
    root = tmp_path / "published"
    run = Run(source, root, home, tmp_path)
    run.wait_for("Sampled 150 synthetic rows")  # the gate's evidence is being staged
    staged = list((root / ".staging").glob(f"{NAME}-{run.process.pid}-*"))
    run.signal_group(signal.SIGKILL)
    assert run.finish().code == -signal.SIGKILL
    assert staged and all(p.is_dir() for p in staged)  # inside the catalog root, not in /tmp
    assert catalog.versions_of(root, NAME) == []

    outcome = Run(source, root, home, tmp_path).finish()  # the next run cleans up and publishes
    assert outcome.code == 0, outcome.err
    assert outcome.out.strip() == f"published {NAME} v1 to {root / NAME / 'v1'}"
    assert not any(p.exists() for p in staged)
    assert leftovers(root) == [] and not (root / ".staging").exists()


@pytest.mark.parametrize("line", ["Beginning flow run", "Training gaussian_copula", "Published "])
def test_kill_9_at_any_other_stage_then_the_next_run_publishes_cleanly(line, source, home, tmp_path):
    """kill -9 while loading, training, or just after the publish: never a partial version, and the next run is
    clean."""
    root = tmp_path / "published"
    run = Run(source, root, home, tmp_path)
    run.wait_for(line)
    run.signal_group(signal.SIGKILL)
    assert run.finish().code == -signal.SIGKILL
    before = catalog.versions_of(root, NAME)
    if line == "Published ":  # killed after the commit: the version is complete and LATEST points at it
        assert before == ["v1"] and catalog.latest_version(root, NAME) == "v1"
        assert catalog.load(NAME, root=root).shape == (150, 15)
    else:
        assert before == [] and not (root / NAME / catalog.LATEST).exists()

    outcome = Run(source, root, home, tmp_path).finish()
    assert outcome.code == 0, outcome.err
    version = f"v{len(before) + 1}"
    assert outcome.out.strip() == f"published {NAME} {version} to {root / NAME / version}"
    assert catalog.latest_version(root, NAME) == version
    assert leftovers(root) == [] and not (root / ".staging").exists()


def test_four_concurrent_runs_publish_distinct_versions(source, home, tmp_path):
    root = tmp_path / "published"
    runs = [Run(source, root, home, tmp_path) for _ in range(4)]
    outcomes = [run.finish(timeout=600) for run in runs]
    assert [o.code for o in outcomes] == [0, 0, 0, 0], "\n".join(o.err[-2000:] for o in outcomes)
    published = sorted(o.out.split()[2] for o in outcomes)
    assert published == ["v1", "v2", "v3", "v4"]
    assert catalog.versions_of(root, NAME) == ["v1", "v2", "v3", "v4"]
    assert catalog.latest_version(root, NAME) == "v4"
    assert len(catalog.runs(NAME, root)) == 4
    assert leftovers(root) == [] and not (root / ".staging").exists()
    assert len({_flow_server(o.err) for o in outcomes}) == 1  # one shared Prefect server, not four


def _flow_server(err: str) -> str:
    line = next(line for line in err.splitlines() if " - View at http://" in line)
    return line.split("View at ")[1].split("/runs/")[0]


def test_a_server_that_cannot_start_in_time_is_one_line_exit_3(source, tmp_path, synth_process):
    home = tmp_path / "prefect-home"
    root = tmp_path / "published"
    sets = [a for value in [*RELAXED, f"source.path={source}", f"publish.root={root}"] for a in ("--set", value)]
    outcome = synth_process("run", SPEC, *sets, env=_env(home, SYNTH_PREFECT_SERVER_WAIT="0.2"))
    outcome.one_line_error(3, "SYNTH_PREFECT_SERVER_WAIT", "did not answer within 0.2 s")
    assert _server_state(home) is None  # the half-started server was stopped, not left behind
    assert list((home / "synth-server" / "leases").iterdir()) == []
    _nothing_published(root)


def test_a_bad_server_setting_is_one_line(source, tmp_path, synth_process):
    sets = [a for value in [*RELAXED, f"source.path={source}", f"publish.root={tmp_path}"] for a in ("--set", value)]
    outcome = synth_process("run", SPEC, *sets, env=_env(tmp_path / "home", SYNTH_PREFECT_SERVER_IDLE="soon"))
    outcome.one_line_error(2, "SYNTH_PREFECT_SERVER_IDLE='soon'")


def test_the_server_outlives_killed_runs_only_by_the_idle_period(source, home, tmp_path):
    """Runs killed with -9 hold no lease: the shared server stops itself IDLE seconds later (no orphan)."""
    root = tmp_path / "published"
    run = Run(source, root, home, tmp_path)
    run.wait_for("Training gaussian_copula")
    server = _server_state(home)
    assert server is not None
    run.signal_group(signal.SIGKILL)
    run.finish()
    pid = int(server["token"].split(":")[0])
    deadline = time.monotonic() + float(IDLE) + 60  # the idle period, plus a busy machine's shutdown
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.5)
    assert not _alive(pid), "the shared Prefect server outlived its runs"
    assert _server_state(home) is None
    assert list((home / "synth-server" / "leases").iterdir()) == []


def _alive(pid: int) -> bool:
    from flows.local_server import token_alive

    return token_alive(f"{pid}:")


# -- the commit point, in-process: a signal inside the publish is deferred to it ---------------------------------------


def _publish_demo(root: Path, during=None):
    import pandas as pd

    from tests.unit.test_catalog import CARD, FakeModel

    class Model(FakeModel):
        def save(self, folder):  # `during` runs while the version is being written (before its commit)
            super().save(folder)
            if during:
                during()

    return catalog.publish(root, "demo", synthetic=pd.DataFrame({"a": [1, 2, 3]}), model=Model(), card=CARD,
                           validation={"gate": {"passed": True}})


def test_ctrl_c_while_a_version_is_written_publishes_nothing(tmp_path):
    from synth import interrupts

    try:
        with pytest.raises(interrupts.Interrupted):
            with interrupts.deferred():  # as the flows wrap their publish step
                _publish_demo(tmp_path, during=lambda: os.kill(os.getpid(), signal.SIGINT))
        assert catalog.versions_of(tmp_path, "demo") == []
        assert catalog.latest_version(tmp_path, "demo") is None
        assert leftovers(tmp_path) == []
    finally:
        interrupts.restore({})  # nothing pending for the rest of this test process


def test_ctrl_c_after_the_commit_lets_the_publish_finish(tmp_path):
    from synth import interrupts

    try:
        with pytest.raises(interrupts.Interrupted):
            with interrupts.deferred():
                folder = _publish_demo(tmp_path)
                os.kill(os.getpid(), signal.SIGINT)  # after the rename: recorded, raised once the block ends
                interrupts.committed(f"published demo {folder.name}")
        assert catalog.versions_of(tmp_path, "demo") == ["v1"] and catalog.latest_version(tmp_path, "demo") == "v1"
        assert interrupts.committed() == ["published demo v1"]
    finally:
        interrupts.restore({})


def test_no_publish_commits_after_an_interrupt_that_was_swallowed(tmp_path):
    from synth import interrupts

    previous = interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler raises here
        with pytest.raises(interrupts.Interrupted):  # e.g. a retry after something caught the first one
            _publish_demo(tmp_path)
        assert catalog.versions_of(tmp_path, "demo") == [] and leftovers(tmp_path) == []
    finally:
        interrupts.restore(previous)


def test_the_server_stops_when_its_state_folder_is_deleted(tmp_path):
    """A temporary PREFECT_HOME deleted under a running server (a finished test, a cleaned /tmp): no orphan."""
    import shutil

    from flows.local_server import shared_server

    folder = tmp_path / "synth-server"
    with shared_server(folder, wait=300, idle=600) as url:  # idle far longer than this test: not why it stops
        pid = int(json.loads((folder / "server.json").read_text())["token"].split(":")[0])
        assert url.startswith("http://127.0.0.1:") and _alive(pid)
    shutil.rmtree(folder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.5)
    assert not _alive(pid), "the server outlived its state folder"


# -- the shared server's state folder, unit-level: no server is started --------------------------------------------


def _sleeper() -> subprocess.Popen:
    """A live process standing in for a server that does not answer (its own session, as a server's)."""
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def _record_server(folder: Path, process: subprocess.Popen) -> None:
    from flows.local_server import process_token

    (folder / "leases").mkdir(parents=True, exist_ok=True)
    # nothing listens on port 9 on a test machine: every /health probe is refused at once
    state = {"token": process_token(process.pid), "url": "http://127.0.0.1:9/api"}
    (folder / "server.json").write_text(json.dumps(state))


def test_an_unanswering_server_that_other_runs_use_is_not_killed(tmp_path):
    from flows.local_server import ServerStartError, process_token, shared_server

    folder = tmp_path / "synth-server"
    server = _sleeper()
    try:
        _record_server(folder, server)
        (folder / "leases" / "other-run").write_text(process_token())  # a live run using the server
        with pytest.raises(ServerStartError, match=r"at http://127.0.0.1:9/api is not answering while 1 other run "):
            with shared_server(folder, wait=0.5, idle=60):
                pass
        assert server.poll() is None, "the server was killed under a run that uses it"
        assert _server_state(tmp_path)["token"] == process_token(server.pid)
        assert sorted(p.name for p in (folder / "leases").iterdir()) == ["other-run"]  # this run's lease is gone
    finally:
        server.kill()
        server.wait()


def test_an_unanswering_server_that_no_run_uses_is_stopped(tmp_path):
    from flows.local_server import _healthy_server

    folder = tmp_path / "synth-server"
    server = _sleeper()
    try:
        _record_server(folder, server)
        (folder / "leases" / "dead-run").write_text("999999999:")  # a run killed with -9: not a user
        lease = folder / "leases" / str(os.getpid())
        lease.write_text("this run")
        assert _healthy_server(folder, 0.5, lease) is None
        assert server.wait(timeout=10) == -signal.SIGKILL
        assert _server_state(tmp_path) is None
    finally:
        server.kill()
        server.wait()


def test_another_users_process_is_alive(monkeypatch):
    from flows import local_server

    def kill(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(local_server.os, "kill", kill)
    assert local_server.token_alive(local_server.process_token())
    monkeypatch.setattr(local_server, "_stat", lambda pid: None)  # /proc hides other users' processes
    assert local_server.token_alive(local_server.process_token())


def test_a_held_server_lock_times_out_with_one_line(tmp_path):
    import fcntl

    from flows.local_server import ServerStartError, _locked

    (tmp_path / "lock").touch()
    with open(tmp_path / "lock", "a") as holder:  # a run suspended with Ctrl-Z while holding the lock
        fcntl.flock(holder, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(ServerStartError, match=f"lock {re.escape(str(tmp_path / 'lock'))} has been held"):
            with _locked(tmp_path, timeout=0.5):
                pass
        assert time.monotonic() - started < 5
    with _locked(tmp_path, timeout=0.5):  # free again
        pass


class _FakeServer:
    should_exit = False


def _watch(folder: Path, idle: float) -> tuple[_FakeServer, threading.Thread]:
    from flows.local_server import _watch_leases, process_token

    server = _FakeServer()
    watcher = threading.Thread(target=_watch_leases, args=(server, folder, idle, process_token()), daemon=True)
    watcher.start()
    return server, watcher


def _stops(server: _FakeServer, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not server.should_exit:
        time.sleep(0.05)
    return server.should_exit


def test_the_idle_watcher_skips_a_held_lock_instead_of_blocking(tmp_path):
    import fcntl

    (tmp_path / "leases").mkdir()
    with open(tmp_path / "lock", "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        server, watcher = _watch(tmp_path, idle=0.4)
        time.sleep(1.0)  # idle has passed, but it cannot judge the leases without the lock
        assert not server.should_exit and watcher.is_alive()
    assert _stops(server, within=5)  # lock released: the next tick sees no lease and stops it
    watcher.join(5)
    assert not watcher.is_alive()


def test_the_idle_watcher_survives_an_unexpected_error(tmp_path, monkeypatch, capfd):
    from flows import local_server

    (tmp_path / "leases").mkdir()
    real, calls = local_server._live_leases, []

    def flaky(folder, besides=None):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("one bad tick")
        return real(folder, besides)

    monkeypatch.setattr(local_server, "_live_leases", flaky)
    server, watcher = _watch(tmp_path, idle=2.0)
    assert _stops(server, within=10)
    watcher.join(5)
    assert len(calls) > 1  # it went on after the error
    assert "one bad tick" in capfd.readouterr().err


def test_an_unusable_state_folder_is_one_line(tmp_path):
    from flows.local_server import ServerStartError, shared_server

    (tmp_path / "home").write_text("a file where PREFECT_HOME should be a folder")
    folder = tmp_path / "home" / "synth-server"
    with pytest.raises(ServerStartError, match=r"folder .*synth-server .*set PREFECT_HOME") as caught:
        with shared_server(folder, wait=1, idle=60):
            pass
    assert "\n" not in str(caught.value)


# -- the staging folder's redirect of tempfile ---------------------------------------------------------------------


def test_staging_restores_tempdir_only_while_it_is_its_own(tmp_path, monkeypatch):
    import tempfile

    from flows.staging import evidence_folder

    before = tmp_path / "before"
    before.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(before))
    with evidence_folder(tmp_path / "root", "one") as folder:
        assert tempfile.tempdir == str(folder / "tmp")
    assert tempfile.tempdir == str(before)  # the simple case: back to what it was

    # two pipelines in one process, the first ending first: neither leaves tempdir at a deleted folder
    outer, inner = evidence_folder(tmp_path / "root", "outer"), evidence_folder(tmp_path / "root", "inner")
    outer.__enter__()
    inner_folder = inner.__enter__()
    outer.__exit__(None, None, None)
    assert tempfile.tempdir == str(inner_folder / "tmp")  # not taken from under the running one
    inner.__exit__(None, None, None)
    assert tempfile.tempdir is None  # its previous value, outer's folder, is gone: the default
