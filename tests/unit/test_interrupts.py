"""synth.interrupts outside `synth run` (a notebook, a script calling the flow): an interrupt is raised once."""

import os
import signal
import time

import pytest

from synth import interrupts


def test_an_interrupt_inside_deferred_is_raised_at_its_end_then_forgotten():
    finished = []
    with pytest.raises(interrupts.Interrupted) as raised:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # recorded, not raised: the block must not be cut in half
            finished.append(True)
    assert finished == [True] and raised.value.exit_code == 130
    interrupts.check()  # nothing pending: a later publish in the same process is not refused
    assert interrupts.received() is None


def test_inside_synth_run_the_interrupt_stays_pending_until_the_run_ends():
    previous = interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)
        with pytest.raises(interrupts.Interrupted):  # a retry that caught the first one still cannot commit
            interrupts.check()
    finally:
        interrupts.restore(previous)
    interrupts.check()
