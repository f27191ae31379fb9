"""The hostile-input and fault corpus (issue 13): shared ways to run the CLI and judge its answer.

Every case asserts the same contract the README promises: the documented exit
code, one clear line on stderr naming what was wrong (file, key or column) and
how to fix it, never a traceback, and nothing published or left behind.

`cli` runs `synth.cli.main` in this process (fast: most hostile inputs fail
before any training); `synth_process` runs the real `synth` executable in a
subprocess, for signals, concurrency and anything that must see the process's
own stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

SYNTH = [sys.executable, "-m", "synth.cli"]


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def one_line_error(self, code: int, *must_name: str) -> str:
        """Assert exit `code`, exactly one non-empty stderr line, no traceback, and that it names each of
        `must_name`."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert self.code == code, f"exit {self.code}, expected {code}; stderr:\n{self.err}\nstdout:\n{self.out}"
        assert "Traceback" not in self.err, self.err
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{self.err}"
        for text in must_name:
            assert text in lines[0], f"{text!r} not named in: {lines[0]}"
        return lines[0]


@pytest.fixture()
def cli(capsys):
    """Run `synth ARGS...` in-process; returns an `Outcome`. An uncaught exception fails the test (= a traceback)."""
    from synth.cli import main

    def run(*argv: str | os.PathLike) -> Outcome:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


def synth_env(**extra: str) -> dict[str, str]:
    """The environment for a `synth` subprocess: this test session's settings plus `extra`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


@pytest.fixture()
def synth_process():
    """Run `synth ARGS...` as a subprocess to completion; returns an `Outcome`."""

    def run(*argv: str | os.PathLike, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> Outcome:
        done = subprocess.run([*SYNTH, *map(str, argv)], capture_output=True, text=True, cwd=cwd or ROOT,
                              env=env or synth_env(), timeout=timeout, stdin=subprocess.DEVNULL)
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run


#: Names of the work files and folders synth writes and must remove: catalog staging, prune's hidden
#: versions, LATEST/CURRENT temporaries, the root probe, and `synth generate`'s partial outputs.
WORK_PREFIXES = (".incoming-", ".pruning-", ".LATEST-", ".CURRENT-", ".probe-")


def leftovers(folder: Path) -> list[str]:
    """Everything under `folder` (and real-data evidence in the temp folder) that a finished run must not leave.

    Staging and partial files, anything inside the catalog's `.staging/` evidence area, and the
    `/tmp/synth-evidence-*` folders older code used. Checkpoints (`.runs/checkpoints/`) are not
    leftovers: an interrupted run keeps them for `--resume` on purpose.
    """
    import tempfile

    found = []
    if Path(folder).exists():
        found = [str(p.relative_to(folder)) for p in Path(folder).rglob("*")
                 if p.name.startswith(WORK_PREFIXES) or p.name.endswith(".partial") or ".staging" in p.parent.parts]
    found += [str(p) for p in Path(tempfile.gettempdir()).glob("synth-evidence-*")]
    return sorted(found)
