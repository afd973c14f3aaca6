"""The semi-supervised GAN: its losses on hand-made logits, the labelled set (per seed, balanced,
kept in the checkpoints and restored on resume), D as a classifier in training, eval and the Python
API, exact resume, and one-line refusals of data and keys it cannot use."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import gankit
from gankit.algorithms import MODELS, ssgan
from gankit.errors import UserError
from gankit.losses import d_supervised, d_unsupervised, g_feature_matching, real_logit
from gankit.runs import RunFolder
from gankit.training import checkpoint as ckpt
from tests.algorithms.test_acgan import two_classes
from tests.helpers import TINY_RUN, config, image_data, labelled_folder, make_trainer, train_to
from tests.test_cli import error_of, run_cli


# --- the losses, on logits made by hand
def test_the_fake_class_trick_is_a_k_plus_one_softmax_whose_fake_logit_is_zero():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(6, 4, generator=g) * 3, torch.randn(5, 4, generator=g) * 3
    # the explicit (K+1)-class softmax: the K logits and a fixed 0 for "generated"
    p_fake_of = lambda l: F.softmax(torch.cat([l, torch.zeros(len(l), 1)], 1), 1)[:, -1]  # noqa: E731
    assert_close(torch.sigmoid(real_logit(real)), 1 - p_fake_of(real))
    explicit = -torch.log(1 - p_fake_of(real)).mean() - torch.log(p_fake_of(fake)).mean()
    assert_close(d_unsupervised(real, fake), explicit)


def test_d_unsupervised_by_hand():
    # K = 3 zero logits: Z = 3, D(x) = 3/4, so -log D(x) = log(4/3) and -log(1 - D(G(z))) = log 4
    zeros = torch.zeros(2, 3)
    assert_close(d_unsupervised(zeros, zeros), torch.tensor(4 / 3).log() + torch.tensor(4.0).log())
    # a confident D: large real logits and very negative fake ones cost almost nothing
    assert d_unsupervised(torch.full((2, 3), 20.0), torch.full((2, 3), -20.0)) < 1e-6


def test_d_supervised_by_hand_and_lower_for_the_right_labels():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    right, wrong = torch.tensor([0, 2]), torch.tensor([1, 0])
    e = torch.tensor(1.0).exp()
    expected = ((1 + 2 * e ** -2).log() + (1 + 2 * e ** -3).log()) / 2  # -log softmax of the true class
    assert_close(d_supervised(logits, right), expected)
    wrong_by_hand = ((e ** 2 + 2).log() - 0 + (e ** 3 + 2).log() - 0) / 2
    assert_close(d_supervised(logits, wrong), wrong_by_hand)
    assert d_supervised(logits, right) < d_supervised(logits, wrong)


def test_feature_matching_by_hand_and_its_gradient_reaches_the_fakes():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean (1, 1)
    loss = g_feature_matching(real, fake)
    assert_close(loss, torch.tensor((1.0 + 4.0) / 2))
    loss.backward()
    # d/dfake_ij of mean_j (r_j - mean_i f_ij)^2 = -2 (r_j - m_j) / (F N)
    assert_close(fake.grad, torch.tensor([[-0.5, -1.0], [-0.5, -1.0]]))


# --- the networks
def test_d_reads_its_class_logits_as_real_vs_fake_and_gives_its_features():
    data = image_data(n=8, size=28)
    algo = MODELS.get("ssgan").make(config("ssgan"), data.info())
    G, D = algo.networks["G"], algo.networks["D"]
    x = G(torch.randn(4, 16))
    assert x.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    D.eval()  # no noise: the three readings of one forward agree
    classes, logit = D(x, out="classes"), D(x)
    assert classes.shape == (4, 10) and D(x, out="features").shape == (4, 250)
    assert_close(logit, torch.logsumexp(classes, 1))
    D.train()
    assert not torch.equal(D(x, out="classes"), D(x, out="classes"))  # Gaussian noise in training
    # the paper's MNIST widths; fixed hidden scales (buffers), a trained output scale
    assert [m.v.shape[0] for m in D.modules() if isinstance(m, ssgan.WNLinear)] == [1000, 500, 250, 250, 250, 10]
    assert "head.1.g" in dict(D.named_parameters()) and "body.1.g" in dict(D.named_buffers())


def test_data_dependent_init_standardises_each_layer():
    D = ssgan.SSDiscriminator((1, 8, 8), (32, 16), 3, noise_in=0.0, noise_hidden=0.0)
    x = torch.rand(200, 1, 8, 8) * 2 - 1
    D.init_from(x)
    pre = F.linear((x.reshape(200, -1) + 1) / 2, D.body[1].weight(), D.body[1].b)  # body[0]: the input noise
    assert_close(pre.mean(0), torch.zeros(32), atol=1e-5, rtol=0)
    assert_close(pre.std(0, unbiased=False), torch.ones(32), atol=1e-4, rtol=0)


# --- the labelled set
def _trainer(tmp_path, data, name="r", **kw):
    cfg = config("ssgan", out=str(tmp_path / name), precision="fp32", **kw)
    return make_trainer(cfg, data, RunFolder.create(tmp_path / name, cfg, data.info()))


def test_the_labelled_set_is_balanced_fixed_by_the_seed_and_off_the_batches(tmp_path):
    data = image_data(n=60, size=8, classes=3)
    a = _trainer(tmp_path, data, "a", seed=3, options={"labels_per_class": 4})
    b = _trainer(tmp_path, data, "b", seed=3, options={"labels_per_class": 4})
    c = _trainer(tmp_path, data, "c", seed=4, options={"labels_per_class": 4})
    idx, y = a.algo.labelled_idx, a.algo.labelled_y
    assert torch.equal(idx, b.algo.labelled_idx) and not torch.equal(idx, c.algo.labelled_idx)
    assert len(idx.unique()) == 12 and torch.equal(y, data.labels[idx])
    assert torch.bincount(y, minlength=3).tolist() == [4, 4, 4]
    assert set(a.batches.fields) == {"x"} and len(a.batches) == 60  # every image, no label
    # a labelled batch visits each labelled image once per pass over the set
    xl, yl = a.algo.labelled_batch(24, torch.Generator().manual_seed(0))
    assert xl.shape == (24, 1, 8, 8) and xl.dtype == torch.float32
    assert torch.equal(torch.bincount(yl, minlength=3), torch.tensor([8, 8, 8]))


def _train(tmp_path, name, steps, resume=False, data=None, **options):
    data = data or image_data(n=40, size=8, classes=4)
    cfg = config("ssgan", out=str(tmp_path / name), max_steps=steps, log_every=2, precision="fp32",
                 batch_size=8, options={"labels_per_class": 2, **options})
    return train_to(cfg, data, resume)


def test_a_resume_on_data_whose_labels_moved_is_refused(tmp_path):
    _train(tmp_path, "r", 3)
    moved = image_data(n=40, size=8, classes=4)
    moved.labels = (moved.labels + 1) % 4  # as a folder whose files were renamed: same shapes, other labels
    with pytest.raises(UserError, match="labels at the checkpoint's labelled images differ"):
        _train(tmp_path, "r", 6, resume=True, data=moved)


def test_resume_is_exact_and_takes_the_labelled_set_from_the_checkpoint(tmp_path, monkeypatch):
    whole = _train(tmp_path, "whole", 6)
    _train(tmp_path, "split", 3)
    saved, _ = ckpt.load(tmp_path / "split" / "checkpoints" / "last.safetensors")
    assert torch.equal(saved["extra.labelled_idx"], whole.algo.labelled_idx)
    assert torch.equal(saved["extra.labelled_y"], whole.algo.labelled_y)
    # a resume must not draw the set again: a different draw now would change nothing
    drawn = []
    real_subset = ssgan.labelled_subset

    def other_draw(labels, per_class, seed):
        drawn.append(seed)
        return real_subset(labels, per_class, seed + 1)
    monkeypatch.setattr(ssgan, "labelled_subset", other_draw)
    again = _train(tmp_path, "split", 6, resume=True)
    assert drawn  # the fresh trainer drew one before the checkpoint was restored over it
    assert torch.equal(again.algo.labelled_idx, whole.algo.labelled_idx)
    mine, theirs = whole.state_tensors(), again.state_tensors()
    assert any(k.startswith("D_ema.") for k in mine)  # D's average is kept (eval's classifier)
    assert mine.keys() == theirs.keys()
    for k, v in mine.items():
        assert torch.equal(v, theirs[k]), k
    clock = {"img_per_s", "s_per_epoch", "time_s"}
    rows = [{k: v for k, v in r.items() if k not in clock} for r in again.run.read_metrics()]
    assert rows == [{k: v for k, v in r.items() if k not in clock} for r in whole.run.read_metrics()]


def test_a_damaged_labelled_set_in_a_checkpoint_is_refused():
    algo = MODELS.get("ssgan").make(config("ssgan", options={"labels_per_class": 2}),
                                    image_data(n=20, size=8, classes=2).info())
    good = {"labelled_idx": torch.tensor([0, 1, 2, 3]), "labelled_y": torch.tensor([0, 0, 1, 1])}
    algo.load_extra_state(good)
    assert torch.equal(algo.labelled_idx, good["labelled_idx"])
    for bad in ({"labelled_idx": torch.tensor([0, 0, 2, 3])}, {"labelled_y": torch.tensor([0, 1, 1, 1])},
                {"labelled_y": torch.tensor([0, 0, 1, 5])}, {"labelled_idx": torch.tensor([-1, 1, 2, 3])}):
        with pytest.raises(UserError, match="labelled set is damaged"):
            algo.load_extra_state({**good, **bad})


# --- D learns the classes from a few labels, and is scored as a classifier
def test_d_learns_the_classes_from_two_labels_each(tmp_path):
    data = two_classes(n=64)
    cfg = config("ssgan", out=str(tmp_path / "r"), precision="fp32", max_steps=30, log_every=10,
                 options={"labels_per_class": 2})
    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    trainer.train()
    trainer.run.unlock()
    row = trainer.run.read_metrics()[-1]
    assert {"d_sup_loss", "d_unsup_loss", "lab_acc", "d_acc_real", "g_loss"} <= row.keys()
    m = gankit.load(tmp_path / "r", "last")
    real = data.x.float() / 127.5 - 1
    pred = m.classify(real)
    assert pred.dtype == torch.int64 and (pred == data.labels).float().mean() >= 0.95
    assert m.classify(real[:3], logits=True).shape == (3, 2)
    with pytest.raises(UserError, match="no classifier"):
        MODELS.get("gan").make(config("gan"), data.info()).classify({}, real)


@pytest.fixture(scope="module")
def ssgan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "s"
    run_cli("train", "ssgan", "--labels-per-class", "3", "--out", out, *TINY_RUN, "--eval-every", "3")
    return out


def test_eval_every_logs_d_as_a_classifier(ssgan_run):
    rows = [r for r in RunFolder.open(ssgan_run).read_metrics() if r.get("eval")]
    assert [r["step"] for r in rows] == [3]
    acc, errors = rows[0]["d_class_accuracy"], rows[0]["d_class_errors"]
    assert 0 <= acc <= 1 and errors == round(360 * (1 - acc))
    assert not any(k.endswith("_protocol") for k in rows[0])


def test_eval_reports_d_as_a_classifier_of_the_test_split(ssgan_run, capsys):
    run_cli("eval", ssgan_run, "--n", "50", "--ppl-n", "0", "--no-memorization")
    text = capsys.readouterr().out
    assert "D as classifier: test acc." in text and "360 images of the test split" in text
    result = json.loads((ssgan_run / "eval.json").read_text())
    scores, protocol = result["scores"], result["protocol"]
    assert 0 <= scores["d_class_accuracy"] <= 1 and "d_class_accuracy_protocol" in protocol
    assert scores["d_class_errors"] == round(360 * (1 - scores["d_class_accuracy"]))
    assert {"d_acc_real", "d_acc_fake"} <= scores.keys()  # the real-vs-fake reading of the same D


def test_it_keeps_no_best_checkpoint_and_loads_its_last_d(ssgan_run, tmp_path):
    import shutil

    from gankit.api import default_checkpoint

    run = RunFolder.open(ssgan_run)
    assert not run.checkpoint("best").exists()  # evaluated at step 3, yet no checkpoint picked by G's FID
    assert gankit.load(ssgan_run).meta["step"] == ckpt.read_meta(run.checkpoint())["step"]
    older = shutil.copytree(ssgan_run, tmp_path / "older")  # a run from before, which kept a `best`
    shutil.copy(older / "checkpoints" / "last.safetensors", older / "checkpoints" / "best.safetensors")
    m = gankit.load(older)
    assert default_checkpoint(RunFolder.open(older), m.algo) == "last"
    assert default_checkpoint(RunFolder.open(older)) == "best"  # what another model's run would use


def test_the_run_records_its_labelled_set(ssgan_run):
    options = json.loads((ssgan_run / "config.json").read_text())["config"]["options"]
    assert options == {"labels_per_class": 3, "unsup_weight": 0.5}
    m = gankit.load(ssgan_run)
    assert len(m.algo.labelled_idx) == 30 and torch.bincount(m.algo.labelled_y).tolist() == [3] * 10
    assert m.algo.labelled_digest() in (ssgan_run / "log.txt").read_text()


# --- one-line refusals, before a run folder exists
def test_bad_label_counts_and_unlabelled_data_are_one_line_errors(capsys, tmp_path):
    out = tmp_path / "r"
    train = ["train", "ssgan", "--out", out, *TINY_RUN]
    assert "--labels-per-class N" in error_of(capsys, *train)
    assert "--labels-per-class N" in error_of(capsys, *train, "--labels-per-class", "0")
    err = error_of(capsys, *train, "--labels-per-class", "1000")
    assert "class '" in err and "has only" in err and "at most" in err
    assert "labels_per_class must be in" in error_of(capsys, *train, "--set", "labels_per_class=-1")
    flat = labelled_folder(tmp_path / "d", n_train=4, splits=("train",)) / "train" / "a"  # images, no classes
    err = error_of(capsys, "train", "ssgan", "--dataset", "folder", "--data-dir", flat, "--labels-per-class", "1",
                   "--out", out, "--set", "max_steps=1", "--set", "device=cpu")
    assert "needs a dataset with class labels" in err
    assert "--labels-per-class is for ssgan" in error_of(capsys, "train", "dcgan", "--labels-per-class", "3",
                                                         "--out", out, *TINY_RUN)
    assert "drop --set objective, loss" in error_of(capsys, *train, "--labels-per-class", "1", "--set", "loss=hinge")
    assert not out.exists()


@pytest.mark.parametrize("keys,msg", [({"pack": 4}, "drop --set clusters and --set pack"),
                                      ({"clusters": 3}, "drop --set clusters and --set pack"),
                                      ({"mbdisc": 5}, "takes no mbstd, mbdisc"),
                                      ({"unroll": 2}, "unroll works with models whose D gives one score")])
def test_keys_that_do_not_fit_its_d_are_refused(keys, msg):
    with pytest.raises(UserError, match=msg):
        MODELS.get("ssgan").make(config("ssgan", **keys), image_data(n=8, size=8).info())


def test_resume_refuses_a_new_label_count(ssgan_run, capsys):
    assert "drop --labels-per-class" in error_of(capsys, "train", "--resume", ssgan_run, "--labels-per-class", "5")
