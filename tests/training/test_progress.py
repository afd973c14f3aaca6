"""The progress line shows losses, img/s, the epoch and, under a time budget, the time left."""

import math

from gankit.training.loop import BatchSampler, Budget
from gankit.training.progress import Progress


def test_progress_line_without_a_terminal(capsys):
    p = Progress(Budget(math.inf, None, 5.0), 0, BatchSampler(100, 10, 0).per_epoch)
    p.update(10, {"d_loss": 1.0, "g_loss": 2.0, "img_per_s": 100.0, "epoch": 0.5, "time_s": 61.0})
    p.close()
    assert capsys.readouterr().out.strip() == "step 10 d_loss=1.000 g_loss=2.000 100 img/s epoch 0.50 3:59 left"
