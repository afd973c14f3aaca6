"""training/interrupt.py: the first Ctrl-C or SIGTERM asks for a stop, a second interrupts, and
the exit code reports the first (128 + its number), as a shell reports a process a signal ended."""

import os
import signal

import pytest

from gankit.training import interrupt


@pytest.mark.parametrize("first, second, code", [(signal.SIGTERM, signal.SIGINT, 143),
                                                 (signal.SIGINT, signal.SIGTERM, 130)])
def test_a_second_signal_interrupts_and_the_exit_code_reports_the_first(first, second, code, monkeypatch, capsys):
    monkeypatch.setattr(interrupt, "_first", [])  # no signal this test process saw before
    assert interrupt.exit_code() == 130  # a KeyboardInterrupt no handler saw: Python's Ctrl-C
    stop = interrupt.DeferredInterrupt()
    try:
        os.kill(os.getpid(), first)
        assert stop.requested and stop.signum == first
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), second)
    finally:
        stop.restore()
    assert interrupt.exit_code() == code and interrupt.exit_code(signal.SIGINT) == 130
    assert signal.Signals(first).name in capsys.readouterr().err
