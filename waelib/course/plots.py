"""The figures the training notebooks share: real images, training curves, samples.

Notebooks 03 (VAE, VAE-ResNet) and 04 (WAE, WAE-MMD, WAE-ResNet) draw the same three kinds of
figure for different models. Each is written once here and returns a matplotlib Figure; the
notebook saves it with :func:`waelib.course.figures.save_figure` and shows it.

Every curve or bar of a model is drawn in its one colour, :data:`waelib.registry.MODEL_COLORS`
(:func:`model_color`), and labelled with :data:`waelib.registry.MODEL_LABELS`, so a model
looks the same in every panel and every notebook, also in a panel where another model has no
data (e.g. WAE-MMD has no discriminator loss).

Images are tensors (N, 3, S, S): uint8 in [0, 255] or float in [0, 1] (thesis §4.4).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import evaluate, registry
from .figures import show_images

#: Logged quantities drawn on a log scale (when all their values are positive).
LOG_SCALE_KEYS = ("loss", "recon", "sq_error", "kl")


def model_color(name: str) -> str:
    """The fixed colour of model ``name`` (:data:`waelib.registry.MODEL_COLORS`).

    Raises ValueError naming the valid models for an unknown name.
    """
    try:
        return registry.MODEL_COLORS[name]
    except KeyError:
        raise ValueError(f"no colour for model {name!r}; valid models: "
                         f"{', '.join(registry.MODEL_COLORS)}") from None


def model_label(name: str) -> str:
    """The thesis' name of a model (``"wae_resnet"`` -> ``"WAE-ResNet"``); unknown names as given."""
    return registry.MODEL_LABELS.get(name, name)


def _float_images(images: torch.Tensor) -> torch.Tensor:
    images = torch.as_tensor(images)
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def show_real_images(images: torch.Tensor, *, n: int = 16, title: str = "real held-out images"
                     ) -> Figure:
    """One row of the first ``n`` real images, e.g. the held-out images of a data set.

    Args:
        images: (N, 3, S, S) uint8 in [0, 255] or float in [0, 1]; the first ``min(n, N)`` are shown.
        n: how many images, in one row.
        title: the axes' title.
    Returns:
        the Figure, with one Axes holding the image grid (height S + 4 px, padding included).
    """
    shown = _float_images(images[:n])
    fig, ax = plt.subplots(figsize=(8, 2.2))
    show_images(ax, shown, nrow=len(shown), title=title)
    return fig


def training_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]], keys: Sequence[str], *,
                    log_keys: Iterable[str] = LOG_SCALE_KEYS) -> Figure:
    """One panel per logged quantity, one line per model, against the training step (§4.3).

    Args:
        histories: ``{model name: log rows}``, e.g. ``{m: run.history}`` of
            :func:`waelib.course.experiment.train_and_evaluate`; each row is a dict with ``"step"`` and
            the logged values (``log.jsonl`` of a run). A row without ``key`` is skipped, so a
            model that does not log a quantity simply has no line in that panel.
        keys: the logged quantities, one panel each, left to right (e.g. ``["recon", "penalty",
            "disc_loss"]``).
        log_keys: quantities drawn on a log scale when all their plotted values are positive.
    Returns:
        the Figure. Model ``m``'s line has colour :func:`model_color` (m) and label
        :func:`model_label` (m) in every panel; the first panel's legend lists every model of
        ``histories`` with its colour, whether or not that panel has its line. A panel without
        any data says so.
    """
    keys = list(keys)
    if not keys:
        raise ValueError("training_curves needs at least one key")
    for name in histories:
        model_color(name)  # unknown models fail before anything is drawn
    log_keys = set(log_keys)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        values = []
        for name, history in histories.items():
            rows = [r for r in history if key in r and r[key] is not None]
            if not rows:
                continue
            ys = [float(r[key]) for r in rows]
            values += ys
            ax.plot([r["step"] for r in rows], ys, color=model_color(name), label=model_label(name))
        ax.set_title(key)
        ax.set_xlabel("step")
        if not values:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center",
                    color="0.5")
        elif key in log_keys and min(values) > 0:
            ax.set_yscale("log")
    handles = [Line2D([], [], color=model_color(m), label=model_label(m)) for m in histories]
    if handles:
        axes[0, 0].legend(handles=handles)
    fig.tight_layout()
    return fig


def samples_and_reconstructions(models: Mapping[str, torch.nn.Module], originals: torch.Tensor, *,
                                n_samples: int = 32, n_originals: int = 16, nrow: int = 8,
                                seed: int = 0) -> Figure:
    """For each model, a row of two image grids: random samples, and originals beside their
    reconstructions (thesis §4.4.2 and §4.4.3, Figures 4.2 and 4.3 in small).

    Args:
        models: ``{model name: trained model}`` (any device), one figure row each, in this order.
        originals: (N, 3, S, S) held-out images, uint8 or float in [0, 1]; the first
            ``n_originals`` are reconstructed.
        n_samples: decoded prior draws per model (:func:`waelib.evaluate.generate` with ``seed``,
            so every model decodes codes from the same seeded generator).
        n_originals: images reconstructed per model (:func:`waelib.evaluate.reconstruct`).
        nrow: images per grid row. In the right grid, original i and its reconstruction are
            neighbours: tile 2i is the original, tile 2i + 1 the reconstruction.
        seed: seed of the prior draws.
    Returns:
        the Figure, with an (len(models), 2) array of Axes; each Axes holds one image grid of
        :func:`waelib.course.figures.image_grid` (tiles of S px with 2 px padding).
    """
    if not models:
        raise ValueError("samples_and_reconstructions needs at least one model")
    x = originals[:n_originals]
    n = len(models)
    fig, axes = plt.subplots(n, 2, figsize=(12, 3.1 * n), squeeze=False)
    for row, (name, model) in zip(axes, models.items()):
        label = model_label(name)
        show_images(row[0], evaluate.generate(model, n_samples, seed=seed), nrow=nrow,
                    title=f"{label}: random samples")
        pairs = torch.stack([_float_images(x), evaluate.reconstruct(model, x)], 1).flatten(0, 1)
        show_images(row[1], pairs, nrow=nrow, title=f"{label}: originals | reconstructions")
    fig.tight_layout()
    return fig


def latent_norm_histogram(codes: Mapping[str, torch.Tensor], prior_codes: torch.Tensor, *,
                          labels: Optional[Mapping[str, str]] = None, prior_label: str = "prior",
                          bins: int = 40) -> Figure:
    """Histograms of the code norms ``||z||`` of each model against those of prior draws (§2.2).

    Under the WAE prior N(0, sigma_z^2 I_d) the norm concentrates around ``sigma_z * sqrt(d)``;
    a penalty that matched Q_Z to P_Z puts each model's histogram on top of the prior's.

    Args:
        codes: ``{model name: (N, d) codes Q(x)}`` of held-out images.
        prior_codes: (M, d) draws from the prior, drawn as a black outline.
        labels: optional legend text per model (default: :func:`model_label`).
        prior_label: legend text of the prior.
        bins: histogram bins.
    Returns:
        the Figure; model ``m``'s histogram has colour :func:`model_color` (m).
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.hist(torch.as_tensor(prior_codes).float().norm(dim=1).numpy(), bins=bins, density=True,
            histtype="step", color="k", lw=2, label=prior_label)
    for name, z in codes.items():
        text = (labels or {}).get(name, model_label(name))
        ax.hist(torch.as_tensor(z).float().norm(dim=1).numpy(), bins=bins, density=True,
                alpha=0.45, color=model_color(name), label=text)
    ax.set_xlabel("||z||")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
