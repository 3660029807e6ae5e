"""The evaluation protocol of Tables 4.3-4.5 / Figures 4.1-4.3 (waelib.evaluate)."""
import pytest
import torch

from waelib import config, evaluate, metrics
from waelib.registry import build_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("wae_gan", image_size=32, width=0.0625).eval()


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return metrics.ClassifierFeatures(metrics.AttributeCNN(n_attr=4, feature_dim=16), name="random_test_net")


def test_interpolation_rows_start_and_end_on_the_real_images(model):
    a, b = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    rows = evaluate.interpolation_rows(model, a, b, steps=5)
    assert rows.shape == (3, 5, 3, 32, 32)
    torch.testing.assert_close(rows[:, 0], a)
    torch.testing.assert_close(rows[:, -1], b)
    # The middle of an odd row decodes the midpoint of the two codes.
    with torch.no_grad():
        mid = model.decode(0.5 * (model.encode(a) + model.encode(b)))
    # Another path: t = linspace(0, 1, 5)[2] and (1 - t) za + t zb vs 0.5 (za + zb) (1-ulp code
    # differences), decoded in a batch of 9 vs 3 (other GEMM blocking): fp32 rounding through a
    # few layers, ~1e-6 on [0, 1] pixels; 1e-5 absolute leaves 10x.
    torch.testing.assert_close(rows[:, 2], mid, rtol=1e-4, atol=1e-5)


def test_interpolation_rows_accept_uint8_and_reject_short_rows(model):
    a = (torch.rand(2, 3, 32, 32) * 255).to(torch.uint8)
    rows = evaluate.interpolation_rows(model, a, a, steps=3)
    torch.testing.assert_close(rows[:, 0], a.float() / 255)
    with pytest.raises(ValueError, match="at least 3"):
        evaluate.interpolation_rows(model, a, a, steps=2)


def test_generate_is_seeded_and_batched(model):
    s1 = evaluate.generate(model, 7, batch_size=3, seed=5)
    s2 = evaluate.generate(model, 7, batch_size=7, seed=5)
    assert s1.shape == (7, 3, 32, 32)
    # Same codes, decoded in batches of 3 vs 7: the convolutions may block their sums
    # differently (fp32 rounding, ~1e-6 on [0, 1] pixels); a wrong seed or order is O(0.1).
    torch.testing.assert_close(s1, s2, rtol=0, atol=1e-5)
    assert not torch.equal(s1, evaluate.generate(model, 7, seed=6))


def test_reconstruct_matches_model(model):
    x = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        # batches of 2 vs 5: fp32 rounding only (as above)
        torch.testing.assert_close(evaluate.reconstruct(model, x, batch_size=2), model.reconstruct(x),
                                   rtol=0, atol=1e-5)


def test_interpolation_pairs_are_disjoint():
    a, b = evaluate.interpolation_pairs(10, 5, seed=1)
    assert len(set(a.tolist()) | set(b.tolist())) == 10
    with pytest.raises(ValueError):
        evaluate.interpolation_pairs(10, 6)


def test_evaluate_model_and_tables(model, extractor, tmp_path):
    test_images = (torch.rand(40, 3, 32, 32) * 255).to(torch.uint8)
    ref = metrics.compute_statistics(test_images[20:], extractor, label="fake-test-set")
    ev = evaluate.evaluate_model(model, test_images, extractor=extractor, reference=ref, n_fid=12,
                          n_samples=30, n_recon=20, n_interp_pairs=4, steps=5, n_diversity_pairs=10)
    assert ev["samples"]["n"] == 30 and ev["reconstructions"]["n"] == 20
    assert ev["interpolations"]["n"] == 4 * 3
    # Every Frechet distance of the evaluation is taken at the same n.
    assert ev["n_fid"] == 12
    assert {ev[k]["fid"]["n_fake"] for k in ("samples", "reconstructions", "interpolations")} == {12}
    assert ev["samples"]["fid"]["extractor"] == "random_test_net"
    assert ev["samples"]["fid"]["metric"] == "FCD" and ev["samples"]["fid"]["n_real"] == 20
    assert ev["samples"]["fid"]["value"] > 0 and ev["reconstructions"]["rmse"] > 0
    real = evaluate.evaluate_real(test_images, extractor=extractor, reference=ref, n=20)
    with pytest.raises(ValueError, match="different sample counts"):
        evaluate.results_table("table4_4_random_samples", {"wae_gan": ev}, real=real)
    real = evaluate.evaluate_real(test_images, extractor=extractor, reference=ref, n=12)
    assert real["fid"]["n_fake"] == 12
    # The last 12 real images against statistics of the last 20 (which contain them): small.
    assert real["fid"]["value"] >= 0

    real20 = evaluate.evaluate_real(test_images, extractor=extractor, reference=ref, n=20)
    # The real reference against itself (the same 20 images through the same extractor call):
    # Frechet distance zero up to float64 eigenvalue rounding (~1e-13 x tr(Sigma) ~ 1e-12 here).
    assert real20["fid"]["value"] == pytest.approx(0.0, abs=1e-6)
    evaluate.save_evaluation(tmp_path, ev, config={"model": "wae_gan"})
    back = evaluate.load_evaluation(tmp_path)
    assert back["result"]["samples"]["sharpness"] == ev["samples"]["sharpness"]   # JSON keeps floats exactly
    assert "hardware" in back["metadata"] and back["config"]["model"] == "wae_gan"

    rows = evaluate.results_table("table4_4_random_samples", {"wae_gan": ev}, real=real)
    assert rows[0]["model"] == "WAE" and rows[0]["thesis_fid"] == config.THESIS_TABLE_4_4["wae_gan"][0]
    assert rows[0]["n_fid"] == rows[-1]["n_fid"] == 12
    assert rows[0]["our_fcd"] == ev["samples"]["fid"]["value"]
    assert rows[-1]["model"] == "real test images"
    rows = evaluate.results_table("table4_3_interpolation_sharpness", {"wae_gan": ev})
    assert rows[0]["thesis_sharpness"] == config.THESIS_TABLE_4_3["wae_gan"]
    with pytest.raises(ValueError, match="valid"):
        evaluate.results_table("table9", {})


