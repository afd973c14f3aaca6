"""Config: precedence of the sources, and one-line errors for every kind of mistake."""

import json

import pytest

from gankit.config import TrainConfig, build_config, from_dict, parse_set
from gankit.errors import UserError
from gankit.algorithms import MODELS


def test_precedence_defaults_model_file_set_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("lr_d: 0.001\nbatch_size: 32\nema: 0\n")
    cfg = build_config("wgan", MODELS.get("wgan").defaults, str(f), ["batch_size=16"], {"epochs": 3, "seed": None})
    assert cfg.optimizer == "rmsprop" and cfg.d_steps == 5  # model defaults
    assert cfg.lr_d == 0.001 and cfg.ema == 0  # file over model defaults
    assert cfg.batch_size == 16  # --set over file
    assert cfg.epochs == 3 and cfg.seed == 0  # flags; an unset flag leaves the default
    assert cfg.z_dim == TrainConfig().z_dim


def test_model_defaults_for_the_chosen_dataset(tmp_path):
    """dcgan keeps its measured settings for digits; every user source still wins over them."""
    spec = MODELS.get("dcgan")
    mnist = build_config("dcgan", spec.defaults, None, [], {"dataset": "mnist"}, spec.dataset_defaults)
    digits = build_config("dcgan", spec.defaults, None, [], {}, spec.dataset_defaults)  # digits: the default
    assert (mnist.lr_d, mnist.batch_size) == (spec.defaults["lr_d"], spec.defaults["batch_size"])
    assert (digits.depth, digits.g_steps, digits.auto_images) == (0, 1, 86_000)  # the short first run
    assert (mnist.depth, mnist.g_steps, mnist.auto_images) == (1, 2, 300_000)
    assert digits.lr_d == mnist.lr_d and digits.batch_size == mnist.batch_size  # the rest hold on digits
    assert (mnist.clusters, digits.clusters) == (200, 0)  # self-conditioned on MNIST only
    off = build_config("dcgan", spec.defaults, None, ["clusters=0"], {"dataset": "mnist"}, spec.dataset_defaults)
    assert off.clusters == 0
    f = tmp_path / "c.yaml"
    f.write_text("dataset: digits\ndepth: 2\n")
    cfg = build_config("dcgan", spec.defaults, str(f), ["g_steps=3"], {}, spec.dataset_defaults)
    assert (cfg.depth, cfg.g_steps, cfg.auto_images) == (2, 3, 86_000)  # the file names the dataset too


def test_gan_reads_a_2d_latent_on_the_2d_mixtures():
    """gan's latent is 2-D on ring8 and grid25 (PacGAN's G), 100-D elsewhere, and its default run there is
    the measured 20,000 steps; --set and the paper preset win."""
    spec = MODELS.get("gan")

    def cfg(dataset, sets=()):
        return build_config("gan", spec.defaults, None, list(sets), {"dataset": dataset}, spec.dataset_defaults,
                            spec.algorithm.Options, spec.paper)

    assert (cfg("ring8").z_dim, cfg("grid25").z_dim) == (2, 2)
    assert (cfg("mnist").z_dim, cfg("digits").z_dim, cfg("ring8-metz").z_dim) == (100, 100, 100)
    assert cfg("ring8", ["z_dim=100"]).z_dim == 100
    assert cfg("grid25", ["preset=paper"]).z_dim == 100  # Goodfellow's 100 noise inputs
    assert (cfg("ring8").auto_images, cfg("mnist").auto_images) == (1_280_000, TrainConfig.auto_images)


def test_json_config_file(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"loss": "minimax", "d-steps": 2}))
    cfg = build_config("gan", {}, str(f), [], {})
    assert cfg.loss == "minimax" and cfg.d_steps == 2


def test_set_parses_scalars():
    assert parse_set(["lr_d=1e-4", "ema=0", "minutes=none", "loss=hinge"]) == {
        "lr_d": 1e-4, "ema": 0.0, "minutes": None, "loss": "hinge"}


