"""Ex-post GMM sampling (seed 004, RAE + GMM) and the latent measures NAC / m_A (waelib.expost)."""
import json

import numpy as np
import pytest
import torch

from waelib import evaluate, expost, metrics
from waelib.registry import build_model

W = np.array([0.5, 0.3, 0.2])


def _mixture(d: int, seed: int = 0):
    """A well-separated 3-component mixture in d dimensions: weights, means, covariances."""
    rng = np.random.default_rng(seed)
    means = np.zeros((3, d))
    means[0, 0], means[1, 0], means[2, 1] = -6.0, 6.0, 8.0
    covs = []
    for k in range(3):
        a = rng.normal(size=(d, d)) * 0.4
        covs.append(a @ a.T + (0.5 + 0.5 * k) * np.eye(d))
    return W, means, np.stack(covs)


def _draw(n: int, w, means, covs, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(w), size=n, p=w)
    out = np.empty((n, means.shape[1]))
    for k in range(len(w)):
        idx = comp == k
        out[idx] = rng.multivariate_normal(means[k], covs[k], size=int(idx.sum()))
    return out


@pytest.mark.parametrize("d", [2, 4])
def test_fit_gmm_recovers_a_known_mixture(d):
    w, means, covs = _mixture(d)
    n = 6000
    gmm = expost.fit_gmm(torch.from_numpy(_draw(n, w, means, covs)), n_components=3, seed=0)
    assert gmm.weights.dtype == gmm.means.dtype == gmm.scale_tril.dtype == torch.float64
    assert gmm.settings["converged"] and gmm.settings["n_train"] == n
    got_mu, got_cov = gmm.means.numpy(), gmm.covariances.numpy()
    for k in range(3):  # match components by nearest mean
        j = int(np.argmin(np.linalg.norm(got_mu - means[k], axis=1)))
        nk = n * w[k]
        # weight: SE sqrt(w(1-w)/n) <= 0.0065 -> 0.03; mean: SE sqrt(max var / nk) <= 0.05 ->
        # 0.25; covariance entries: SE about var * sqrt(2 / nk) <= 0.2 -> 0.6 (about 3-5 SE).
        assert gmm.weights[j].item() == pytest.approx(w[k], abs=0.03)
        assert np.abs(got_mu[j] - means[k]).max() < 5 * np.sqrt(covs[k].diagonal().max() / nk)
        assert np.abs(got_cov[j] - covs[k]).max() < 3 * covs[k].diagonal().max() * np.sqrt(2 / nk)


def _known_sampler(d: int = 3) -> expost.GaussianMixtureSampler:
    w, means, covs = _mixture(d)
    return expost.GaussianMixtureSampler(torch.tensor(w), torch.tensor(means),
                                    torch.linalg.cholesky(torch.tensor(covs)))


