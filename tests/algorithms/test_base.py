"""The run manager trains any algorithm: a toy one defined here (one network, one optimizer, a
lazy phase every 3rd step, extra state in the checkpoint) trains, checkpoints and resumes exactly."""

import torch
from torch import nn

from gankit.algorithms.base import Algorithm, OptimizerSpec, Phase
from gankit.runs import RunFolder
from tests.helpers import config, image_data, train_to


class Shift(nn.Module):
    """G(z) = z's first pixel count of numbers plus a learned bias: learns the data mean."""

    def __init__(self, shape):
        super().__init__()
        self.shape = shape
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, z, labels=None):
        return torch.tanh(self.bias).expand(len(z), *self.shape) + 0 * z[:, :1, None, None]


class MeanMatcher(Algorithm):
    ema = ("G",)
    sampler = "G"

    def __init__(self, cfg, info, spec=None):
        super().__init__(cfg, info, spec)
        self.networks = {"G": Shift(tuple(info.shape))}
        self.lazy_calls = torch.zeros(1)  # extra state: how often the lazy phase ran

    def optimizers(self):
        return {"main": OptimizerSpec(("G",), "lr_g")}

    def phases(self):
        return [Phase("fit", "main"), Phase("lazy", "main", every=3, batch=False)]

    def loss(self, phase, r, batch, ctx):
        x = ctx.nets["G"](self.latents(4, ctx.gen))
        if phase.name == "fit":
            loss = (x.mean(0) - batch["x"].mean(0)).pow(2).mean()
            return loss, {"fit_loss": loss.detach()}
        self.lazy_calls += 1
        loss = 1e-3 * x.pow(2).mean()
        return loss, {"lazy_loss": loss.detach()}

    def extra_state(self):
        return {"lazy_calls": self.lazy_calls.clone()}

    def load_extra_state(self, tensors):
        self.lazy_calls = tensors["lazy_calls"].clone()


class Spec:
    def make(self, cfg, info):
        return MeanMatcher(cfg, info)


def _train(tmp_path, name, steps, resume=False):
    data = image_data(n=48, size=8)
    cfg = config("gan", out=str(tmp_path / name), max_steps=steps, lr_g=0.05, log_every=3)
    return train_to(cfg, data, resume, Spec())


def test_any_algorithm_trains_checkpoints_and_resumes_exactly(tmp_path):
    whole = _train(tmp_path, "whole", 10)
    assert whole.algo.lazy_calls.item() == 4  # steps 0, 3, 6, 9
    data_mean = image_data(n=48, size=8).x.float().mean() / 127.5 - 1
    assert abs(torch.tanh(whole.nets["G"].bias).mean() - data_mean) < 0.05  # it learned
    _train(tmp_path, "split", 4)
    again = _train(tmp_path, "split", 10, resume=True)
    assert again.algo.lazy_calls.item() == 4  # restored from the checkpoint's extra state
    for k, v in whole.state_tensors().items():
        assert torch.equal(v, again.state_tensors()[k]), k
    rows = whole.run.read_metrics()
    assert "fit_loss" in rows[-1] and "lazy_loss" in rows[-1]
    assert rows[-1]["images"] == rows[-1]["step"] * 16  # one batch of 16 an iteration: the lazy phase takes none
    assert (tmp_path / "whole" / "samples" / "final.png").is_file()


def test_a_phase_freezes_the_networks_it_names(tmp_path):
    data = image_data(n=32, size=8)
    cfg = config("dcgan", out=str(tmp_path / "r"), precision="fp32")
    from tests.helpers import make_trainer

    trainer = make_trainer(cfg, data, RunFolder.create(tmp_path / "r", cfg, data.info()))
    seen = []
    real_loss = trainer.algo.loss

    def spy(phase, r, batch, ctx):
        seen.append((phase.name, next(trainer.nets["D"].parameters()).requires_grad))
        return real_loss(phase, r, batch, ctx)
    trainer.algo.loss = spy
    trainer.iteration({})
    assert seen == [("D", True), ("G", False), ("G", False)]  # dcgan: 1 D step, 2 G steps
    assert next(trainer.nets["D"].parameters()).requires_grad  # unfrozen afterwards
