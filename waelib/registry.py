"""The registry: every model by name, with its networks, defaults, label, colour and objective.

This is the one place that says what a named model is. Everything else (the trainer, the
command line, the notebooks' tables and figures) asks here.

>>> from waelib.registry import build_model, model_spec
>>> model = build_model("wae_resnet", image_size=32, width=0.125)
>>> model_spec("wae_resnet").objective.name
'wae_gan'

| name | label | networks (§) | objective module | latent | group |
| --- | --- | --- | --- | --- | --- |
| ``vae`` | VAE | VAE conv / VAE dec. (§4.3.1) | ``vae``: ELBO (§2.1) | 512 | thesis |
| ``vae_resnet`` | VAE-ResNet | ResNet (§3.2, §4.3.3) / VAE | ``vae`` | 512 | thesis |
| ``wae_gan`` | WAE | DCGAN 5x5 (§4.3.2) | ``wae_gan``: Alg. 2 | 64 | thesis |
| ``wae_mmd`` | WAE-MMD | DCGAN 5x5 | ``wae_mmd``: MMD | 64 | thesis |
| ``wae_resnet`` | WAE-ResNet | ResNet (§3.2, §4.3.4) / DCGAN | ``wae_gan`` | 64 | thesis |
| ``rae`` | RAE | DCGAN 5x5 | ``rae`` | 64 | related |
| ``intro_vae`` | IntroVAE | VAE conv / VAE | ``intro_vae`` | 512 | related |
| ``mask_aae`` | MaskAAE | DCGAN 5x5 + mask | ``mask_aae`` | 64 | related |
| ``beta_vae`` | β-VAE | VAE conv / VAE | ``beta_vae`` | 512 | landscape |
| ``vae_bce`` | VAE (cross-entropy) | VAE conv / VAE | ``vae_bce`` | 512 | landscape |
| ``vae_fixed_var`` | VAE (fixed variance) | VAE conv / VAE | ``vae_fixed_var`` | 512 | landscape |
| ``vae_learned_var`` | VAE (learned variance) | VAE conv / VAE, learned gamma | ``vae_learned_var`` | 512 | landscape |
| ``ae`` | AE | DCGAN 5x5 | ``ae``: RAE with no regulariser | 64 | landscape |
| ``two_stage_vae`` | 2-Stage VAE | VAE conv / VAE + a dense VAE on the codes | ``two_stage_vae`` | 512 | landscape |
| ``vae_vamp`` | VAE-VampPrior | VAE conv / VAE + pseudo-inputs | ``vae_vamp`` | 512 | landscape |
| ``vae_flow`` | VAE + Flow | VAE conv / VAE + an IAF posterior | ``vae_flow`` | 512 | landscape |
| ``vae_iop`` | VAE-IOP | VAE conv / VAE + a density-ratio critic | ``vae_iop`` | 512 | landscape |
| ``injflow`` | InjFlow | DCGAN 5x5 | ``injflow`` | 64 | landscape |
| ``mask_aae_paper`` | MaskAAE (its mask loss) | DCGAN 5x5 + mask | ``mask_aae_paper`` | 64 | landscape |
| ``flexae`` | FlexAE | DCGAN 5x5 + prior generator + critic | ``flexae`` | 64 | landscape |
| ``soft_intro_vae`` | Soft-IntroVAE | VAE conv / VAE | ``soft_intro_vae`` | 512 | landscape |

Groups: ``thesis`` are the thesis' models (WAE-MMD from seeds 002/003, its baseline);
``related`` the related documents' models of notebook 06 (seeds 003, 004); ``landscape`` the
further rows of seed 004's comparison. Each entry's ``objective`` is a class of
:mod:`waelib.objectives`; to add a model, write its objective module and add one entry below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Type

from . import config
from .models import AutoEncoder, Builder, IntroVAE, MaskAAE, vae_builder, wae_builder
from .objectives import ae, flexae, injflow, mask_aae_paper, soft_intro_vae, two_stage_vae, vae_flow, vae_iop, vae_vamp
from .objectives.base import Objective
from .objectives.beta_vae import BetaVAEObjective
from .objectives.intro_vae import IntroVAEObjective
from .objectives.mask_aae import MaskAAEObjective
from .objectives.rae import RAEObjective
from .objectives.vae import VAEObjective
from .objectives.vae_bce import VAEBCEObjective
from .objectives.vae_fixed_var import VAEFixedVarianceObjective
from .objectives.vae_learned_var import LearnedVarianceVAE, VAELearnedVarianceObjective
from .objectives.wae_gan import WAEGANObjective
from .objectives.wae_mmd import WAEMMDObjective

__all__ = ["ModelSpec", "MODEL_REGISTRY", "MODEL_NAMES", "THESIS_MODEL_NAMES", "RELATED_MODEL_NAMES",
           "MODEL_LABELS", "THESIS_MODEL_LABELS", "MODEL_COLORS", "model_spec", "objective_for",
           "build_model", "models_in"]

#: The groups a model can belong to (see the module docstring).
GROUPS: Tuple[str, ...] = ("thesis", "related", "landscape")


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry.

    Attributes:
        name: the registry key (``TrainConfig.model``, ``--model``).
        label: the name figures and tables print (the thesis' where it has one).
        color: the model's one colour in every figure (Matplotlib's tab10/tab20 colours; the
            thesis' proposal is red).
        group: ``"thesis"``, ``"related"`` or ``"landscape"``.
        objective: the :class:`~waelib.objectives.base.Objective` subclass it trains with.
        latent_dim, prior_sigma2: the defaults of :func:`build_model`.
        builder: ``(image_size, latent_dim, width, prior_sigma2, **overrides) -> model``.
        overrides: the extra keyword arguments :func:`build_model` accepts for it.
    """

    name: str
    label: str
    color: str
    group: str
    objective: Type[Objective]
    latent_dim: int
    prior_sigma2: float
    builder: Builder
    overrides: Tuple[str, ...] = ("prior_sigma2",)


