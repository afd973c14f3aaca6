"""Progress for long work outside the training loop (training the domain classifier, embedding a
reference set, k-means, drawing samples for an evaluation): on stderr, so that a user can tell
work from a hang, and only once the work has run for `delay` seconds, so quick calls stay quiet.

On a terminal: a bar with the rate and the time left. Elsewhere (logs, CI): a line when it starts
to show, then at most one every `every` seconds, each with the share done and an estimate of the
time left, and a last line with the time it took.
"""

from __future__ import annotations

import sys
import time
from typing import Optional

from tqdm import tqdm


class Work:
    def __init__(self, what: str, total: int, unit: str = "it", delay: float = 3.0, every: float = 20.0,
                 stream=None):
        self.what, self.total, self.unit = what, max(int(total), 1), unit
        self.delay, self.every = delay, every
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.perf_counter()
        self.done = 0
        self.printed: Optional[float] = None  # when the last plain line went out
        self.bar = tqdm(total=self.total, desc=what, unit=unit, delay=delay, leave=False, file=self.stream,
                        dynamic_ncols=True) if self.tty else None

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < self.delay or (self.printed is not None and now - self.printed < self.every):
            return
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        print(f"{self.what}: {self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%), "
              f"about {_duration(left)} left", file=self.stream, flush=True)
        self.printed = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.printed is not None:
            print(f"{self.what}: done in {_duration(time.perf_counter() - self.start)}", file=self.stream,
                  flush=True)

    def __enter__(self) -> "Work":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def say(line: str) -> None:
    """One line about work that is about to start, on stderr."""
    print(line, file=sys.stderr, flush=True)


def _duration(s: float) -> str:
    if s != s:  # nan: nothing done yet
        return "?"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
