"""gankit export: ONNX and TorchScript files that compute what `gankit sample` draws, for every
kind of generator, at another batch size than the one exported; their sidecars; one-line errors
that leave no file behind."""

import errno
import json
import subprocess
import sys
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

import gankit
from gankit import export as ex
from gankit.cli import main
from gankit.data.base import to_uint8

FAST = ["--dataset", "digits", "--set", "max_steps=3", "--set", "width=8", "--set", "z_dim=8",
        "--set", "batch_size=32", "--set", "grid_size=10", "--set", "threads=1"]
RUNS = {  # name -> model and its flags: every way a generator turns latents into samples
    "dcgan": ["dcgan"],
    "selfcond": ["dcgan", "--set", "clusters=4"],  # the cluster is drawn from z inside G
    "cdcgan": ["cdcgan"],
    "cgan": ["cgan"],  # an MLP generator given one-hot labels
    "infogan": ["infogan"],  # z carries the codes
    "vae": ["vae"],  # sigmoid of the decoder's logits
    "autoencoder": ["autoencoder"],  # the Gaussian fitted to the codes, then the decoder
    "points": ["gan", "--dataset", "ring8"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    for name, (model, *flags) in RUNS.items():
        main(["train", model, "--out", str(root / name), *FAST, *flags])
    return root


def inputs(m, n: int, seed: int):
    """Latents as `gankit sample --seed` draws them, and labels 0..K-1 cycling for conditional models."""
    z = m.algo.latents(n, torch.Generator().manual_seed(seed))
    return z, m.labels(n) if m.conditional else None


def expected(m, n: int, seed: int) -> np.ndarray:
    """What `gankit sample --n N --seed S [--labels all]` draws, before its uint8 conversion."""
    return m.draw(n, seed, "all" if m.conditional else None)[0].numpy()


@pytest.mark.parametrize("name", list(RUNS))
def test_onnx_computes_what_gankit_samples(runs, name, tmp_path, capsys):
    out = tmp_path / "G.onnx"
    main(["export", str(runs / name), "--out", str(out)])
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["G.onnx", "G.onnx.json"]  # no temp file left
    info = json.loads((tmp_path / "G.onnx.json").read_text())
    m = gankit.load(runs / name)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [i["name"] for i in info["inputs"]]
    assert [o.name for o in session.get_outputs()] == [info["output"]["name"]]
    for n in (5, 1):  # exported with a batch of 2
        z, labels = inputs(m, n, seed=n)
        assert z.shape[1] == info["z_dim"] and info["inputs"][0]["shape"] == ["batch", info["z_dim"]]
        feed = {"z": z.numpy()} | ({"labels": labels.numpy()} if labels is not None else {})
        got = session.run(None, feed)[0]
        want = expected(m, n, seed=n)
        assert got.dtype == np.float32 and got.shape == want.shape == (n, *info["output"]["shape"][1:])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        if info["output"]["name"] == "images":  # the documented conversion gives gankit's uint8 images
            u = np.round((np.clip(got, -1, 1) + 1) * 127.5).astype(np.uint8)
            assert np.abs(u.astype(int) - to_uint8(torch.from_numpy(want)).numpy()).max() <= 1


@pytest.mark.parametrize("name", list(RUNS))
def test_torchscript_computes_what_gankit_samples(runs, name, tmp_path):
    main(["export", str(runs / name), "--format", "torchscript", "--out", str(tmp_path / "G.pt")])
    info = json.loads((tmp_path / "G.pt.json").read_text())
    assert info["format"] == "torchscript" and "opset" not in info
    m = gankit.load(runs / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates torch.jit
        G = torch.jit.load(str(tmp_path / "G.pt"))
    z, labels = inputs(m, 7, seed=1)
    got = G(z, labels) if labels is not None else G(z)
    assert not got.requires_grad
    torch.testing.assert_close(got, torch.from_numpy(expected(m, 7, seed=1)), rtol=0, atol=1e-6)


def test_the_sidecar_says_what_the_inputs_and_output_are(runs, tmp_path):
    info = ex.export(gankit.load(runs / "cdcgan"), "onnx", tmp_path / "c.onnx")
    assert json.loads((tmp_path / "c.onnx.json").read_text()) == info
    labels = info["inputs"][1]
    assert labels == {"name": "labels", "dtype": "int64", "shape": ["batch"], "values": "class numbers 0..9",
                      "classes": [str(i) for i in range(10)]}
    assert info["output"] | {"meaning": ""} == {
        "name": "images", "dtype": "float32", "shape": ["batch", 1, 8, 8], "layout": "NCHW", "range": [-1.0, 1.0],
        "to_uint8": "round((clip(x, -1, 1) + 1) * 127.5)", "meaning": ""}
    assert (info["model"], info["dataset"], info["checkpoint"], info["step"], info["weights"], info["opset"]) == \
        ("cdcgan", "digits", "last", 3, "EMA", 18)
    assert info["gankit_version"] == gankit.__version__ and info["file"] == "c.onnx"

    parts = ex.export(gankit.load(runs / "infogan"), "onnx", tmp_path / "i.onnx")["inputs"][0]["parts"]
    assert [(p["name"], p["size"], p["columns"]) for p in parts] == \
        [("noise", 8, [0, 8]), ("cat", 10, [8, 18]), ("c1", 1, [18, 19]), ("c2", 1, [19, 20])]

    points = ex.export(gankit.load(runs / "points"), "torchscript", tmp_path / "p.pt")
    assert points["output"]["name"] == "points" and points["output"]["shape"] == ["batch", 2]
    assert points["output"]["range"] is None and len(points["inputs"]) == 1


def test_the_checkpoint_and_the_raw_weights_are_chosen_as_in_sample(runs, tmp_path):
    run = runs / "dcgan"
    main(["export", str(run), "--no-ema", "--checkpoint", "last"])  # default name: in the run folder
    info = json.loads((run / "G.onnx.json").read_text())
    assert info["weights"] == "raw" and info["checkpoint"] == "last"
    z, _ = inputs(gankit.load(run), 4, seed=0)
    got = ort.InferenceSession(str(run / "G.onnx")).run(None, {"z": z.numpy()})[0]
    np.testing.assert_allclose(got, gankit.load(run, ema=False).draw(4, 0)[0].numpy(), rtol=0, atol=1e-6)
    assert np.abs(got - gankit.load(run).draw(4, 0)[0].numpy()).max() > 1e-5  # the EMA's samples differ
    main(["export", str(run), "--format", "torchscript"])
    assert (run / "G.torchscript.pt").is_file() and (run / "G.torchscript.pt.json").is_file()


def error_of(capsys, *args) -> str:
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gankit: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_mistakes_are_one_line_errors(runs, tmp_path, capsys, monkeypatch):
    run = runs / "dcgan"
    assert "not a gankit run folder" in error_of(capsys, "export", tmp_path / "nothing")
    assert "unknown export format 'tflite'; choose onnx or torchscript" in \
        error_of(capsys, "export", run, "--format", "tflite")
    assert "does not exist" in error_of(capsys, "export", run, "--out", tmp_path / "no" / "G.onnx")
    assert "must end in .onnx" in error_of(capsys, "export", run, "--out", tmp_path / "G.pt")
    assert "must end in .pt" in error_of(capsys, "export", run, "--format", "torchscript", "--out", tmp_path / "G.onnx")
    assert "checkpoint must be best or last" in error_of(capsys, "export", run, "--checkpoint", "first")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed
    assert "pip install onnx onnxscript" in error_of(capsys, "export", run, "--out", tmp_path / "G.onnx")
    main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "G.pt")])  # needs neither
    assert not (tmp_path / "G.onnx").exists()


