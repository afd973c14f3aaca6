"""The folder loader, on PNG/JPEG files made here with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data import DataSpec, load_dataset
from gankit.errors import UserError
from tests.helpers import labelled_folder


def save(path: Path, size=(20, 12), mode="RGB", value=None, fmt=None) -> Path:
    """An image of `size` (w, h) filled with `value` (default: a gradient) saved at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    if value is None:
        grad = np.add.outer(np.arange(h), np.arange(w)).astype(np.uint8) * 5
        arr = grad if mode == "L" else np.stack([grad, 255 - grad, grad // 2], axis=-1)
        img = Image.fromarray(arr, "L" if mode == "L" else "RGB").convert(mode)
    else:
        img = Image.new(mode, size, value)
    img.save(path, format=fmt)
    return path


def load(folder: Path, **kw):
    return load_dataset("folder", DataSpec(data_dir=folder, **kw))


def test_class_subfolders(tmp_path):
    for cls, n in (("cats", 3), ("dogs", 2)):
        for i in range(n):
            save(tmp_path / cls / f"{i}.png")
    save(tmp_path / "dogs" / "more" / "deep.jpg")  # class folders are searched recursively
    (tmp_path / "empty_class").mkdir()  # no images: not a class
    ds = load(tmp_path, image_size=16)
    assert ds.class_names == ["cats", "dogs"] and ds.num_classes == 2
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.x.shape == (6, 3, 16, 16) and ds.x.dtype == torch.uint8
    assert ds.source == str(tmp_path) and ds.conditional


def test_unlabelled_root_images_default_size(tmp_path):
    save(tmp_path / "a.png", size=(100, 80))
    save(tmp_path / "b.jpg", size=(30, 90))
    ds = load(tmp_path)
    assert ds.labels is None and ds.num_classes == 0 and ds.class_names == []
    assert ds.x.shape == (2, 3, 64, 64)


def test_grey_rgb_and_forced_channels(tmp_path):
    save(tmp_path / "g" / "a.png", mode="L")
    save(tmp_path / "g" / "b.bmp", mode="1", value=1)
    assert load(tmp_path / "g", image_size=8).x.shape == (2, 1, 8, 8)
    assert load(tmp_path / "g", image_size=8, channels=3).x.shape == (2, 3, 8, 8)
    save(tmp_path / "g" / "c.jpg", mode="RGB")  # one colour image makes the whole set RGB
    rgb = load(tmp_path / "g", image_size=8)
    assert rgb.x.shape == (3, 3, 8, 8)
    # a grey image stays grey in RGB: all channels equal
    assert torch.equal(rgb.x[0, 0], rgb.x[0, 1]) and torch.equal(rgb.x[0, 1], rgb.x[0, 2])
    assert load(tmp_path / "g", image_size=8, channels=1).x.shape == (3, 1, 8, 8)
    with pytest.raises(UserError, match="channels must be 1"):
        load(tmp_path / "g", channels=4)


def test_values_and_centre_crop(tmp_path):
    # a 30x10 image: left and right thirds black, the centre white -> the square crop is white
    arr = np.zeros((10, 30), np.uint8)
    arr[:, 10:20] = 255
    Image.fromarray(arr, "L").save(tmp_path / "a.png")
    ds = load(tmp_path, image_size=10)
    assert ds.x.shape == (1, 1, 10, 10) and int(ds.x.min()) == 255
    save(tmp_path / "b.png", mode="RGB", size=(10, 10), value=(200, 10, 30))
    ds = load(tmp_path, image_size=10)
    assert ds.x[1, :, 5, 5].tolist() == [200, 10, 30]


def test_sixteen_bit_grey_is_rescaled(tmp_path):
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(tmp_path / "a.png")
    ds = load(tmp_path, image_size=8)
    assert ds.x.shape == (1, 1, 8, 8) and int(ds.x.min()) == 255
    Image.fromarray(np.full((8, 8), 2570, np.uint16)).save(tmp_path / "b.png")  # dark in 16 bits: dark here too
    assert int(load(tmp_path, image_size=8).x[1].max()) == 10


def test_float_images_in_0_1_are_fractions_of_white(tmp_path):
    Image.fromarray(np.full((8, 8), 0.5, np.float32), "F").save(tmp_path / "a.tif")
    assert int(load(tmp_path, image_size=8).x.max()) == 128


def test_transparent_pixels_are_white_whatever_lies_under_them(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)  # black under alpha 0 ...
    rgba[:4, :, :] = (200, 10, 30, 255)  # ... below a red opaque top half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    x = load(tmp_path, image_size=8).x[0]
    assert x[:, 0, 0].tolist() == [200, 10, 30] and x[:, 7, 7].tolist() == [255, 255, 255]
    (tmp_path / "g").mkdir()
    Image.fromarray(np.zeros((8, 8, 2), np.uint8), "LA").save(tmp_path / "g" / "a.png")  # grey, all transparent
    grey = load(tmp_path / "g", image_size=8)
    assert grey.x.shape == (1, 1, 8, 8) and int(grey.x.min()) == 255


def test_the_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((8, 16), np.uint8)
    arr[:, :8] = 255  # stored wide, left half white
    img = Image.fromarray(arr, "L")
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    img.save(tmp_path / "a.jpg", exif=exif, quality=100)
    x = load(tmp_path, image_size=8).x[0, 0].float()  # upright it is tall: the crop keeps its middle
    assert float(x[:4].mean()) > 200 and float(x[4:].mean()) < 50  # left half white -> top half white


def test_mixed_sizes_and_formats(tmp_path):
    for i, (size, ext) in enumerate([((7, 7), "png"), ((300, 200), "jpg"), ((40, 90), "webp"), ((16, 16), "gif")]):
        save(tmp_path / f"{i}.{ext}", size=size, mode="P" if ext == "gif" else "RGB")
    ds = load(tmp_path, image_size=24)
    assert ds.x.shape == (4, 3, 24, 24)


def test_unreadable_files_are_skipped_and_listed(tmp_path, capsys):
    save(tmp_path / "good.png")
    (tmp_path / "notes.txt").write_text("not an image")
    data = save(tmp_path / "x.png", size=(64, 64)).read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / ".hidden.png").write_bytes(b"junk")  # hidden: ignored, not listed
    ds = load(tmp_path, image_size=8)
    assert len(ds) == 2  # good.png and x.png
    err = capsys.readouterr().err.strip()
    assert err == "skipped 2 unreadable files: notes.txt, truncated.png"


def test_long_skip_list_is_truncated(tmp_path, capsys):
    save(tmp_path / "good.png")
    for i in range(8):
        (tmp_path / f"junk{i}.txt").write_text("x")
    load(tmp_path, image_size=8)
    err = capsys.readouterr().err.strip()
    assert err.startswith("skipped 8 unreadable files: junk0.txt,") and err.endswith("and 3 more")
    assert "\n" not in err


def test_loose_root_files_in_class_layout(tmp_path, capsys):
    save(tmp_path / "a" / "1.png")
    save(tmp_path / "stray.png")
    ds = load(tmp_path, image_size=8)
    assert len(ds) == 1 and ds.class_names == ["a"]
    assert "ignored 1 files outside the class folders: stray.png" in capsys.readouterr().err


def test_class_with_only_unreadable_files_gets_no_label(tmp_path):
    save(tmp_path / "a" / "1.png")
    (tmp_path / "b" / "junk.txt").parent.mkdir()
    (tmp_path / "b" / "junk.txt").write_text("x")
    save(tmp_path / "c" / "1.png")
    ds = load(tmp_path, image_size=8)
    assert ds.class_names == ["a", "c"] and ds.labels.tolist() == [0, 1]


def test_refusals(tmp_path):
    with pytest.raises(UserError, match="needs --data-dir DIR"):
        load_dataset("folder", DataSpec())
    with pytest.raises(UserError, match="no such folder"):
        load(tmp_path / "missing")
    with pytest.raises(UserError, match="no readable images"):
        load(tmp_path)
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(UserError, match="no readable images"):
        load(tmp_path)
    save(tmp_path / "ok.png")
    with pytest.raises(UserError, match="no test split: put .* and held-out images in .*test"):
        load(tmp_path, split="test")
    with pytest.raises(UserError, match="no split 'val'"):
        load(tmp_path, split="val")


def test_a_folder_the_user_may_not_read_is_a_user_error(tmp_path, monkeypatch):
    save(tmp_path / "ok.png")

    def denied(self):  # as chmod 000 does for a user who is not root (tests may run as root)
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(UserError, match=f"cannot read {tmp_path}: permission denied"):
        load(tmp_path)


def test_train_and_test_splits(tmp_path):
    labelled_folder(tmp_path, n_train=4, n_test=2)
    train, test = load(tmp_path, image_size=16), load(tmp_path, image_size=16, split="test")
    assert train.class_names == test.class_names == ["a", "b", "c"]
    assert train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and len(train) == 12
    assert test.labels.tolist() == [0, 0, 1, 1, 2, 2] and test.x.shape == (6, 3, 16, 16)
    assert train.source == str(tmp_path / "train") and test.source == str(tmp_path / "test")
    # each split reads its own folder: test/ images are not in the train split
    assert not any(torch.equal(t, x) for t in test.x for x in train.x)


def test_test_split_may_hold_a_subset_of_the_classes(tmp_path):
    labelled_folder(tmp_path, n_train=2, n_test=2)
    for f in (tmp_path / "test" / "a").iterdir():
        f.unlink()
    (tmp_path / "test" / "a").rmdir()
    test = load(tmp_path, image_size=8, split="test")
    # labels keep train/'s numbering: b is 1 and c is 2 whatever test/ holds
    assert test.num_classes == 3 and test.class_names == ["a", "b", "c"] and test.labels.tolist() == [1, 1, 2, 2]


def test_flat_splits_and_channels_agree_between_splits(tmp_path):
    save(tmp_path / "train" / "a.png", mode="L")
    save(tmp_path / "test" / "b.png", mode="L")
    assert load(tmp_path, image_size=8).labels is None
    assert load(tmp_path, image_size=8, split="test").x.shape == (1, 1, 8, 8)
    save(tmp_path / "test" / "c.png", mode="RGB")  # one colour image in test/: both splits load RGB
    assert load(tmp_path, image_size=8).x.shape == (1, 3, 8, 8)
    assert load(tmp_path, image_size=8, split="test").x.shape == (2, 3, 8, 8)
    assert load(tmp_path, image_size=8, channels=1).x.shape == (1, 1, 8, 8)


def test_split_layout_refusals(tmp_path):
    labelled_folder(tmp_path, n_train=1, n_test=1)
    save(tmp_path / "test" / "zebra" / "1.png")
    with pytest.raises(UserError, match=r"test/ has classes that train/ lacks \(zebra\)") as e:
        load(tmp_path, image_size=8, split="test")
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="lacks"):  # training checks it too: the labels must agree
        load(tmp_path, image_size=8)
    flat = tmp_path / "flat"
    save(flat / "train" / "a" / "1.png")
    save(flat / "test" / "1.png")
    with pytest.raises(UserError, match="train/ has class subfolders but test/ has none"):
        load(flat, image_size=8, split="test")
    empty = tmp_path / "empty"
    save(empty / "train" / "a" / "1.png")
    (empty / "train" / "b").mkdir()
    (empty / "train" / "b" / "junk.txt").write_text("x")
    save(empty / "test" / "a" / "1.png")
    with pytest.raises(UserError, match="b: no readable images in this class folder"):
        load(empty, image_size=8)