_GAN_OVERRIDES = ("prior_sigma2", "disc_hidden", "disc_layers", "encoder_width")


def _entries(*specs: ModelSpec) -> Dict[str, ModelSpec]:
    return {s.name: s for s in specs}


MODEL_REGISTRY: Dict[str, ModelSpec] = _entries(
    # --- the thesis (§4.3) ---
    ModelSpec("vae", "VAE", "#1f77b4", "thesis", VAEObjective, config.VAE_LATENT_DIM,
              config.VAE_PRIOR_SIGMA2, vae_builder("vae", resnet=False)),
    ModelSpec("vae_resnet", "VAE-ResNet", "#ff7f0e", "thesis", VAEObjective, config.VAE_LATENT_DIM,
              config.VAE_PRIOR_SIGMA2, vae_builder("vae_resnet", resnet=True)),
    ModelSpec("wae_gan", "WAE", "#2ca02c", "thesis", WAEGANObjective, config.WAE_LATENT_DIM,
              config.WAE_PRIOR_SIGMA2, wae_builder("wae_gan", resnet=False, adversary=True),
              _GAN_OVERRIDES),
    ModelSpec("wae_mmd", "WAE-MMD", "#9467bd", "thesis", WAEMMDObjective, config.WAE_LATENT_DIM,
              config.WAE_PRIOR_SIGMA2, wae_builder("wae_mmd", resnet=False, adversary=False)),
    ModelSpec("wae_resnet", "WAE-ResNet", "#d62728", "thesis", WAEGANObjective, config.WAE_LATENT_DIM,
              config.WAE_PRIOR_SIGMA2, wae_builder("wae_resnet", resnet=True, adversary=True),
              _GAN_OVERRIDES),
    # --- the related documents (seeds 003, 004; notebook 06) ---
    ModelSpec("rae", "RAE", "#8c564b", "related", RAEObjective, config.WAE_LATENT_DIM,
              config.RAE_PRIOR_SIGMA2, wae_builder("rae", resnet=False, adversary=False)),
    ModelSpec("intro_vae", "IntroVAE", "#e377c2", "related", IntroVAEObjective, config.VAE_LATENT_DIM,
              config.VAE_PRIOR_SIGMA2, vae_builder("intro_vae", resnet=False, cls=IntroVAE)),
    ModelSpec("mask_aae", "MaskAAE", "#17becf", "related", MaskAAEObjective, config.WAE_LATENT_DIM,
              config.WAE_PRIOR_SIGMA2, wae_builder("mask_aae", resnet=False, adversary=True, cls=MaskAAE),
              _GAN_OVERRIDES),
    # --- seed 004's landscape ---
    ModelSpec("beta_vae", "β-VAE", "#bcbd22", "landscape", BetaVAEObjective, config.VAE_LATENT_DIM,
              config.VAE_PRIOR_SIGMA2, vae_builder("beta_vae", resnet=False)),
    ModelSpec("vae_bce", "VAE (cross-entropy)", "#7f7f7f", "landscape", VAEBCEObjective,
              config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2, vae_builder("vae_bce", resnet=False)),
    ModelSpec("vae_fixed_var", "VAE (fixed variance)", "#aec7e8", "landscape",
              VAEFixedVarianceObjective, config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2,
              vae_builder("vae_fixed_var", resnet=False)),
    ModelSpec("vae_learned_var", "VAE (learned variance)", "#393b79", "landscape",
              VAELearnedVarianceObjective, config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2,
              vae_builder("vae_learned_var", resnet=False, cls=LearnedVarianceVAE)),
    ModelSpec("ae", "AE", "#c7c7c7", "landscape", ae.AEObjective, config.WAE_LATENT_DIM,
              config.RAE_PRIOR_SIGMA2, ae.build, ae.OVERRIDES),
    ModelSpec("two_stage_vae", "2-Stage VAE", "#5254a3", "landscape", two_stage_vae.TwoStageVAEObjective,
              config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2, two_stage_vae.build, two_stage_vae.OVERRIDES),
    ModelSpec("vae_vamp", "VAE-VampPrior", "#637939", "landscape", vae_vamp.VampPriorObjective,
              config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2, vae_vamp.build, vae_vamp.OVERRIDES),
    ModelSpec("vae_flow", "VAE + Flow", "#e7ba52", "landscape", vae_flow.VAEFlowObjective,
              config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2, vae_flow.build, vae_flow.OVERRIDES),
    ModelSpec("vae_iop", "VAE-IOP", "#843c39", "landscape", vae_iop.VAEIOPObjective,
              config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2, vae_iop.build, vae_iop.OVERRIDES),
    ModelSpec("injflow", "InjFlow", "#8c6d31", "landscape", injflow.InjFlowObjective,
              config.WAE_LATENT_DIM, config.RAE_PRIOR_SIGMA2, injflow.build, injflow.OVERRIDES),
    ModelSpec("mask_aae_paper", "MaskAAE (its mask loss)", "#9edae5", "landscape",
              mask_aae_paper.MaskAAEPaperObjective, config.WAE_LATENT_DIM, config.WAE_PRIOR_SIGMA2,
              mask_aae_paper.build, mask_aae_paper.OVERRIDES),
    ModelSpec("flexae", "FlexAE", "#7b4173", "landscape", flexae.FlexAEObjective, config.WAE_LATENT_DIM,
              config.RAE_PRIOR_SIGMA2, flexae.build, flexae.OVERRIDES),
    ModelSpec("soft_intro_vae", "Soft-IntroVAE", "#f7b6d2", "landscape", soft_intro_vae.SoftIntroVAEObjective,
              config.VAE_LATENT_DIM, config.VAE_PRIOR_SIGMA2, soft_intro_vae.build, soft_intro_vae.OVERRIDES),
)