@pytest.mark.parametrize("fmt, writer", [("onnx", "torch.onnx.export"), ("torchscript", "torch.jit.save")])
def test_a_failed_write_leaves_no_file(runs, tmp_path, capsys, monkeypatch, fmt, writer):
    def half_then_full(*args, f=None, **kw):  # writes some bytes, then the disk is full
        path = f if f is not None else args[1]
        with open(path, "wb") as fh:
            fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, half_then_full)
    out = tmp_path / ("G.onnx" if fmt == "onnx" else "G.pt")
    err = error_of(capsys, "export", runs / "vae", "--format", fmt, "--out", out)
    assert f"could not write {out}: No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_an_exporter_failure_is_one_line_and_leaves_no_file(runs, tmp_path, capsys, monkeypatch):
    def fails(*args, f=None, **kw):
        open(f, "wb").close()
        raise RuntimeError("no ONNX function for aten::something\nand a long story")

    monkeypatch.setattr("torch.onnx.export", fails)
    err = error_of(capsys, "export", runs / "dcgan", "--out", tmp_path / "G.onnx")
    assert "torch.onnx could not export dcgan's generator (RuntimeError: no ONNX function for aten::something)" in err
    assert "--format torchscript" in err and list(tmp_path.iterdir()) == []


def test_a_real_process_exports_quietly(runs, tmp_path):
    out = tmp_path / "G.onnx"
    r = subprocess.run([sys.executable, "-m", "gankit", "export", str(runs / "selfcond"), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "" and r.stdout.startswith(f"wrote {out}")


def test_the_operations_onnx_lacks_are_rewritten_faithfully():
    y = torch.cat([torch.linspace(-1 + 2e-6, 1 - 2e-6, 200001), torch.rand(10000) * 2 - 1])
    torch.testing.assert_close(ex._erfinv(y), torch.erfinv(y), rtol=0, atol=2e-5)
    assert ex._erfinv(torch.tensor([-1.0, 1.0])).isfinite().all()
    edges = torch.tensor([0.0, 0.1, 0.1, 0.5, 1.0])
    v = torch.tensor([[-1, 0, 0.05, 0.1], [0.3, 0.5, 1, 2]])
    for right in (False, True):
        assert torch.equal(ex._searchsorted(edges, v, right=right), torch.searchsorted(edges, v, right=right))
