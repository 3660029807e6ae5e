"""VAE + Flow (``vae_flow``, an IAF posterior; waelib/objectives/vae_flow.py): the flow's
log-determinant against ``torch.autograd.functional.jacobian``, log q(z_T|x) against a brute-force
change of variables through the inverse map, the single-sample KL against the closed-form Gaussian
KL when the flow is the identity, the loss terms by hand, the direction of the flow, gradients,
encode / sample_prior, and training by name through ``fit`` with the model's overrides."""
from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch.autograd.functional import jacobian

from waelib.objectives import vae_flow
from waelib.objectives.vae_flow import IAFVAE, VAEFlowObjective, flow_kl_terms, gaussian_log_density, iaf_flow
from waelib.registry import build_model, model_spec
from waelib.train import TrainConfig, fit

FAST = dict(progress=False, amp=None, compile=False, fused=False, channels_last=False)
D, C, H = 4, 3, 8          # tiny latent, context and MADE sizes
# float64 comparisons of two exact computations (a log-determinant from the flow's log-scales vs
# an LU slogdet of the autograd Jacobian; a closed-form density vs scipy's): both sides carry
# ~1e-15 relative rounding over a few dozen operations, so 1e-9 leaves room and still catches any
# missing term, factor or sign (those move the values by O(0.1) or more).
TOL64 = 1e-9


def _tiny_model(steps: int = 2, spread: float = 0.0) -> IAFVAE:
    """A float64 vae_flow at 32 px, width 0.0625, d = 4; ``spread`` > 0 redraws each MADE's last
    layer with that standard deviation, so that the flow is far from the identity."""
    torch.manual_seed(0)
    model = build_model("vae_flow", image_size=32, width=0.0625, latent_dim=D, flow_steps=steps,
                        flow_hidden=H, context_dim=C).double().eval()
    if spread:
        _redraw_last_layers(model, spread)
    return model


def _redraw_last_layers(model: IAFVAE, spread: float) -> None:
    """Give each step's last MaskedLinear N(0, spread^2) weights and biases (0 = identity flow)."""
    with torch.no_grad():
        for step in model.flow.transforms:
            last = step.hyper[-1]
            last.weight.normal_(0.0, spread) if spread else last.weight.zero_()
            last.bias.normal_(0.0, spread) if spread else last.bias.zero_()


def _flow_map(model: IAFVAE, h_row: torch.Tensor):
    """z_0 (d,) -> z_T (d,) for one context row (the flow's forward, the IAF direction)."""
    return lambda z: model.flow(h_row[None]).call_and_ladj(z[None])[0][0]


def _step_map(step, h_row: torch.Tensor):
    """z_{t-1} (d,) -> z_t (d,): one zuko step's forward for one context row."""
    return lambda z: step(h_row[None]).call_and_ladj(z[None])[0][0]


# ---------------------------------------------------------------------------------------
# The flow: log-determinant, triangular steps, the cheap direction
# ---------------------------------------------------------------------------------------
def test_log_det_matches_autograd_jacobian():
    """sum_t log|det dz_t/dz_{t-1}| (zuko's call_and_ladj) = log|det J| of the whole map z_0 -> z_T,
    J from torch.autograd.functional.jacobian; and each step's J is triangular in its order."""
    model = _tiny_model(steps=2, spread=0.7)
    g = torch.Generator().manual_seed(1)
    z0 = torch.randn(3, D, generator=g, dtype=torch.float64)
    h = torch.randn(3, C, generator=g, dtype=torch.float64)
    _, log_det = model.transform(z0, h)
    assert log_det.abs().min() > 0.05          # far from the identity, so the test can fail
    for n in range(3):
        jac = jacobian(_flow_map(model, h[n]), z0[n])
        assert log_det[n].item() == pytest.approx(torch.linalg.slogdet(jac)[1].item(), rel=TOL64)
        assert (jac.triu(1) != 0).any() and (jac.tril(-1) != 0).any()     # two orders: dense
        for t, step in enumerate(model.flow.transforms):
            jac_t = jacobian(_step_map(step, h[n]), z0[n])
            # step 0 ascending order: z_i depends on z_<i (lower triangular); step 1 descending
            off = jac_t.triu(1) if t == 0 else jac_t.tril(-1)
            assert torch.count_nonzero(off) == 0


