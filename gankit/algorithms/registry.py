"""MODELS: every model by name: its algorithm, its networks, and the defaults that make it train
well. Why each default is what it is, with the measurements, is in docs/benchmarks.md."""

from __future__ import annotations

from gankit.algorithms import acgan, infogan, ssgan, vae
from gankit.algorithms.gan import GAN
from gankit.errors import UserError
from gankit.models.base import ModelSpec
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.models.mlp import MLPDiscriminator, MLPGenerator, orthogonal_init
from gankit.registry import Registry

MODELS: Registry[ModelSpec] = Registry("model", "gankit models")


def _classes(spec: ModelSpec, data, cfg) -> int:
    """How many labels G and D take: the dataset's classes for conditional models, the clusters
    for self-conditioned ones (cfg.clusters > 0), else none."""
    if cfg.clusters:
        if spec.conditional:
            raise UserError(f"{spec.name} is already class-conditional; --set clusters is for "
                            "unconditional models (gan, dcgan, wgan, wgan-gp, lsgan, hinge, unrolled)")
        return cfg.clusters
    if not spec.conditional:
        return 0
    if data.num_classes < 2:
        raise UserError(
            f"{spec.name} is class-conditional but dataset {data.name!r} has no labels; "
            "use an unconditional model or a labelled dataset"
        )
    return data.num_classes


def _mbstd(cfg) -> dict:
    """The minibatch-statistics keys of a discriminator (models/base.py's MinibatchStd and
    MinibatchDiscrimination)."""
    return dict(mbstd=cfg.mbstd, mbstd_group=cfg.mbstd_group, mbdisc=cfg.mbdisc)


def _mlp_hidden(data, images: tuple[int, ...], points: tuple[int, ...]) -> tuple[int, ...]:
    return points if data.kind == "points" else images


def _build_vanilla(spec: ModelSpec):
    def build(cfg, data):
        k = _classes(spec, data, cfg)
        out = "linear" if data.kind == "points" else "tanh"
        # batch norm and LeakyReLU in G, a projection D: without them G ran away from D's gradients on
        # MNIST (4-5 of 10 classes, labels ignored); measured in docs/benchmarks.md
        images = data.kind == "image"
        g = MLPGenerator(cfg.z_dim, data.shape, _mlp_hidden(data, (256, 512, 1024), (128, 128, 128)),
                         num_classes=k, batchnorm=images, act="lrelu" if images else "relu", out=out)
        d = MLPDiscriminator(data.shape, _mlp_hidden(data, (1024, 512, 256), (128, 128, 128)),
                             num_classes=k, dropout=0.3 if images else 0.0, pack=cfg.pack,
                             cond="projection", **_mbstd(cfg))
        return g, d
    return build


def _build_simple(cfg, data):
    if cfg.clusters:
        raise UserError("simplegan takes no labels, so it cannot self-condition; drop --set clusters "
                        "or use dcgan")
    out = "linear" if data.kind == "points" else "sigmoid"
    g = MLPGenerator(cfg.z_dim, data.shape, _mlp_hidden(data, (256, 512, 1024), (128, 128, 128)),
                     batchnorm=True, act="relu", out=out)
    d = MLPDiscriminator(data.shape, _mlp_hidden(data, (512, 256), (128, 128)), pack=cfg.pack, **_mbstd(cfg))
    return g, d


def _build_dcgan(spec: ModelSpec, d_norm: str):
    def build(cfg, data):
        k = _classes(spec, data, cfg)
        if data.kind == "points":  # conv nets need images; points get the MLP pair
            g = MLPGenerator(cfg.z_dim, data.shape, (128, 128, 128), num_classes=k, out="linear")
            return g, MLPDiscriminator(data.shape, (128, 128, 128), num_classes=k, pack=cfg.pack, **_mbstd(cfg))
        g = DCGANGenerator(cfg.z_dim, data.shape, cfg.width, num_classes=k, depth=cfg.depth)
        d = DCGANDiscriminator(data.shape, cfg.d_width or cfg.width, num_classes=k, norm=cfg.d_norm or d_norm,
                               pack=cfg.pack, depth=cfg.depth, **_mbstd(cfg))
        return g, d
    return build


