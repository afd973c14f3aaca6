"""`--preset paper`: every model's paper's settings, attached to its registry entry.

gankit's defaults (gankit/algorithms/registry.py) are what measured best on a CPU budget; the
paper preset puts the settings of the paper the model comes from over them, so a run can
reproduce the paper's recipe. Each entry: which paper (and, after a semicolon, where the preset
still differs from the paper because gankit cannot express it), the config keys, and, where the
paper's networks differ from gankit's, a builder used under the paper preset.
The paper preset turns gankit's EMA of G off everywhere but ssgan: none of these papers sampled
from one, and ssgan's tests an average of D (0.9999), which gankit's EMA keeps for G too.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from gankit.models.maxout import MaxoutDiscriminator
from gankit.models.mlp import MLPGenerator

NO_EMA = dict(ema=0.0)
RADFORD = dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, batch_size=128,
               d_steps=1, g_steps=1, depth=0, clusters=0, width=64, z_dim=100, **NO_EMA)


def _goodfellow(hidden_g: tuple[int, ...]) -> Callable:
    """The maxout-D pair of Goodfellow 2014 (and Mirza 2014): G with ReLU layers of `hidden_g`
    units and a sigmoid output (linear on points), D two maxout layers of 240 units x 5 pieces
    with dropout 0.2 on its input and 0.5 on its hidden units."""
    def make(spec):
        from gankit.algorithms.registry import _classes, _mbstd

        def build(cfg, data):
            k = _classes(spec, data, cfg)
            out = "linear" if data.kind == "points" else "sigmoid"
            g = MLPGenerator(cfg.z_dim, data.shape, hidden_g, num_classes=k, act="relu", out=out)
            d = MaxoutDiscriminator(data.shape, (240, 240), 5, num_classes=k, pack=cfg.pack, **_mbstd(cfg))
            return g, d
        return build
    return make


SGD_2014 = dict(optimizer="sgd", lr_d=0.1, lr_g=0.1, momentum=0.5, batch_size=100, d_steps=1, g_steps=1,
                z_dim=100, **NO_EMA)

# model -> (the paper, and where the preset differs from it; settings; paper's networks or None)
PAPERS: dict[str, tuple[str, dict[str, Any], Optional[Callable]]] = {
    "gan": ("Goodfellow et al. 2014, MNIST: SGD 0.1 with momentum 0.5 on batches of 100, k=1, G 1200-1200 "
            "ReLU with a sigmoid output, D two maxout layers (240 units, 5 pieces) with dropout; the paper's "
            "learning-rate decay and momentum ramp (0.5 to 0.7) and its uniform noise are not in gankit "
            "(fixed rate and momentum, normal noise), and the loss stays non-saturating (the paper's "
            "recommendation; --set loss=minimax for its minimax game)",
            dict(SGD_2014, loss="nonsaturating"), _goodfellow((1200, 1200))),
    "cgan": ("Mirza and Osindero 2014, MNIST: SGD 0.1 with momentum 0.5 on batches of 100, maxout D with "
             "dropout; the paper maps z and y through separate first layers (200 and 1000 ReLU units; in D "
             "240x5 and 50x5 maxout units) and joins them, gankit feeds the one-hot label beside the input "
             "of a G with two 1200-unit layers and of the maxout D; no learning-rate decay or momentum ramp",
             dict(SGD_2014), _goodfellow((1200, 1200))),
    "simplegan": ("", {}, None),
    "dcgan": ("Radford et al. 2015: Adam 2e-4, beta1 0.5, batches of 128, one G step, no extra conv blocks "
              "(depth 0), no self-conditioning, no EMA; width 64 (the paper's 64x64 LSUN G starts at 1024 "
              "channels, width 128)", dict(RADFORD), None),
    "cdcgan": ("Radford et al. 2015's settings with Mirza 2014's label input (the projection D is Miyato and "
               "Koyama 2018's)", dict(RADFORD), None),
    "wgan": ("Arjovsky et al. 2017: RMSprop 5e-5, clipping 0.01, 5 critic steps, batches of 64; the paper's "
             "100 critic steps for the first 25 G steps and every 500th are not in gankit",
             dict(optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, clip=0.01, d_steps=5, g_steps=1, batch_size=64,
                  depth=0, **NO_EMA), None),
    "wgan-gp": ("Gulrajani et al. 2017: Adam 1e-4 (0.5, 0.9), lambda 10, 5 critic steps, batches of 64, a "
                "critic without batch norm (layer norm)",
                dict(optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.5, beta2=0.9, gp_weight=10.0, d_steps=5,
                     g_steps=1, batch_size=64, depth=0, **NO_EMA), None),
    "lsgan": ("Mao et al. 2017: Adam 2e-4, beta1 0.5, batches of 64, targets a=0, b=c=1; on DCGAN networks "
              "(the paper's LSUN networks are larger)",
              dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, batch_size=64, d_steps=1,
                   g_steps=1, depth=0, **NO_EMA), None),
    "hinge": ("Miyato et al. 2018 (SN-GAN), the standard CNN with the hinge loss: Adam 2e-4 (0.5, 0.999), "
              "one D step, batches of 64, spectral norm in D",
              dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, batch_size=64, d_steps=1,
                   g_steps=1, depth=0, **NO_EMA), None),
    "acgan": ("Odena et al. 2017: Adam 2e-4, beta1 0.5, batches of 100; on DCGAN networks (the paper's "
              "ImageNet and CIFAR networks are larger)",
              dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999, batch_size=100, depth=0,
                   **NO_EMA), None),
    "infogan": ("Chen et al. 2016, MNIST: 62 noise dimensions, a 10-way and two continuous codes, Adam 2e-4 "
                "for D and 1e-3 for G and Q, beta1 0.5, lambda_cont 0.1, no warped-code term",
                dict(optimizer="adam", lr_d=2e-4, lr_g=1e-3, beta1=0.5, beta2=0.999, batch_size=64, z_dim=62,
                     depth=0, code_augment=0.0, lambda_cont=0.1, lambda_cat=1.0, **NO_EMA), None),
    "ssgan": ("Salimans et al. 2016, MNIST (the released train_mnist_feature_matching.py): Adam 3e-3, beta1 0.5, "
              "batches of 100, 100 latent dimensions, unlabelled term weighted 0.5, D averaged at 0.9999 for testing; "
              "gankit's EMA averages G too and ramps up (the code's average starts from zero), G's latents are "
              "normal (the code: uniform), G's step reuses the D step's real batch (the code draws a second one), "
              "and --labels-per-class stays the user's to give (the paper's Table 1: 2, 5, 10, 20)",
              dict(optimizer="adam", lr_d=3e-3, lr_g=3e-3, beta1=0.5, beta2=0.999, batch_size=100, z_dim=100,
                   d_steps=1, g_steps=1, ema=0.9999, unsup_weight=0.5), None),
    "vae": ("Kingma and Welling 2014: batches of 100, 20 latent dimensions (one of the paper's MNIST sizes); "
            "the paper's MLP encoder and decoder and its Adagrad are not in gankit (conv networks, Adam 1e-3)",
            dict(batch_size=100, z_dim=20), None),
    "autoencoder": ("", {}, None),
    "unrolled": ("Metz et al. 2017's 2-D setting with the networks of its Appendix A (gankit's too): 5 unrolling "
                 "steps of D's Adam with gradients through them, G minimising the whole value function at the "
                 "unrolled D (minimax loss with D's real term; the authors' notebook: -unrolled_loss), Adam 1e-4 (0.5), "
                 "batches of 512, 256 latent dimensions, G 128-128 and D 128 (ReLU, D's input divided by 4, "
                 "orthogonal initialisation with gain 0.8); gankit updates D before G (the code updates both "
                 "from the same state), and on images keeps DCGAN's networks; Metz's ring is dataset ring8-metz",
                 dict(unroll=5, unroll_grad=True, unroll_real=True, loss="minimax", optimizer="adam", lr_d=1e-4,
                      lr_g=1e-4, beta1=0.5, beta2=0.999, batch_size=512, z_dim=256, **NO_EMA), None),
}


def attach(models) -> None:
    """Every registered model's paper preset onto its ModelSpec (`paper`, `paper_note`, and the
    paper's networks under `preset: paper` where they differ from gankit's)."""
    for name, spec in models:
        note, settings, networks = PAPERS.get(name, ("", {}, None))
        spec.paper, spec.paper_note = dict(settings), note
        if networks is not None:
            ours, theirs = spec.build, networks(spec)

            def build(cfg, data, ours=ours, theirs=theirs):
                return theirs(cfg, data) if cfg.preset == "paper" else ours(cfg, data)
            spec.build, spec.paper_networks = build, True