@pytest.mark.parametrize("sets,message", [
    (["lr=0.1"], "unknown config key 'lr'"),
    (["batchsize=3"], "did you mean 'batch_size'"),
    (["batch_size=abc"], "must be int"),
    (["batch_size=2.5"], "must be int"),
    (["batch_size=0"], "must be positive"),
    (["ema=1.5"], r"must be in \[0, 1\)"),
    (["optimizer=adamw"], "optimizer must be one of"),
    (["loss=wasserstein"], "does not fit objective"),
    (["novalue"], "key=value"),
    (["device=tpu"], "device must be"),
    (["model=wgan-gp"], r"names model 'wgan-gp', but this run trains 'dcgan'; .*gankit train wgan-gp"),
    (["lr_d=.nan"], "must be a finite number"),
    (["keep=-1"], "keep must be >= 0"),
    (["on_divergence=ignore"], "on_divergence must be one of stop, rollback, warn"),
])
def test_bad_values_are_one_line_user_errors(sets, message):
    with pytest.raises(UserError, match=message) as e:
        build_config("dcgan", MODELS.get("dcgan").defaults, None, sets, {})
    assert "\n" not in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="cannot read config file"):
        build_config("gan", {}, str(tmp_path / "missing.yaml"), [], {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr_d: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        build_config("gan", {}, str(bad), [], {})
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping"):
        build_config("gan", {}, str(listy), [], {})


def test_saved_config_round_trips():
    cfg = build_config("cdcgan", MODELS.get("cdcgan").defaults, None, ["label_smoothing=0.1"], {"epochs": 2})
    assert from_dict(json.loads(json.dumps(cfg.to_dict())), "config.json") == cfg


def test_an_algorithms_own_keys_go_to_options_with_every_default(tmp_path):
    spec = MODELS.get("infogan")
    f = tmp_path / "c.yaml"
    f.write_text("lambda_cat: 2\nlr_d: 0.001\n")
    cfg = build_config("infogan", spec.defaults, str(f), ["continuous=3"], {}, spec.dataset_defaults,
                       spec.algorithm.Options)
    assert cfg.options == {"categories": 10, "continuous": 3, "lambda_cat": 2.0, "lambda_cont": 0.3, "q_step": "g",
                           "code_augment": 1.0}
    assert cfg.lr_d == 0.001 and not hasattr(cfg, "lambda_cat")
    again = from_dict(json.loads(json.dumps(cfg.to_dict())), "config.json")
    assert again.options == cfg.options
    with pytest.raises(UserError, match="must be int"):
        build_config("infogan", spec.defaults, None, ["categories=ten"], {}, None, spec.algorithm.Options)
    with pytest.raises(UserError, match="categories must be"):
        build_config("infogan", spec.defaults, None, ["categories=1"], {}, None, spec.algorithm.Options)
    with pytest.raises(UserError, match="unknown config key 'lambda_cat'"):  # another model's key
        build_config("dcgan", {}, None, ["lambda_cat=1"], {}, None, MODELS.get("dcgan").algorithm.Options)
    with pytest.raises(UserError, match="options"):
        from_dict({**cfg.to_dict(), "options": [1]}, "config.json")


def test_describe_cpu_names_the_model_and_vector_features():
    from gankit.device import describe_cpu

    line = describe_cpu()
    assert "cores" in line and "precision auto = " in line and line.count(";") == 1


def test_preset_precedence_defaults_model_preset_file_set_flags(tmp_path):
    """defaults < model defaults (and the dataset's) < preset < --config < --set < flags; the preset
    may be named by any source and still sits below them all."""
    spec = MODELS.get("dcgan")

    def build(file=None, sets=(), **flags):
        return build_config("dcgan", spec.defaults, file, list(sets), {"dataset": "mnist", **flags},
                            spec.dataset_defaults, spec.algorithm.Options, spec.paper)
    ours = build()
    assert (ours.preset, ours.lr_d, ours.clusters, ours.batch_size) == ("gankit", 2e-3, 200, 32)
    paper = build(preset="paper")  # over the model's and the dataset's defaults
    assert (paper.lr_d, paper.clusters, paper.batch_size, paper.g_steps, paper.ema) == (2e-4, 0, 128, 1, 0.0)
    assert paper.fused and paper.channels_last  # keys the paper does not name keep gankit's
    f = tmp_path / "c.yaml"
    f.write_text("preset: paper\nbatch_size: 64\nlr_d: 0.0005\n")
    filed = build(str(f), ["lr_d=0.0003"])
    assert filed.preset == "paper" and filed.lr_g == 2e-4  # the file names the preset
    assert filed.batch_size == 64 and filed.lr_d == 3e-4  # the file over the preset, --set over the file
    assert build(sets=["preset=paper"]).batch_size == 128
    assert build(str(f), ["preset=gankit"]).lr_g == 2e-3  # --set over the file's preset
    assert build(str(f), epochs=3).epochs == 3
    with pytest.raises(UserError, match="preset must be one of"):
        build(sets=["preset=papers"])