def test_forward_is_one_pass_per_step_and_inverse_costs_d():
    """The IAF direction z_0 -> z_T calls each MADE once (T passes); zuko's ``.inv`` (the MAF's
    sampling direction) needs d sequential passes per step: the model only uses the first."""
    model = _tiny_model(steps=2, spread=0.3)
    calls = []
    hooks = [s.hyper.register_forward_hook(lambda *_: calls.append(1)) for s in model.flow.transforms]
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    out = model(x)
    assert len(calls) == 2
    calls.clear()
    model.flow(model.encode_posterior(x)[2]).inv(out["z"])
    assert len(calls) == 2 * D
    for hook in hooks:
        hook.remove()


# ---------------------------------------------------------------------------------------
# log q(z_T|x), the KL estimate
# ---------------------------------------------------------------------------------------
def test_log_q_against_brute_force_change_of_variables():
    """log q(z_T|x) of forward() = log N(f^{-1}(z_T); mu, sigma^2) + log|det J_{f^{-1}}(z_T)|, with
    f^{-1} zuko's d-pass inverse, its Jacobian by autograd and N's density by scipy; log p(z_T) =
    scipy's standard normal log-density."""
    model = _tiny_model(steps=2, spread=0.7)
    torch.manual_seed(2)
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    out = model(x)
    mu, logvar, h = model.encode_posterior(x)
    for n in range(3):
        inverse = lambda z, n=n: model.flow(h[n][None]).inv(z[None])[0]   # noqa: E731
        z0 = inverse(out["z"][n])
        # the inverse is exact after d fixed-point passes: only float64 rounding remains
        assert torch.allclose(z0, out["z0"][n], rtol=0, atol=1e-12)
        log_det_inv = torch.linalg.slogdet(jacobian(inverse, out["z"][n]))[1].item()
        base = stats.multivariate_normal(mu[n].detach().numpy(), torch.exp(logvar[n]).detach().diag().numpy())
        brute = base.logpdf(z0.detach().numpy()) + log_det_inv
        assert out["log_q"][n].item() == pytest.approx(brute, rel=TOL64)
        prior = stats.norm.logpdf(out["z"][n].detach().numpy()).sum()
        assert out["log_p"][n].item() == pytest.approx(prior, rel=TOL64)


def test_identity_flow_kl_estimate_matches_closed_form():
    """Zero last layers make every step the identity (z_T = z_0, log det = 0): log q is then the
    Gaussian's log-density (checked by hand with math), and the mean of the single-sample KL
    estimate over K draws equals the closed-form KL within 4 Monte Carlo standard errors."""
    model = _tiny_model(steps=2)
    _redraw_last_layers(model, 0.0)
    with torch.no_grad():                     # a posterior away from N(0, I): KL of a few nats
        model.encoder[-1].bias[:D] = torch.tensor([0.8, -0.5, 1.2, 0.3], dtype=torch.float64)
        model.encoder[-1].bias[D:2 * D] = torch.tensor([-1.0, 0.5, -0.3, -1.5], dtype=torch.float64)
    k = 4096
    torch.manual_seed(3)
    mu, logvar, h = model.encode_posterior(torch.rand(2, 3, 32, 32, dtype=torch.float64))
    with torch.no_grad():                     # K draws for each of the two images
        out = model.posterior_sample(*(t.repeat_interleave(k, dim=0) for t in (mu, logvar, h)))
        out.update(mu=mu.repeat_interleave(k, dim=0), logvar=logvar.repeat_interleave(k, dim=0))
    assert torch.equal(out["z"], out["z0"]) and torch.count_nonzero(out["log_det"]) == 0
    m, lv, z0 = (out[key][0].tolist() for key in ("mu", "logvar", "z0"))
    hand = sum(-0.5 * ((z - a) ** 2 / math.exp(v) + math.log(2 * math.pi) + v) for z, a, v in zip(z0, m, lv))
    assert out["log_q"][0].item() == pytest.approx(hand, rel=TOL64)
    estimate = (out["log_q"] - out["log_p"]).view(2, k)
    for i in range(2):
        mu_i, lv_i = out["mu"][i * k].tolist(), out["logvar"][i * k].tolist()
        closed = sum(0.5 * (math.exp(v) + a * a - 1.0 - v) for a, v in zip(mu_i, lv_i))
        se = estimate[i].std().item() / math.sqrt(k)
        # 4 standard errors: a false failure has probability 6e-5 (and the seed is fixed); se is
        # ~0.03 here, while a dropped log sigma term or a wrong prior variance moves the mean by
        # more than 1 nat
        assert se > 0.005                     # a single-sample estimate, not the closed form
        assert estimate[i].mean().item() == pytest.approx(closed, abs=4 * se)
        assert closed > 1.0


