"""Tests for waelib.data.synthfaces_known: synthfaces_n8 / synthfaces_n16, faces on a manifold
of known dimension n (seed document 004).  n = the number of continuous renderer inputs that
vary; these tests check that exactly those vary, that each of them is visible in the pixels
and that no two move the pixels in the same direction (numerical rank n)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from waelib import data
from waelib.course import profiles
from waelib.data import synthfaces_known as sk
from waelib.data.synthfaces import hash_uniforms
from waelib.data.synthfaces_render import _to_uint8

DIMS = (8, 16)
#: A Jacobian singular value counts when it is above this fraction of the largest one.  The
#: smallest measured ratio at 32 px is about 0.03 (n = 16) and 0.07 (n = 8); an invisible or
#: duplicated direction gives below 1e-6.
REL_SV_THRESHOLD = 1e-2


# ---------------------------------------------------------------------------------------
# parameters: exactly n inputs vary, over their stated ranges
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_dims", DIMS)
def test_only_the_chosen_parameters_vary_and_cover_their_ranges(n_dims):
    ids = np.arange(3000)
    p = sk.synthfaces_known_params(ids, n_dims, seed=0)
    names = sk.KNOWN_DIM_FACTORS[n_dims]
    assert len(names) == len(set(names)) == n_dims
    assert set(p) == set(data.synthfaces_params([0]))        # every renderer input is set
    for k, v in p.items():
        assert v.shape == (len(ids),) and v.dtype == np.float64, k
        if k in names:
            lo, hi = sk.KNOWN_FACTOR_RANGES[k]
            tol = 0.01 * (hi - lo)
            assert lo <= v.min() <= lo + tol and hi - tol <= v.max() <= hi, (k, v.min(), v.max())
        else:
            assert np.ptp(v) == 0.0, f"{k} varies but is not one of the {n_dims} factors"
    # the fixed template: female, brown hair, nothing optional, nuisance at 0.5, texture (0, 0)
    t = sk.KNOWN_DIM_TEMPLATE
    assert t["Brown_Hair"] == t["No_Beard"] == 1.0 and t["noise_x"] == t["noise_y"] == 0.0
    assert all(t[a] == 0.0 for a in data.SYNTHFACES_ATTR_NAMES if a not in ("Brown_Hair", "No_Beard"))
    # the latent coordinates: (B, n), uniform on [0, 1), coordinates uncorrelated
    z = sk.synthfaces_known_latents(ids, n_dims, seed=0)
    assert z.shape == (len(ids), n_dims) and z.min() >= 0.0 and z.max() < 1.0
    assert np.allclose(z.mean(0), 0.5, atol=0.03)
    corr = np.corrcoef(z.T) - np.eye(n_dims)
    assert np.abs(corr).max() < 0.08
    # the factors are the linear image of the latents
    for j, k in enumerate(names):
        lo, hi = sk.KNOWN_FACTOR_RANGES[k]
        np.testing.assert_allclose(p[k], lo + (hi - lo) * z[:, j])


def test_factor_lists_and_ranges_avoid_wraparound_and_categories():
    assert sk.KNOWN_DIM_FACTORS[16][:8] == sk.KNOWN_DIM_FACTORS[8]
    assert sk.KNOWN_DIM_FACTORS[8] == ("pos_x", "pos_y", "scale", "tilt", "skin_tone", "bg_hue",
                                      "bg_lightness", "light")
    assert sk.KNOWN_FACTOR_RANGES["bg_hue"][1] - sk.KNOWN_FACTOR_RANGES["bg_hue"][0] < 1.0
    assert not {"u_iris", "u_frame", "u_bg_dir", "u_cloth_h", "u_hat_h"} & set(sk.KNOWN_DIM_FACTORS[16])
    with pytest.raises(ValueError, match="valid choices: 8, 16"):
        sk.synthfaces_known_latents([0], 12)


# ---------------------------------------------------------------------------------------
# determinism, seeds, splits
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,n_dims", [("synthfaces_n8", 8), ("synthfaces_n16", 16)])
def test_image_depends_only_on_seed_and_id_and_splits_follow_the_thesis(name, n_dims):
    small = data.load_dataset(name, split="all", image_size=32, n=60)
    big = data.load_dataset(name, split="all", image_size=32, n=90)
    assert isinstance(small, data.SynthFacesKnownDim) and small.true_dim == n_dims
    assert small.name == name and small.factor_names == list(sk.KNOWN_DIM_FACTORS[n_dims])
    a = small.render_batch(np.arange(60))
    assert torch.equal(a, big.render_batch(np.arange(60)))               # not on n
    assert torch.equal(a[[7, 3, 41]], small.render_batch([7, 3, 41]))   # not on the batch
    assert torch.equal(a[5:6], small.render_batch([5]))
    other = data.load_dataset(name, split="all", image_size=32, n=60, seed=1)
    diff = (other.render_batch(np.arange(60)).int() - a.int()).abs().flatten(1).amax(1)
    assert (diff > 0).all()                                              # seeds differ
    # splits: the thesis' split scaled to n, as synthfaces
    n = 60
    tr, te = data.thesis_split_indices(n, data.thesis_n_train(n), seed=3)
    train = data.load_dataset(name, split="train", image_size=32, n=n, split_seed=3)
    test = data.load_dataset(name, split="thesis_test", image_size=32, n=n, split_seed=3)
    assert np.array_equal(train.indices, tr) and np.array_equal(test.indices, te)
    assert len(train) == data.thesis_n_train(n) == 48 and len(test) == 12
    assert torch.equal(train.render_batch(np.arange(len(train))), a[tr])
    assert data.thesis_split_names(name) == ("train", "test")


def test_own_hash_stream_and_n8_is_the_midpoint_slice_of_n16():
    ids = np.arange(200)
    z8, z16 = sk.synthfaces_known_latents(ids, 8), sk.synthfaces_known_latents(ids, 16)
    assert np.array_equal(z8, z16[:, :8])
    for seed in (0, 1):  # not a reuse of the synthfaces stream of any small seed
        for s2 in range(4):
            u = hash_uniforms(s2, ids, 51)
            assert not np.isclose(sk.synthfaces_known_latents(ids, 8, seed)[:, :, None],
                                  u[:, None, :]).all(axis=0).any()
    z = z16.copy()
    z[:, 8:] = 0.5
    assert torch.equal(sk.render_synthfaces_known(z8[:20], 8, 32), sk.render_synthfaces_known(z[:20], 16, 32))


# ---------------------------------------------------------------------------------------
# the true dimension is visible in the pixels
# ---------------------------------------------------------------------------------------
def _jacobian(z0, n_dims, extra=(), size=32, h=0.01):
    return sk.known_jacobian(z0, n_dims, extra, image_size=size, h=h)


@pytest.mark.parametrize("n_dims", DIMS)
def test_finite_difference_jacobian_has_rank_n(n_dims):
    rng = np.random.default_rng(123)
    for _ in range(3):
        z0 = rng.uniform(0.05, 0.95, size=n_dims)
        s = torch.linalg.svdvals(_jacobian(z0, n_dims))
        rel = (s / s[0]).numpy()
        assert rel[-1] > REL_SV_THRESHOLD, f"numerical rank < {n_dims}: {rel.round(4)}"
        # the check can fail: an input the template makes invisible (no hat: its colour) or a
        # repeated direction adds a (near-)zero singular value
        for extra in (("u_hat_h",), (sk.KNOWN_DIM_FACTORS[n_dims][2],)):
            s2 = torch.linalg.svdvals(_jacobian(z0, n_dims, extra=extra))
            assert (s2[-1] / s2[0]).item() < 1e-6


@pytest.mark.parametrize("n_dims", DIMS)
def test_every_factor_is_visible_at_32px(n_dims):
    """Each factor moved over its whole range (the others at 0.5) changes at least 40 pixels
    of the uint8 32 px image by 8 grey levels or more."""
    z = np.full((2 * n_dims, n_dims), 0.5)
    for j in range(n_dims):
        z[2 * j, j], z[2 * j + 1, j] = 0.0, 1.0
    u = sk.render_synthfaces_known(z, n_dims, 32).int()
    changed = ((u[0::2] - u[1::2]).abs().amax(1) >= 8).flatten(1).sum(1)
    weak = {k: int(c) for k, c in zip(sk.KNOWN_DIM_FACTORS[n_dims], changed) if c < 40}
    assert not weak, f"factors hardly visible at 32 px: {weak}"


def test_float_render_rounds_to_the_uint8_images():
    z = sk.synthfaces_known_latents(np.arange(10), 16)
    f = sk.render_synthfaces_known(z, 16, 32, as_float=True)
    assert f.dtype == torch.float32 and f.shape == (10, 3, 32, 32) and 0 <= f.min() and f.max() <= 1
    assert torch.equal(_to_uint8(f), sk.render_synthfaces_known(z, 16, 32))


# ---------------------------------------------------------------------------------------
# registry, errors, training
# ---------------------------------------------------------------------------------------
def test_load_dataset_uint8_fast_path_items_and_errors():
    ds = data.load_dataset("synthfaces_n8", split="train", image_size=32, n=200)
    assert len(ds) == data.thesis_n_train(200) == 160
    x = data.to_uint8_tensor(ds)
    assert x.shape == (160, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(data.to_uint8_tensor(torch.utils.data.Subset(ds, [4, 2])), x[[4, 2]])
    img, target = ds[4]
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
    assert torch.equal(img.mul(255).round().to(torch.uint8), x[4])
    assert set(target) == {"factors", "latent"}
    assert target["factors"].shape == target["latent"].shape == (8,)
    assert target["factors"].dtype == torch.float32
    z = ds.latents([4])[0]
    assert np.allclose(target["latent"].numpy(), z, atol=1e-6)   # float32 of values in [0, 1]: 6e-8
    lo, hi = map(np.array, zip(*(sk.KNOWN_FACTOR_RANGES[k] for k in ds.factor_names)))
    # float32 vs float64 of lo + (hi - lo) z: ~1e-7 x the range
    assert np.allclose(target["factors"].numpy(), lo + (hi - lo) * z, atol=1e-5)
    assert torch.equal(ds.render_latents(ds.latents([4])), x[4:5])
    assert "synthfaces_n8" in repr(ds)
    # the names are everywhere a data set name is accepted
    assert {"synthfaces_n8", "synthfaces_n16"} <= set(data.DATASET_NAMES)
    assert {"synthfaces_n8", "synthfaces_n16"} <= set(profiles.DATASET_CHOICES)
    assert data.load_dataset("synthfaces_n16", split="test", image_size=32, n=50).n_total == 50
    assert data.load_dataset("synthfaces_n16", split="all", image_size=32).n_total == 20_000
    # errors: unknown name, option, split, n
    with pytest.raises(ValueError, match="valid choices: synthfaces, celeba, digits, synthfaces_n8, "
                                         "synthfaces_n16"):
        data.load_dataset("synthfaces_n32")
    with pytest.raises(TypeError, match=r"accepted: \['n', 'seed', 'split_seed'\]"):
        data.load_dataset("synthfaces_n8", crop=140)
    with pytest.raises(ValueError, match="synthfaces_n16 split.*train, test, thesis_train"):
        data.load_dataset("synthfaces_n16", split="valid")
    with pytest.raises(ValueError, match="n >= 1"):
        data.load_dataset("synthfaces_n8", n=0)
    with pytest.raises(ValueError, match=r"\(32, 64, 128\)"):
        data.load_dataset("synthfaces_n8", image_size=16)


def test_experiment_sizes_the_known_dim_set_like_synthfaces():
    from waelib.course.experiment import load_data

    d = load_data({"dataset": "synthfaces_n16", "image_size": 32, "n_train": 40, "n_test": 10})
    assert len(d.train) == 40 and d.test.shape == (10, 3, 32, 32) and d.test.dtype == torch.uint8


def test_a_tiny_training_run_on_synthfaces_n8(tmp_path):
    from waelib.train import fit

    res = fit("wae_mmd", dataset="synthfaces_n8", n=256, image_size=32, width=0.0625, steps=3,
              batch_size=16, out=str(tmp_path / "r"), progress=False, device="cpu", log_every=1,
              sample_every=1000, n_samples=4)
    assert res.step == 3 and not res.interrupted
    assert res.config.dataset == "synthfaces_n8" and res.config.n == 256
    assert res.history and all(math.isfinite(v) for row in res.history for v in row.values()
                               if isinstance(v, float))
    assert res.checkpoint.exists()