def test_load_evaluation_says_which_notebook_produces_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="04_wae_resnet.ipynb"):
        evaluate.load_evaluation(tmp_path / "missing")


def test_mean_and_se_matches_scipy():
    from scipy import stats

    v = torch.tensor([1.0, 2.0, 4.0, 7.0, 11.0])
    got = evaluate.mean_and_se(v)
    # float64 on 5 values: rounding ~1e-16 relative
    assert got["mean"] == pytest.approx(5.0, rel=1e-12)
    assert got["se"] == pytest.approx(stats.sem(v.double().numpy()), rel=1e-12)
    assert got["n"] == 5 and evaluate.mean_and_se(torch.tensor([3.0]))["se"] is None


class ContrastCodec(torch.nn.Module):
    """A stand-in auto-encoder whose decodings differ in sharpness: the code is the image's mean
    brightness, the decoding a fixed checkerboard of that contrast. Interpolating between dark
    and bright images gives rows of genuinely different sharpness, so the standard error over
    pairs is O(1), not the float noise of an untrained model (whose interior images are nearly
    identical: there the SE is ~3e-8 and a relative tolerance checks nothing)."""

    name = "contrast_codec"
    latent_dim = 1

    def __init__(self, size: int = 32):
        super().__init__()
        i = torch.arange(size)
        self.register_buffer("checker", ((i[:, None] + i[None, :]) % 2 * 2 - 1).float().expand(3, -1, -1))
        self.scale = torch.nn.Parameter(torch.ones(()))      # for the device look-up

    def encode(self, x):
        return x.mean(dim=(1, 2, 3))[:, None]

    def decode(self, z):
        return (0.5 + 0.5 * self.scale * z[:, :, None, None] * self.checker).clamp(0, 1)

    def reconstruct(self, x):
        return self.decode(self.encode(x))

    def sample_prior(self, n, generator=None):
        return torch.rand(n, 1, generator=generator)


def test_interpolation_standard_error_is_taken_over_pairs(extractor):
    """Table 4.3's error bar: the SD of the per-pair mean sharpness over sqrt(pairs), recomputed
    here from the rows themselves, in the same chunks of ``batch_size`` pairs as
    evaluate_model (so the two computations are the same float operations)."""
    g = torch.Generator().manual_seed(0)
    brightness = torch.linspace(0.05, 1.0, 40)[torch.randperm(40, generator=g)]
    test_images = (torch.rand(40, 3, 32, 32, generator=g) * brightness[:, None, None, None] * 255).to(torch.uint8)
    codec = ContrastCodec()
    ref = metrics.compute_statistics(test_images, extractor, label="fake")
    ev = evaluate.evaluate_model(codec, test_images, extractor=extractor, reference=ref, n_fid=10,
                          n_interp_pairs=6, steps=4, n_diversity_pairs=4, batch_size=4)
    ia, ib = evaluate.interpolation_pairs(40, 6, seed=0)
    per_pair, per_image = [], []
    for i in range(0, 6, 4):                      # evaluate_model's chunks: pairs 0-3, 4-5
        rows = evaluate.interpolation_rows(codec, test_images[ia[i:i + 4]], test_images[ib[i:i + 4]], 4)
        tv = metrics.sharpness(rows[:, 1:-1].reshape(-1, 3, 32, 32)).reshape(len(rows), 2)
        per_pair.append(tv.mean(1))
        per_image.append(tv.flatten())
    per_pair, per_image = torch.cat(per_pair), torch.cat(per_image)
    part = ev["interpolations"]
    assert part["n_pairs"] == 6 and part["n"] == 12
    se = per_pair.std().item() / 6 ** 0.5
    assert se > 0.1 * per_pair.mean().item()     # the pairs genuinely differ: far above rounding
    # The same float64 reductions of the same float32 rows: only float64 rounding (~1e-16
    # relative) can separate the two, so 1e-12 is a bound, not a fudge.
    assert part["sharpness"] == pytest.approx(per_pair.mean().item(), rel=1e-12)
    assert part["sharpness_se"] == pytest.approx(se, rel=1e-12)
    # ...and it is NOT the standard error over the 12 (correlated) interior images
    assert part["sharpness_se"] != pytest.approx(per_image.std().item() / 12 ** 0.5, rel=1e-2)
    assert part["fid"]["n_fake"] == 10


def test_small_n_fid_is_flagged_as_biased(model, extractor):
    images = (torch.rand(12, 3, 32, 32) * 255).to(torch.uint8)
    ref = metrics.compute_statistics(images, extractor, label="fake")
    entry = evaluate.fid_entry(images, extractor, ref, 8)
    assert entry["n_fake"] == 8 and entry["dim"] == extractor.dim
    assert ("note" in entry) == (8 < extractor.dim)
    with pytest.raises(ValueError, match="needs 20 images"):
        evaluate.fid_entry(images, extractor, ref, 20)
