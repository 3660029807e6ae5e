"""The thesis' five models: registry, thesis-size parameter counts, interface and gradients."""

import pytest
import torch

from waelib import registry
from waelib.models import count_parameters

# --- parameter counts derived independently from the thesis text (Keras conventions:
from waelib.registry import MODEL_REGISTRY, build_model


# --- parameter counts derived independently from the thesis text (Keras conventions:
# convolutions and dense layers carry a bias; BatchNorm has 2 trainable parameters/channel).
def conv(k, cin, cout):
    return k * k * cin * cout + cout


def dense(i, o):
    return i * o + o


def bn(c):
    return 2 * c


def resnet_trunk():  # §3.2, up to the flatten
    n = conv(7, 3, 64) + bn(64)
    cin = 64
    for (f1, f2, f3), n_id in zip([(64, 64, 256), (128, 128, 512), (256, 256, 1024), (512, 512, 2048)],
                                  [2, 3, 3, 3]):
        block = conv(1, f3, f1) + bn(f1) + conv(3, f1, f2) + bn(f2) + conv(1, f2, f3) + bn(f3)
        first = conv(1, cin, f1) + bn(f1) + conv(3, f1, f2) + bn(f2) + conv(1, f2, f3) + bn(f3)
        n += first + conv(1, cin, f3) + bn(f3) + n_id * block
        cin = f3
    return n, 4 * 4 * 2048


def vae_decoder(latent):  # §4.3.1 decoder
    n = dense(latent, 2048) + bn(2048) + dense(2048, 8192)
    cin = 512
    for c in (256, 128, 64, 32, 16):
        n += conv(3, cin, c) + bn(c)
        cin = c
    return n + conv(3, 16, 3) + bn(3)


def wae_decoder():  # §4.3.2 decoder
    n = dense(64, 4 * 4 * 2048) + bn(4 * 4 * 2048)
    cin = 2048
    for c in (1024, 512, 256, 128):
        n += conv(5, cin, c) + bn(c)
        cin = c
    return n + conv(5, 128, 3) + bn(3)


def wae_encoder():  # §4.3.2 encoder
    n, cin = 0, 3
    for c in (128, 256, 512, 1024, 2048):
        n += conv(5, cin, c) + bn(c)
        cin = c
    return n + dense(4 * 4 * 2048, 64)


def vae_encoder(latent):  # §4.3.1 encoder + the (mu, log sigma^2) heads
    n, cin = 0, 3
    for c in (32, 64, 128, 256, 512):
        n += conv(3, cin, c) + bn(c)
        cin = c
    return n + dense(4 * 4 * 512, 2048) + dense(2048, 2 * latent)


DISC = dense(64, 512) + 3 * dense(512, 512) + dense(512, 1)
TRUNK, TRUNK_FEATURES = resnet_trunk()
THESIS_COUNTS = {
    "vae": vae_encoder(512) + vae_decoder(512),
    "vae_resnet": TRUNK + dense(TRUNK_FEATURES, 2 * 512) + vae_decoder(512),
    "wae_gan": wae_encoder() + wae_decoder() + DISC,
    "wae_mmd": wae_encoder() + wae_decoder(),
    "wae_resnet": TRUNK + dense(TRUNK_FEATURES, 64) + wae_decoder() + DISC,
}


@pytest.fixture(scope="module")
def thesis_models():
    return {name: build_model(name) for name in registry.THESIS_MODEL_NAMES}


@pytest.mark.parametrize("name", registry.THESIS_MODEL_NAMES)
def test_thesis_parameter_counts(thesis_models, name):
    assert count_parameters(thesis_models[name]) == THESIS_COUNTS[name]


@pytest.mark.parametrize("name", registry.THESIS_MODEL_NAMES)
def test_thesis_defaults(thesis_models, name):
    m = thesis_models[name]
    assert m.image_size == 128
    assert m.latent_dim == (512 if name.startswith("vae") else 64)
    assert m.prior_sigma2 == (1.0 if name.startswith("vae") else 2.0)
    assert hasattr(m, "discriminator") == (name in ("wae_gan", "wae_resnet"))


def test_resnet_encoder_of_wae_resnet_at_thesis_size(thesis_models):
    m = thesis_models["wae_resnet"].eval()
    with torch.no_grad():
        x = torch.rand(1, 3, 128, 128)
        z = m.encode(x)
        assert z.shape == (1, 64)
        assert m.decode(z).shape == (1, 3, 128, 128)


def test_unknown_name_and_size_list_the_choices():
    with pytest.raises(ValueError, match="vae, vae_resnet, wae_gan, wae_mmd, wae_resnet"):
        build_model("wae_resent")
    with pytest.raises(ValueError, match="32, 64, 128"):
        build_model("wae_gan", image_size=100)
    with pytest.raises(ValueError, match="valid: prior_sigma2"):
        build_model("vae", disc_hidden=3)
    with pytest.raises(ValueError, match="width"):
        build_model("vae", width=0)


@pytest.mark.parametrize("name", registry.THESIS_MODEL_NAMES)
@pytest.mark.parametrize("size", [32, 64])
def test_interface_ranges_and_gradients(name, size):
    torch.manual_seed(0)
    m = build_model(name, image_size=size, width=0.0625)
    x = torch.rand(4, 3, size, size)
    z = m.encode(x)
    assert z.shape == (4, m.latent_dim)
    x_hat = m.decode(z * 50)  # far outside the prior: the sigmoid still bounds the output
    assert x_hat.shape == x.shape and x_hat.min() >= 0 and x_hat.max() <= 1
    assert m.reconstruct(x).shape == x.shape
    s = m.sample(3, generator=torch.Generator().manual_seed(1))
    assert s.shape == (3, 3, size, size)
    torch.testing.assert_close(s, m.sample(3, generator=torch.Generator().manual_seed(1)))
    # Gradients reach the very first layer of the encoder.
    out = m(x)
    out["x_hat"].sum().backward()
    first = next(p for n_, p in m.encoder.named_parameters() if n_.endswith("weight"))
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_prior_variance_is_that_of_the_thesis():
    z = build_model("wae_gan", image_size=32, width=0.0625).sample_prior(20000, torch.Generator().manual_seed(0))
    assert z.var().item() == pytest.approx(2.0, rel=0.02)
    z = build_model("vae", image_size=32, width=0.0625).sample_prior(20000, torch.Generator().manual_seed(0))
    assert z.var().item() == pytest.approx(1.0, rel=0.02)


def test_vae_encode_is_posterior_mean_and_forward_is_reparameterised():
    m = build_model("vae", image_size=32, width=0.0625, latent_dim=8).eval()
    x = torch.rand(2, 3, 32, 32)
    mu, logvar = m.encode_stats(x)
    torch.testing.assert_close(m.encode(x), mu)
    torch.manual_seed(3)
    out = m(x)
    torch.manual_seed(3)
    eps = torch.randn_like(mu)
    torch.testing.assert_close(out["z"], mu + torch.exp(0.5 * logvar) * eps)


def test_registry_labels():
    assert {k: v.label for k, v in MODEL_REGISTRY.items()} == registry.MODEL_LABELS
    assert {k: registry.MODEL_LABELS[k] for k in registry.THESIS_MODEL_NAMES} == registry.THESIS_MODEL_LABELS
