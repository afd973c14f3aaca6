"""Progress of long work: quiet when quick, lines with an estimate when slow, a bar on a terminal."""

import io

from gankit import progress
from gankit.progress import Work


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_quick_work_prints_nothing():
    out = io.StringIO()
    with Work("embedding 10 images", 10, "img", stream=out) as w:
        for _ in range(10):
            w.update()
    assert out.getvalue() == ""


def test_slow_work_says_how_far_it_is_and_how_long_is_left(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    out = io.StringIO()
    w = Work("training the mnist classifier", 100, "step", delay=3, every=20, stream=out)
    for i in range(100):
        clock.t += 1.0  # a second a step
        w.update()
    w.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "training the mnist classifier: 3/100 step (3%), about 1.6 min left"
    assert lines[1] == "training the mnist classifier: 23/100 step (23%), about 77 s left"
    assert len(lines) == 6  # steps 3, 23, 43, 63, 83, then the end
    assert lines[-1] == "training the mnist classifier: done in 1.7 min"