def _build_unrolled(spec: ModelSpec):
    """Metz et al. 2017's 2-D networks as its Appendix A gives them: on points, G two
    hidden layers of 128 ReLU units and a linear output, D one hidden layer of 128 ReLU units
    reading its input divided by 4, every layer orthogonal with gain 0.8 and zero biases; on
    images, DCGAN's pair."""
    conv = _build_dcgan(spec, "batch")

    def build(cfg, data):
        if data.kind != "points":
            return conv(cfg, data)
        k = _classes(spec, data, cfg)
        g = MLPGenerator(cfg.z_dim, data.shape, (128, 128), num_classes=k, act="relu", out="linear")
        d = MLPDiscriminator(data.shape, (128,), num_classes=k, pack=cfg.pack, act="relu", in_scale=0.25,
                             **_mbstd(cfg))
        return orthogonal_init(g, 0.8), orthogonal_init(d, 0.8)
    return build


ADAM_DCGAN = dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.5, beta2=0.999)


def _register_all() -> None:
    def reg(name, description, conditional, kinds, make_build, per_dataset=None, algorithm=GAN, **defaults):
        spec = ModelSpec(name, description, build=None, algorithm=algorithm, conditional=conditional,
                         kinds=kinds, defaults=defaults, dataset_defaults=per_dataset or {})
        spec.build = make_build(spec)
        MODELS.register(name, spec)

    # the MLPs on (Fashion-)MNIST: batches of 128 at Adam 5e-4 (measured in docs/benchmarks.md: after
    # 90 s cgan follows 92.8-93.6% of its labels over three seeds with fused Adam, against 84.5% on 64
    # at 2e-4 before it, and gan covers all ten classes)
    mlp_images = {"mnist": dict(batch_size=128, lr_d=5e-4, lr_g=5e-4),
                  "fashion-mnist": dict(batch_size=128, lr_d=5e-4, lr_g=5e-4)}
    # on PacGAN's 2-D mixtures G reads a 2-D latent, as PacGAN's G does (measured in
    # docs/benchmarks.md, ten seeds of 20,000 steps: ring8 8.0 modes and 96% high-quality samples
    # against 4.9 and 58% with 100-D, grid25 20.4 modes and 50% against 16.4 and 15%), and the
    # default run is the measured one: 13 epochs of 100,000 points, 20,300 steps of 64 (about a
    # minute of one thread); the 5-epoch floor left grid25 at 17% high-quality samples
    on_mixtures = dict(z_dim=2, auto_images=1_280_000)
    reg("gan", "vanilla GAN (Goodfellow 2014): MLP G (batch norm on images) and D, non-saturating or minimax "
        "loss, k D steps; a 2-D latent on ring8 and grid25",
        False, ("image", "points"), _build_vanilla,
        per_dataset={**mlp_images, "ring8": on_mixtures, "grid25": on_mixtures}, objective="gan", **ADAM_DCGAN)
    reg("simplegan", "dense GAN: batch-norm MLP G (ReLU, sigmoid output), LeakyReLU D",
        False, ("image", "points"), lambda spec: _build_simple, objective="gan", **ADAM_DCGAN)
    reg("cgan", "conditional GAN (Mirza 2014): MLP G given the one-hot label, projection MLP D",
        True, ("image", "points"), _build_vanilla, per_dataset=mlp_images, objective="gan", **ADAM_DCGAN)
    # dcgan's defaults (measured in docs/benchmarks.md): two G steps per D step (more even
    # classes), depth 1, Adam at ten times the paper's rate on batches of 32. On the 1,797 digits
    # the first run must be short on any CPU: half the work per image (depth 0, one G step) for 60
    # epochs (86k images) at that rate, which over the old 209 epochs let D memorise the set. On
    # (Fashion-)MNIST self-conditioning on 200 k-means clusters; fused Adam and channels_last win
    # back the cluster weights' cost (the same updates).
    reg("dcgan", "DCGAN (Radford 2015): strided convs, batch norm, Adam(2e-3, 0.5) on batches of 32, "
        "2 G steps per D step, depth 1; on (Fashion-)MNIST self-conditioned on 200 k-means clusters",
        False, ("image",), lambda spec: _build_dcgan(spec, "batch"), objective="gan", g_steps=2, depth=1,
        per_dataset={"digits": dict(depth=0, g_steps=1, auto_images=86_000), "mnist": dict(clusters=200),
                     "fashion-mnist": dict(clusters=200)},
        **{**ADAM_DCGAN, "lr_d": 2e-3, "lr_g": 2e-3}, batch_size=32, channels_last=True)
    # cdcgan at five times the paper's rate: on MNIST after 90k images (5 minutes of a 2-core CPU
    # without bf16) 98.0% label accuracy and FID 1.21, against 93.4% and 5.17 at 2e-4
    reg("cdcgan", "conditional DCGAN: label into G, projection discriminator, Adam(1e-3, 0.5)",
        True, ("image",), lambda spec: _build_dcgan(spec, "batch"), objective="gan",
        **{**ADAM_DCGAN, "lr_d": 1e-3, "lr_g": 1e-3})
    # wgan on (Fashion-)MNIST: RMSprop at four times the paper's rate with 2 critic steps per G step
    # (measured in docs/benchmarks.md: after 5 minutes of a 2-core CPU without bf16, MNIST FID 26.8-27.8
    # and recall 0.55-0.58 over three seeds, against 56.9-58.3 and 0.02-0.08 with the paper's 5e-5
    # and 5 critic steps, still improving at 20 minutes; Fashion-MNIST FID 28.9 against 60.4);
    # elsewhere the paper's settings, unmeasured; wgan-gp measured best with the same three keys
    wgan_images = {ds: dict(lr_d=2e-4, lr_g=2e-4, d_steps=2) for ds in ("mnist", "fashion-mnist")}
    reg("wgan", "WGAN (Arjovsky 2017): DCGAN critic, weight clipping 0.01, RMSprop 5e-5, 5 critic steps; "
        "on (Fashion-)MNIST RMSprop 2e-4 and 2 critic steps",
        False, ("image", "points"), lambda spec: _build_dcgan(spec, "batch"), objective="wgan", loss="wasserstein",
        per_dataset=wgan_images, optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, d_steps=5, clip=0.01)
    # wgan-gp on (Fashion-)MNIST: Adam at twice the paper's rate with 2 critic steps (docs/benchmarks.md:
    # after 5 minutes of a 2-core CPU without bf16, MNIST FID 24.9-26.8 and recall 0.56-0.60 over three
    # seeds, against 46.1 and 53.8 and 0.13-0.20 over two with the paper's 1e-4 and 5 critic steps;
    # Fashion-MNIST FID 34.3 against 53.6); elsewhere the paper's settings, unmeasured
    reg("wgan-gp", "WGAN-GP (Gulrajani 2017): layer-norm critic, gradient penalty 10, Adam(1e-4, 0.5, 0.9), 5 critic "
        "steps; on (Fashion-)MNIST Adam 2e-4 and 2 critic steps",
        False, ("image", "points"), lambda spec: _build_dcgan(spec, "layer"), objective="wgan-gp", loss="wasserstein",
        per_dataset=wgan_images,
        optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.5, beta2=0.9, d_steps=5, gp_weight=10.0)
    reg("lsgan", "LSGAN (Mao 2017): DCGAN networks, least-squares loss (targets 1 and 0), Adam(2e-4, 0.5)",
        False, ("image", "points"), lambda spec: _build_dcgan(spec, "batch"), objective="gan",
        loss="least-squares", **ADAM_DCGAN)
    reg("hinge", "hinge GAN (Lim 2017; Miyato 2018): DCGAN networks, spectral-norm D, hinge loss, "
        "Adam(2e-4, 0.5, 0.999)", False, ("image", "points"), lambda spec: _build_dcgan(spec, "spectral"),
        objective="gan", loss="hinge", **ADAM_DCGAN)
    # the paper's 2-D setting (its Appendix A and the authors' notebook): Adam 1e-4, beta1 0.5, batches of
    # 512, 256 latent dimensions, 5 unrolling steps with gradients through them, G minimising the
    # value function at the unrolled D (minimax with D's real term): with gankit's LeakyReLU MLPs and
    # the non-saturating loss G hopped between modes and ended on none (docs/benchmarks.md)
    reg("unrolled", "Unrolled GAN (Metz 2017): G's loss through D unrolled 5 steps of D's own Adam, "
        "second-order; Metz's MLPs on points (G 128-128, D 128), DCGAN networks on images; any GAN model "
        "takes --set unroll=K", False, ("image", "points"), _build_unrolled, objective="gan", unroll=5,
        loss="minimax", optimizer="adam", lr_d=1e-4, lr_g=1e-4, beta1=0.5, beta2=0.999, batch_size=512,
        z_dim=256)
    reg("acgan", "AC-GAN (Odena 2017): conditional DCGAN G, D with a source head and an auxiliary "
        "class head", True, ("image",), lambda spec: acgan.build, algorithm=acgan.ACGAN, objective="gan",
        **ADAM_DCGAN)
    # the paper's MNIST settings: 62 noise dimensions, Adam 2e-4 for D and 1e-3 for G and Q
    reg("infogan", "InfoGAN (Chen 2016): DCGAN G and D, a Q head on D's body reading back a 10-way "
        "categorical and 2 continuous latent codes", False, ("image",), lambda spec: infogan.build,
        algorithm=infogan.InfoGAN, objective="gan", **{**ADAM_DCGAN, "lr_g": 1e-3}, z_dim=62)
    # the paper's released MNIST settings (train_mnist_feature_matching.py): Adam 3e-3 (beta1 0.5) on
    # batches of 100, 100 latent dimensions; not yet tuned on gankit's budgets. No divergence check by
    # D's wins: feature matching's G loss does not saturate when D tells its samples apart. fp32: the
    # MLPs train as fast as under bf16 on a bf16 CPU, and D learned slower in bf16 (seed 0, 100
    # labels: 1,496 test errors at step 2,400 against fp32's 962; docs/benchmarks.md)
    reg("ssgan", "semi-supervised GAN (Salimans 2016): D a K-class classifier (real vs fake from its logits) on "
        "--labels-per-class labelled and all unlabelled images, G by feature matching; MLPs (weight-norm D with "
        "Gaussian noise); eval scores D's test accuracy", False, ("image",), lambda spec: ssgan.build,
        algorithm=ssgan.SSGAN, objective="gan", optimizer="adam", lr_d=3e-3, lr_g=3e-3, beta1=0.5, beta2=0.999,
        batch_size=100, z_dim=100, d_win_steps=0, precision="fp32")
    # the VAE's usual optimiser (Adam 1e-3, default betas) on batches of 128; one rate, lr_g, for
    # E and G together; 32 latent dimensions; width 32 (a quarter of width 64's convolution FLOPs,
    # for training and for the IWAE estimate's thousands of decodes per image on a CPU); no EMA
    coder = dict(optimizer="adam", lr_g=1e-3, beta1=0.9, beta2=0.999, batch_size=128, z_dim=32, width=32,
                 ema=0.0)
    reg("vae", "VAE (Kingma 2014): conv encoder and Bernoulli conv decoder, -ELBO on dynamically "
        "binarized images, Adam(1e-3) on batches of 128, 32 latents, width 32; eval adds the IWAE test "
        "log-likelihood", False, ("image",), lambda spec: vae.build_vae, algorithm=vae.VAE, **coder)
    reg("autoencoder", "plain autoencoder: the vae's networks, a 32-d code, Bernoulli cross-entropy "
        "on grey levels; samples from a Gaussian fitted to the training codes", False, ("image",),
        lambda spec: vae.build_autoencoder, algorithm=vae.Autoencoder, **coder)


_register_all()
