"""The shared resize helpers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.data.transforms import check_image_size, fit_square, resize_uint8
from gankit.errors import UserError


def test_resize_uint8_matches_float_reference():
    x = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for size in (14, 32, 64):
        y = resize_uint8(x, size)
        assert y.shape == (50, 1, size, size) and y.dtype == torch.uint8
        ref = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        assert (y.float() - ref.round().clamp(0, 255)).abs().max() <= 1
    assert resize_uint8(x, None) is x and resize_uint8(x, 28) is x


def test_check_image_size():
    assert check_image_size(None) is None and check_image_size(64) == 64
    for bad in (0, -3, 2.5, True, "64", 10**6):
        with pytest.raises(UserError, match="image size"):
            check_image_size(bad)


@pytest.mark.parametrize("w, h", [(30, 10), (10, 30), (8, 8), (3, 5), (1000, 999)])
def test_fit_square(w, h):
    out = fit_square(Image.new("RGB", (w, h), (1, 2, 3)), 8)
    assert out.size == (8, 8) and out.mode == "RGB" and out.getpixel((4, 4)) == (1, 2, 3)