def test_terms_by_hand():
    """flow_kl_terms: recon = mean ||x - x^||^2 / (2 * 0.5), kl = mean(log q - log p), loss = recon
    + kl, kl_base = the closed-form Gaussian KL; gaussian_log_density by hand."""
    g = torch.Generator().manual_seed(4)
    x, x_hat = torch.rand(2, 3, 2, 2, generator=g).double(), torch.rand(2, 3, 2, 2, generator=g).double()
    mu, logvar = torch.randn(2, 3, generator=g).double(), (0.5 * torch.randn(2, 3, generator=g)).double()
    log_q, log_p = torch.tensor([-1.5, 0.25], dtype=torch.float64), torch.tensor([-4.0, -2.5], dtype=torch.float64)
    out = {"x_hat": x_hat, "mu": mu, "logvar": logvar, "log_q": log_q, "log_p": log_p,
           "log_det": torch.tensor([0.5, -0.1], dtype=torch.float64)}
    terms = flow_kl_terms(x, out)
    sq = [sum((a - b) ** 2 for a, b in zip(x[i].flatten().tolist(), x_hat[i].flatten().tolist())) for i in range(2)]
    kl_base = [0.5 * sum(math.exp(v) + a * a - 1 - v for a, v in zip(mu[i].tolist(), logvar[i].tolist()))
               for i in range(2)]
    recon, kl = sum(sq) / 2 / (2 * 0.5), ((-1.5 + 4.0) + (0.25 + 2.5)) / 2
    assert terms["recon"].item() == pytest.approx(recon, rel=TOL64)
    assert terms["kl"].item() == pytest.approx(kl, rel=TOL64)
    assert terms["loss"].item() == pytest.approx(recon + kl, rel=TOL64)
    assert terms["kl_base"].item() == pytest.approx(sum(kl_base) / 2, rel=TOL64)
    assert terms["log_det"].item() == pytest.approx(0.2, rel=TOL64)
    z, a, v = [0.3, -1.2], [0.1, 0.4], [0.2, -0.7]
    hand = sum(-0.5 * ((zi - ai) ** 2 / math.exp(vi) + math.log(2 * math.pi) + vi) for zi, ai, vi in zip(z, a, v))
    got = gaussian_log_density(*(torch.tensor([t], dtype=torch.float64) for t in (z, a, v)))
    assert got.item() == pytest.approx(hand, rel=TOL64)


# ---------------------------------------------------------------------------------------
# Gradients, encode, sampling
# ---------------------------------------------------------------------------------------
def test_gradients_reach_the_flow_and_context_but_kl_not_the_decoder():
    """The default (near-identity) flow: the loss moves every flow parameter and the head's context
    rows; the KL term alone leaves the decoder untouched."""
    torch.manual_seed(5)
    model = build_model("vae_flow", image_size=32, width=0.0625, latent_dim=8)
    x = torch.rand(4, 3, 32, 32)
    terms = flow_kl_terms(x, model(x))
    terms["loss"].backward()
    for name, p in model.flow.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.encoder[-1].weight.grad[2 * 8:].abs().sum() > 0          # h rows of the head
    model.zero_grad()
    flow_kl_terms(x, model(x))["kl"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.decoder.parameters())
    assert all(p.grad.abs().sum() > 0 for p in model.flow.parameters())


