"""Ctrl-C and SIGTERM for long runs: stop within seconds, never half-publish.

`synth run` runs inside `handled()` (its worker processes call `install()`).
There SIGINT and SIGTERM raise `Interrupted` (a `KeyboardInterrupt`, so
every `except Exception` in the pipeline, Prefect's task engine included,
lets it through) and are remembered until the run ends. Two places use
that memory:

- `deferred()` wraps a step that must finish or not happen at all (the
  publish and its runs-log line): a signal inside it is only recorded, and
  raised when the block ends;
- `check()` raises if a signal was ever received; `catalog.publish` calls it
  right before its final rename (the commit point), so a publish can never
  start its commit after an interrupt, even one that something swallowed.

Nothing here imports Prefect; outside `synth run` (a notebook, the tests) no
handler is installed and `check()` raises only for a signal that came inside
a `deferred()` block.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The exit code for each signal: 128 + its number, as a shell reports it.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

_received: list[int] = []  # signal numbers, in order; the first decides the exit code
_committed: list[str] = []  # what the run made permanent ("published adult v3 to ..."), for the interrupt message
_installed = 0  # how many `install()`s are active: outside any, a signal `deferred()` recorded is forgotten once raised


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when the run receives SIGINT or SIGTERM."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 130)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def _raise(signum, frame) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def _record(signum, frame) -> None:
    _received.append(signum)


def install() -> dict:
    """SIGINT and SIGTERM raise `Interrupted` from now on (main thread only; elsewhere a no-op).

    Returns the previous handlers, for `restore`.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    global _installed
    _received.clear()  # a new run in this process (the tests call the CLI in-process)
    _committed.clear()
    _installed += 1
    return {signum: signal.signal(signum, _raise) for signum in EXIT_CODES}


def restore(previous: dict) -> None:
    """Put back the handlers `install()` replaced; the run's interrupt is reported, no longer pending."""
    global _installed
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    if previous:
        _installed = max(0, _installed - 1)
    _received.clear()


@contextmanager
def handled() -> Iterator[None]:
    """`install()` for the block, the previous handlers after it (a CLI call inside a longer-lived process)."""
    previous = install()
    try:
        yield
    finally:
        restore(previous)


def received() -> int | None:
    """The first signal this process received since `install()`, or None."""
    return _received[0] if _received else None


def committed(what: str | None = None) -> list[str]:
    """Note that the run has made `what` permanent (a publish); returns everything noted since `install()`."""
    if what is not None:
        _committed.append(what)
    return list(_committed)


def check() -> None:
    """Raise `Interrupted` if the process has been interrupted (call before a commit point)."""
    if _received:
        raise Interrupted(_received[0])


@contextmanager
def deferred() -> Iterator[None]:
    """Run a block that must not be cut in half: signals inside it are recorded and raised at its end.

    `check()` inside the block still raises for a signal that came before
    the commit point, so "interrupted before the rename" publishes nothing
    and "interrupted after it" finishes the publish (and LATEST) first.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _record) for signum in EXIT_CODES}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    try:
        check()
    finally:
        if not _installed:  # a notebook or script, not `synth run`: this interrupt is reported now, not pending for
            _received.clear()  # every later publish in the process