def test_sample_is_seeded_and_has_the_mixture_moments():
    s = _known_sampler()
    a = s.sample(1000, torch.Generator().manual_seed(3))
    assert a.shape == (1000, 3) and a.dtype == torch.float32
    assert torch.equal(a, s.sample(1000, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, s.sample(1000, torch.Generator().manual_seed(4)))

    n = 100_000
    z = s.sample(n, torch.Generator().manual_seed(0)).double()
    w, mu, cov = s.weights, s.means, s.covariances
    mean = w @ mu
    second = (w[:, None, None] * (cov + mu[:, :, None] * mu[:, None, :])).sum(0)
    true_cov = second - torch.outer(mean, mean)
    c = z - z.mean(0)
    emp_cov = c.T @ c / (n - 1)
    se_mean = z.std(0) / n ** 0.5
    # SE of each covariance entry: the SD of the products (z_i - m_i)(z_j - m_j) over sqrt(n).
    se_cov = (c[:, :, None] * c[:, None, :]).std(0) / n ** 0.5
    assert ((z.mean(0) - mean).abs() < 5 * se_mean).all()
    assert ((emp_cov - true_cov).abs() < 5 * se_cov).all()
    # the components are drawn with the mixture weights
    comp = torch.cdist(z, mu).argmin(1)
    props = torch.bincount(comp, minlength=3).double() / n
    assert ((props - w).abs() < 0.01).all()


@pytest.mark.parametrize("cov_type", expost.COVARIANCE_TYPES)
def test_log_prob_equals_sklearn_score_samples(cov_type):
    w, means, covs = _mixture(4)
    x = _draw(2000, w, means, covs)
    gmm = expost.fit_gmm(torch.from_numpy(x), n_components=3, covariance_type=cov_type, seed=1)
    q = np.concatenate([x[:300], _draw(200, w, means * 1.5, covs, seed=7)])
    # Two float64 implementations (ours from the Cholesky factor, sklearn's from the precision's):
    # log-densities of size ~10 agree to ~1e-12 (rounding times the covariances' condition).
    np.testing.assert_allclose(gmm.log_prob(torch.from_numpy(q)).numpy(),
                               gmm.estimator.score_samples(q), rtol=0, atol=1e-8)
    assert gmm.train_log_likelihood == pytest.approx(gmm.estimator.score_samples(x).mean(), abs=1e-10)


def test_to_dict_round_trips_through_json():
    w, means, covs = _mixture(3)
    x = torch.from_numpy(_draw(1500, w, means, covs))
    gmm = expost.fit_gmm(x, n_components=3, seed=0)
    back = expost.GaussianMixtureSampler.from_dict(json.loads(json.dumps(gmm.to_dict())))
    assert back.settings == gmm.settings and back.estimator is None
    # JSON keeps every float64 exactly, so this is equal in practice (1e-9: no exactness claim
    # on the Cholesky re-derivation from_dict may do)
    torch.testing.assert_close(back.log_prob(x), gmm.log_prob(x), rtol=0, atol=1e-9)
    torch.testing.assert_close(back.sample(50, torch.Generator().manual_seed(0)),
                               gmm.sample(50, torch.Generator().manual_seed(0)))


def test_fit_gmm_rejects_bad_input_with_one_clear_line():
    codes = torch.randn(50, 4)
    codes[3, 1] = float("nan")
    codes[7, 0] = float("inf")
    with pytest.raises(ValueError, match=r"2 non-finite values \(NaN/inf\) in 2 of 50 rows") as e:
        expost.fit_gmm(codes)
    assert "\n" not in str(e.value) and "retrain" in str(e.value)
    with pytest.raises(ValueError, match="at least 10 codes"):
        expost.fit_gmm(torch.randn(5, 4))
    with pytest.raises(ValueError, match="full, tied, diag, spherical"):
        expost.fit_gmm(torch.randn(50, 4), covariance_type="banded")


def _brute_nac(x: np.ndarray) -> float:
    c = np.corrcoef(x, rowvar=False)
    return float(np.abs(c[~np.eye(len(c), dtype=bool)]).mean())


def test_nac_matches_numpy_and_is_near_zero_for_independent_codes():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(6, 6, generator=g)
    corr_codes = torch.randn(3000, 6, generator=g) @ mix
    assert expost.normalized_absolute_correlation(corr_codes) == pytest.approx(
        _brute_nac(corr_codes.numpy().astype(np.float64)), abs=1e-10)
    # without constant dimensions it agrees with waelib.metrics.nac
    assert expost.normalized_absolute_correlation(corr_codes) == pytest.approx(metrics.nac(corr_codes), abs=1e-10)
    assert expost.normalized_absolute_correlation(torch.randn(20_000, 16, generator=g)) < 0.02
    x = torch.randn(500, 3, generator=g)
    # 6 of the 30 ordered pairs, (i, i+3) and (i+3, i), have |corr| = 1: NAC = 0.2 + noise
    assert 0.2 <= expost.normalized_absolute_correlation(torch.cat([x, -2 * x], 1)) < 0.25


def test_nac_excludes_constant_and_inactive_dimensions():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 5, generator=g) @ torch.randn(5, 5, generator=g)
    ref = _brute_nac(x.numpy().astype(np.float64))
    masked = torch.cat([x[:, :2], torch.zeros(2000, 1), x[:, 2:], torch.full((2000, 1), 3.7)], 1)
    got = expost.normalized_absolute_correlation(masked)
    assert np.isfinite(got) and got == pytest.approx(ref, abs=1e-10)
    # an explicit mask drops dimension 0 as well
    active = torch.tensor([False, True, True, True, True, True, True])
    assert expost.normalized_absolute_correlation(masked, active) == pytest.approx(
        _brute_nac(x[:, 1:].numpy().astype(np.float64)), abs=1e-10)
    with pytest.raises(ValueError, match="at least 2 non-constant"):
        expost.normalized_absolute_correlation(torch.cat([x[:, :1], torch.zeros(2000, 3)], 1))
    with pytest.raises(ValueError, match="7 dimensions"):
        expost.normalized_absolute_correlation(masked, active[:3])


