"""Ctrl-C during training: finish the iteration, save, then stop."""

from __future__ import annotations

import signal
import sys
import threading


class DeferredInterrupt:
    """The first Ctrl-C asks the loop to stop after the current iteration, so the checkpoint it
    then saves is a consistent state (D and G from the same step) and resume stays exact. A second
    Ctrl-C interrupts at once."""

    def __init__(self, together: bool = False, shown: bool = True):
        """together (torchrun): Ctrl-C only sets `asked`; the ranks agree on `requested`."""
        self.requested = self.asked = False
        self.together, self.shown = together, shown
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        self.requested = self.requested or not self.together
        if self.shown:
            print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)",
                  file=sys.stderr, flush=True)

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
