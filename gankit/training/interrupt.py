"""Ctrl-C or a terminate signal (SIGTERM: what kill, a batch scheduler's time limit and a
container's stop send) during training: finish the iteration, save, then stop."""

from __future__ import annotations

import signal
import sys
import threading

# the signals that stop a run gracefully; a second one of either interrupts at once
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_first: list[int] = []  # the first stop signal a handler of this process saw


def note(signum) -> None:
    """Remember `signum` if it is the first stop signal this process received: its exit code
    reports that one, whatever interrupted it in the end (a second signal, another handler)."""
    if not _first:
        _first.append(int(signum))


class DeferredInterrupt:
    """The first Ctrl-C (or SIGTERM) asks the loop to stop after the current iteration, so the
    checkpoint it then saves is a consistent state (D and G from the same step) and resume stays
    exact. A second one interrupts at once. `signum` is the signal that asked (None: none did)."""

    def __init__(self, together: bool = False, shown: bool = True):
        """together (torchrun): a signal only sets `asked`; the ranks agree on `requested`."""
        self.requested = self.asked = False
        self.signum = None
        self.together, self.shown = together, shown
        self._old = {}
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}

    def _handle(self, signum, frame):
        note(signum)
        if self.asked:
            raise KeyboardInterrupt
        self.asked, self.signum = True, signum
        self.requested = self.requested or not self.together
        if self.shown:
            what = "Ctrl-C again" if signum == signal.SIGINT else "a second signal"
            print(f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
                  f"({what} to abort)", file=sys.stderr, flush=True)

    def restore(self) -> None:
        for s, old in self._old.items():
            if old is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(s, old)
        self._old = {}


def exit_code(signum=None) -> int:
    """The exit code of a run a signal stopped: 128 + the signal's number (130 for Ctrl-C, 143 for
    SIGTERM), as a shell reports a process that signal ended. signum None: the first stop signal
    this process received (`note`), else SIGINT (Python's own Ctrl-C handler notes nothing)."""
    if signum is None:
        signum = _first[0] if _first else signal.SIGINT
    return 128 + int(signum)
