"""bench/quality.py's training speed: images over time, not a mean of the logged rates."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from quality import training_rate  # noqa: E402


def test_the_rate_is_images_over_time():
    # 1,000 images at 100 img/s (10 s), then 1,000 at 1,000 img/s (1 s): 2,000 images in 11 s
    rows = [{"images": 1000, "img_per_s": 100.0}, {"images": 2000, "img_per_s": 1000.0}]
    assert training_rate(rows) == pytest.approx(2000 / 11)


def test_a_steady_run_keeps_its_rate_and_no_rows_give_nan():
    rows = [{"images": 500 * i, "img_per_s": 250.0} for i in range(1, 5)]
    assert training_rate(rows) == pytest.approx(250.0)
    assert math.isnan(training_rate([]))