def models_in(*groups: str) -> Tuple[str, ...]:
    """The registered names of the given groups, in registry order."""
    for g in groups:
        if g not in GROUPS:
            raise ValueError(f"unknown model group {g!r}; valid choices: {', '.join(GROUPS)}")
    return tuple(n for n, s in MODEL_REGISTRY.items() if s.group in groups)


#: Every registered model.
MODEL_NAMES: Tuple[str, ...] = tuple(MODEL_REGISTRY)
#: The thesis' five models (the rows of its Tables 4.3-4.5, with WAE-MMD as the baseline).
THESIS_MODEL_NAMES: Tuple[str, ...] = models_in("thesis")
#: Notebook 06's models of the related documents (seeds 003, 004).
RELATED_MODEL_NAMES: Tuple[str, ...] = models_in("related")
MODEL_LABELS: Dict[str, str] = {n: s.label for n, s in MODEL_REGISTRY.items()}
THESIS_MODEL_LABELS: Dict[str, str] = {n: MODEL_LABELS[n] for n in THESIS_MODEL_NAMES}
MODEL_COLORS: Dict[str, str] = {n: s.color for n, s in MODEL_REGISTRY.items()}


def model_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; a ValueError listing the valid names otherwise."""
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model name {name!r}; valid choices: {', '.join(MODEL_REGISTRY)}")
    return MODEL_REGISTRY[name]


def objective_for(name: str) -> Type[Objective]:
    """The objective class model ``name`` trains with (never a fall-through: an unknown name
    is the ValueError of :func:`model_spec`)."""
    return model_spec(name).objective


def build_model(name: str, *, image_size: int = config.IMAGE_SIZE, latent_dim: Optional[int] = None,
                width: float = 1.0, **overrides) -> AutoEncoder:
    """Build a model by name, with the thesis configuration as default.

    Args:
        name: a registered name (:data:`MODEL_NAMES`; the table in this module's docstring).
        image_size: 32, 64 or 128 (the thesis uses 128).
        latent_dim: code size; default the entry's (512 for the VAEs, 64 for the WAEs, §4.3).
        width: multiplies every channel count and hidden width (1.0 = thesis); use e.g. 0.125
            for models that train in minutes on a CPU.
        **overrides: the entry's ``overrides``: ``prior_sigma2`` (all), ``disc_hidden`` /
            ``disc_layers`` and ``encoder_width`` (the encoder's own width; the GAN-penalty
            models).

    Raises:
        ValueError: for an unknown name, image size, width or override, listing the choices.
    """
    spec = model_spec(name)
    if image_size not in config.SUPPORTED_IMAGE_SIZES:
        raise ValueError(f"unsupported image_size={image_size!r}; valid choices: "
                         f"{', '.join(map(str, config.SUPPORTED_IMAGE_SIZES))}")
    if not (isinstance(width, (int, float)) and 0 < width <= 4):
        raise ValueError(f"width must be a number in (0, 4], got {width!r}")
    unknown = set(overrides) - set(spec.overrides)
    if unknown:
        raise ValueError(f"unknown override(s) {sorted(unknown)} for model {name!r}; "
                         f"valid: {', '.join(spec.overrides)}")
    latent_dim = int(latent_dim or spec.latent_dim)
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    prior_sigma2 = float(overrides.pop("prior_sigma2", spec.prior_sigma2))
    return spec.builder(image_size, latent_dim, float(width), prior_sigma2, **overrides)