def test_encode_is_the_flow_at_the_mean_and_sampling_is_seeded():
    """encode(x) = flow(mu(x); h(x)), deterministic and not mu itself; sample_prior draws N(0, I)
    codes from the given generator (reproducible)."""
    model = _tiny_model(steps=2, spread=0.5)
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    mu, _, h = model.encode_posterior(x)
    code = model.encode(x)
    assert torch.equal(code, model.transform(mu, h)[0]) and torch.equal(code, model.encode(x))
    assert (code - mu).abs().max() > 0.05
    assert model.reconstruct(x).shape == x.shape
    first = model.sample_prior(5, generator=torch.Generator().manual_seed(6))
    again = model.sample_prior(5, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert torch.equal(first, torch.randn(5, D, generator=torch.Generator().manual_seed(6)).double())


def test_zero_steps_is_the_vae_with_a_sampled_kl():
    """flow_steps = 0: no flow parameters, z_T = z_0, log det = 0."""
    model = build_model("vae_flow", image_size=32, width=0.0625, latent_dim=D, flow_steps=0)
    out = model(torch.rand(2, 3, 32, 32))
    assert not list(model.flow.parameters())
    assert torch.equal(out["z"], out["z0"]) and not out["log_det"].any()
    with pytest.raises(ValueError, match="flow_steps"):
        build_model("vae_flow", image_size=32, width=0.0625, flow_steps=-1)


# ---------------------------------------------------------------------------------------
# Registry and training
# ---------------------------------------------------------------------------------------
def test_registry_entry_and_overrides():
    """The registry builds an IAFVAE with this module's objective; unknown overrides are named."""
    spec = model_spec("vae_flow")
    assert spec.objective is VAEFlowObjective and spec.builder is vae_flow.build
    assert set(vae_flow.OVERRIDES) == {"prior_sigma2", "flow_steps", "flow_hidden", "context_dim"}
    model = build_model("vae_flow", image_size=32, width=0.0625, latent_dim=8)
    assert isinstance(model, IAFVAE) and len(model.flow.transforms) == vae_flow.FLOW_STEPS
    assert model.flow_hidden == 16 and model.context_dim == 8
    with pytest.raises(ValueError, match="flow_steps"):
        build_model("vae_flow", image_size=32, width=0.0625, flow_depth=3)


def test_iaf_flow_starts_near_the_identity():
    """FLOW_INIT_SCALE shrinks each MADE's last layer (openai/iaf's 0.1): |log det| stays small."""
    torch.manual_seed(7)
    flow = iaf_flow(16, 4, 2, 32)
    _, log_det = flow(torch.randn(64, 4)).call_and_ladj(torch.randn(64, 16))
    assert log_det.abs().max() < 1.0 and log_det.abs().max() > 0
    assert all(not s.hyper[-1].bias.any() for s in flow.transforms)


def test_trains_through_fit_with_overrides(tmp_path):
    """fit by name with model_overrides: finite loss terms, the overrides reach the model, the flow
    moves."""
    data = torch.rand(16, 3, 32, 32)
    overrides = {"flow_steps": 3, "flow_hidden": 12, "context_dim": 5}
    torch.manual_seed(8)
    before = iaf_flow(8, 5, 3, 12).state_dict()
    res = fit("vae_flow", data, TrainConfig(image_size=32, width=0.0625, latent_dim=8, batch_size=8,
                                            steps=2, seed=0, out=str(tmp_path), log_every=1,
                                            model_overrides=overrides, **FAST))
    assert res.step == 2 and not res.interrupted
    for row in res.history:
        assert {"loss", "recon", "kl", "log_det", "kl_base", "sq_error"} <= set(row)
        assert all(math.isfinite(row[key]) for key in ("loss", "recon", "kl", "log_det"))
    model = res.model
    assert len(model.flow.transforms) == 3 and model.encoder[-1].out_features == 2 * 8 + 5
    assert model.flow.transforms[0].hyper[0].out_features == 12
    assert before.keys() == model.flow.state_dict().keys()
    assert model.flow.transforms[0].hyper[-1].bias.any()      # started at 0, trained
    with torch.no_grad():
        assert torch.isfinite(model.decode(model.sample_prior(4, generator=torch.Generator()))).all()