def test_active_dimensions_counts_scaled_and_zero_columns():
    z = torch.randn(1000, 10)
    z[:, [1, 4, 8]] *= 1e-6
    z[:, 6] = 0.0
    assert expost.active_dimensions(z) == 6
    assert expost.active_mask(z).tolist() == [True, False, True, True, False, True, False, True, False, True]
    assert expost.active_dimensions(z, rel_threshold=1e-9) == 9  # the scaled columns count, 0 never
    assert expost.active_dimensions(torch.zeros(100, 4)) == 0
    assert expost.active_dimensions(torch.randn(100, 4) * torch.tensor([1.0, 2.0, 3.0, 4.0])) == 4


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build_model("wae_mmd", image_size=32, width=0.0625).eval()
    train = (torch.rand(60, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 255).to(torch.uint8)
    return model, train


def test_expost_model_generates_decoded_gmm_draws(tiny):
    model, train = tiny
    wrapped = expost.fit_expost(model, train, n_components=3, seed=0, batch_size=16)
    assert wrapped.name == "wae_mmd+gmm"
    assert wrapped.latent_dim == model.latent_dim == 64 and wrapped.image_size == 32
    codes = expost.latent_codes(model, train)
    s = wrapped.sampler
    assert s.settings["n_train"] == 60
    # EM's M-step: the weighted component means average to the mean of the training codes
    # (EM in float64 vs a float32 mean of 60 codes of size ~1: ~1e-7; 1e-5 leaves 100x).
    torch.testing.assert_close((s.weights @ s.means).float(), codes.mean(0), rtol=0, atol=1e-5)

    out = evaluate.generate(wrapped, 8, seed=0)
    assert out.shape == (8, 3, 32, 32) and 0 <= out.min() and out.max() <= 1
    with torch.no_grad():
        ref = model.decode(s.sample(8, torch.Generator().manual_seed(0)))
    torch.testing.assert_close(out, ref, rtol=0, atol=0)   # the same draws, decoded in one batch of 8
    assert not torch.allclose(out, evaluate.generate(model, 8, seed=0))  # not the prior's samples
    z = wrapped.sample_prior(5, generator=torch.Generator().manual_seed(0))
    assert z.dtype == torch.float32 and z.device == next(model.parameters()).device
    x = train[:4].float() / 255
    with torch.no_grad():
        # the wrapper delegates: the same modules on the same batch, bit for bit
        torch.testing.assert_close(wrapped.reconstruct(x), model.reconstruct(x), rtol=0, atol=0)
        torch.testing.assert_close(wrapped.encode(x), model.encode(x), rtol=0, atol=0)


def test_evaluate_model_runs_on_the_wrapped_model(tiny):
    model, train = tiny
    wrapped = expost.ExPostModel(model, expost.fit_gmm(expost.latent_codes(model, train), n_components=2))
    torch.manual_seed(0)
    extractor = metrics.ClassifierFeatures(metrics.AttributeCNN(n_attr=4, feature_dim=16), name="random_test_net")
    test_images = (torch.rand(40, 3, 32, 32) * 255).to(torch.uint8)
    ref = metrics.compute_statistics(test_images[20:], extractor, label="fake-test-set")
    ev = evaluate.evaluate_model(wrapped, test_images, extractor=extractor, reference=ref, n_fid=12,
                          n_samples=20, n_recon=20, n_interp_pairs=4, steps=5, n_diversity_pairs=10)
    assert ev["model"] == "wae_mmd+gmm"
    assert ev["samples"]["fid"]["n_fake"] == 12 and ev["samples"]["fid"]["value"] > 0
    # the table's samples are the decoded GMM draws, its reconstructions the model's own
    # Recomputed along evaluate_model's own path (the same batch size, hence the same kernels and
    # the same float64 mean): equal bit for bit.
    samples = evaluate.generate(wrapped, 20, seed=0, batch_size=256)
    assert ev["samples"]["sharpness"] == metrics.sharpness(samples).mean().item()
    assert ev["samples"]["sharpness"] != pytest.approx(
        metrics.sharpness(evaluate.generate(model, 20, seed=0)).mean().item(), rel=1e-3)
    real = test_images[:20]
    rmse = metrics.rmse(metrics.to_float_images(real), evaluate.reconstruct(model, real, batch_size=256)).mean().item()
    assert ev["reconstructions"]["rmse"] == rmse              # the same path, as above
    with pytest.raises(ValueError, match="64-d"):
        expost.ExPostModel(model, expost.fit_gmm(torch.randn(30, 3), n_components=2))


def test_latent_codes_carry_no_gradient():
    """The codes are data for plots and density fits: computed under no_grad (a lost decorator
    once made notebook 04's histogram fail on a tensor that required grad)."""
    model = build_model("wae_mmd", image_size=32, width=0.0625)
    codes = expost.latent_codes(model, torch.rand(4, 3, 32, 32))
    assert codes.shape == (4, 64) and not codes.requires_grad
