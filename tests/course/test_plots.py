"""waelib.course.plots: one colour per model in every panel, and image grids with the right pixels."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.colors import to_rgb

from waelib import evaluate, registry
from waelib.course import figures, plots
from waelib.registry import build_model

LABEL_TO_NAME = {label: name for name, label in registry.THESIS_MODEL_LABELS.items()}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(n, **keys):
    """n log rows with ``step`` and, for each key, a positive decreasing value."""
    return [{"step": i + 1, **{k: scale / (i + 1) for k, scale in keys.items()}} for i in range(n)]


def _wae_histories():
    # WAE-MMD logs no discriminator loss: the disc_loss panel has no WAE-MMD line.
    return {"wae_gan": _history(5, recon=3.0, penalty=0.7, disc_loss=1.4),
            "wae_mmd": _history(5, recon=2.0, penalty=0.1),
            "wae_resnet": _history(5, recon=2.5, penalty=0.6, disc_loss=1.3)}


def _same_colour(a, b) -> bool:
    return to_rgb(a) == pytest.approx(to_rgb(b))


# --------------------------------------------------------------------------------------
# colours
# --------------------------------------------------------------------------------------
def test_every_model_has_one_distinct_colour():
    assert set(registry.MODEL_COLORS) == set(registry.MODEL_NAMES)
    rgbs = {to_rgb(c) for c in registry.MODEL_COLORS.values()}
    assert len(rgbs) == len(registry.MODEL_NAMES), "two models share a colour"
    assert plots.model_color("wae_resnet") == registry.MODEL_COLORS["wae_resnet"]
    with pytest.raises(ValueError, match="valid models: vae, vae_resnet"):
        plots.model_color("vqvae")


def test_training_curves_colour_each_model_the_same_in_every_panel():
    keys = ["recon", "penalty", "disc_loss"]
    fig = plots.training_curves(_wae_histories(), keys)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == keys
    for ax in axes:
        for line in ax.get_lines():
            name = LABEL_TO_NAME[line.get_label()]
            assert _same_colour(line.get_color(), registry.MODEL_COLORS[name]), \
                f"{ax.get_title()}: {name} drawn in {line.get_color()}, not {registry.MODEL_COLORS[name]}"
    # The disc_loss panel lacks WAE-MMD; WAE-ResNet must keep its own colour there (the bug was
    # that it took the next colour of the cycle, the one the legend gives to WAE-MMD).
    disc = {LABEL_TO_NAME[line.get_label()]: line for line in axes[2].get_lines()}
    assert set(disc) == {"wae_gan", "wae_resnet"}
    assert _same_colour(disc["wae_resnet"].get_color(), registry.MODEL_COLORS["wae_resnet"])
    assert not _same_colour(disc["wae_resnet"].get_color(), registry.MODEL_COLORS["wae_mmd"])


def test_training_curves_legend_lists_every_model_with_its_colour():
    histories = _wae_histories()
    for row in histories["wae_resnet"]:
        del row["disc_loss"]
    # the first panel has data of one model only: the legend must still name all three
    fig = plots.training_curves(histories, ["disc_loss", "recon"])
    legend = fig.axes[0].get_legend()
    assert legend is not None
    entries = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert list(entries) == [registry.THESIS_MODEL_LABELS[m] for m in histories]
    for label, handle in entries.items():
        assert _same_colour(handle.get_color(), registry.MODEL_COLORS[LABEL_TO_NAME[label]])
    assert [LABEL_TO_NAME[line.get_label()] for line in fig.axes[0].get_lines()] == ["wae_gan"]


def test_training_curves_values_scales_and_empty_panels():
    histories = {"vae": _history(4, loss=10.0, kl=2.0), "vae_resnet": _history(3, loss=8.0)}
    histories["vae_resnet"][1]["kl"] = None          # a missing value is skipped, not drawn as 0
    fig = plots.training_curves(histories, ["loss", "kl", "penalty"])
    loss_ax, kl_ax, empty_ax = fig.axes
    lines = {LABEL_TO_NAME[line.get_label()]: line for line in loss_ax.get_lines()}
    assert list(lines["vae"].get_xdata()) == [1, 2, 3, 4]
    assert list(lines["vae_resnet"].get_ydata()) == pytest.approx([8.0, 4.0, 8.0 / 3])
    assert loss_ax.get_yscale() == "log" and kl_ax.get_yscale() == "log"
    assert [LABEL_TO_NAME[line.get_label()] for line in kl_ax.get_lines()] == ["vae"]
    assert not empty_ax.get_lines() and "no data" in [t.get_text() for t in empty_ax.texts]
    # a log-scale key with a non-positive value stays linear
    fig = plots.training_curves({"wae_gan": [{"step": 1, "recon": 0.0}, {"step": 2, "recon": 1.0}]},
                                ["recon"])
    assert fig.axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="valid models"):
        plots.training_curves({"nope": _history(2, loss=1.0)}, ["loss"])


# --------------------------------------------------------------------------------------
# image grids
# --------------------------------------------------------------------------------------
def _tile(grid: torch.Tensor, index: int, nrow: int, size: int, pad: int = 2) -> torch.Tensor:
    """Tile ``index`` of an (H, W, 3) grid of make_grid, as (3, size, size)."""
    r, c = divmod(index, nrow)
    y, x = pad + r * (size + pad), pad + c * (size + pad)
    return torch.as_tensor(grid[y:y + size, x:x + size]).permute(2, 0, 1)


def test_show_real_images_shows_the_first_n_images():
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    fig = plots.show_real_images(images, n=5, title="real")
    (ax,) = fig.axes
    grid = torch.as_tensor(ax.images[0].get_array())
    assert grid.shape == (8 + 4, 5 * (8 + 2) + 2, 3)
    for i in range(5):
        assert torch.allclose(_tile(grid, i, 5, 8).float(), images[i].float() / 255)
    assert ax.get_title() == "real"


@pytest.fixture(scope="module")
def tiny_models():
    torch.manual_seed(0)
    return {"vae": build_model("vae", image_size=32, width=0.125).eval(),
            "wae_resnet": build_model("wae_resnet", image_size=32, width=0.125).eval()}


def test_samples_and_reconstructions_grid(tiny_models):
    originals = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8)
    fig = plots.samples_and_reconstructions(tiny_models, originals, n_samples=12, n_originals=5,
                                            nrow=4, seed=3)
    axes = fig.axes
    assert len(axes) == 2 * len(tiny_models)
    tile = 32 + 2
    for row, (name, model) in enumerate(tiny_models.items()):
        left, right = axes[2 * row], axes[2 * row + 1]
        label = registry.THESIS_MODEL_LABELS[name]
        assert left.get_title() == f"{label}: random samples"
        assert right.get_title() == f"{label}: originals | reconstructions"
        samples = torch.as_tensor(left.images[0].get_array())
        assert samples.shape == (3 * tile + 2, 4 * tile + 2, 3)          # 12 samples, 4 per row
        # the plot's own calls (same n, seed and batch): the same pixels
        expected = figures.image_grid(evaluate.generate(model, 12, seed=3), nrow=4)
        assert torch.allclose(samples.float(), expected.float())
        pairs = torch.as_tensor(right.images[0].get_array())
        assert pairs.shape == (3 * tile + 2, 4 * tile + 2, 3)            # 5 originals + 5 reconstructions
        recon = evaluate.reconstruct(model, originals[:5])
        for i in range(5):
            assert torch.allclose(_tile(pairs, 2 * i, 4, 32).float(), originals[i].float() / 255)
            assert torch.allclose(_tile(pairs, 2 * i + 1, 4, 32).float(), recon[i].clamp(0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="at least one model"):
        plots.samples_and_reconstructions({}, originals)


def test_latent_norm_histogram_colours():
    gen = torch.Generator().manual_seed(0)
    codes = {"wae_gan": torch.randn(50, 4, generator=gen), "wae_resnet": 2 * torch.randn(50, 4, generator=gen)}
    fig = plots.latent_norm_histogram(codes, torch.randn(60, 4, generator=gen),
                                      labels={"wae_gan": "WAE (MMD 0.1)"}, prior_label="prior N(0, 2I)")
    (ax,) = fig.axes
    # one bar container per model, in the order given, in the model's colour
    assert len(ax.containers) == 2
    for container, name in zip(ax.containers, codes):
        assert all(_same_colour(b.get_facecolor(), registry.MODEL_COLORS[name]) for b in container.patches)
    legend = {t.get_text(): h for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    assert list(legend) == ["prior N(0, 2I)", "WAE (MMD 0.1)", "WAE-ResNet"]
    assert _same_colour(legend["WAE-ResNet"].get_facecolor(), registry.MODEL_COLORS["wae_resnet"])
