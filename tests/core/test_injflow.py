"""InjFlow (seed 004 [14], waelib/objectives/injflow.py): the Hutchinson estimate of ||J||_F^2
against the exact Jacobian, the two log-det bounds against slogdet, the loss terms against
values worked out by hand on a linear decoder, gradients through the regulariser, the dual pass
against a plain forward, the prior, the options through the trainer and training by name."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from waelib.objectives.injflow import (
    BETA,
    InjFlowAutoEncoder,
    InjFlowObjective,
    decoder_jvp,
    injflow_terms,
    jvp_sq_norm,
    logdet_bound,
)
from waelib.registry import build_model
from waelib.train import TrainConfig, Trainer, fit

TINY = dict(image_size=32, width=0.0625, latent_dim=8, batch_size=8, seed=0, progress=False, amp=None,
            channels_last=False, fused=False, compile=False)
# float64 throughout the hand-made checks: each value is a sum of at most a few dozen products,
# so the code's and the hand's sums agree to ~1e-15 relative; 1e-12 leaves room and still
# catches any wrong factor, constant or dropped term.
REL = 1e-12


def _rows(t):
    return [t[i].flatten().tolist() for i in range(t.shape[0])]


def _mean(values):
    return sum(values) / len(values)


def _linear_model(sigma2: float = 1.5) -> InjFlowAutoEncoder:
    """A float64 InjFlow model on 3 x 2 x 2 images with d = 2: a linear encoder and a linear
    decoder g(z) = A z + b, whose Jacobian is A everywhere (||J||_F^2 = ||A||_F^2 in closed form)."""
    torch.manual_seed(3)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    decoder = nn.Sequential(nn.Linear(2, 12), nn.Unflatten(1, (3, 2, 2)))
    return InjFlowAutoEncoder("injflow", encoder, decoder, 2, 2, sigma2).double()


def _objective(model, **options) -> InjFlowObjective:
    return InjFlowObjective(model, TrainConfig(model="injflow", loss_options=options))


def test_jvp_is_the_jacobian_times_the_probe_and_hutchinson_is_unbiased():
    """On a tiny dense decoder (no BatchNorm, so each example has its own Jacobian): the dual
    pass gives exactly J v (J from torch.autograd.functional.jacobian), and the mean of
    ||J v||^2 over many Gaussian probes converges to the exact ||J||_F^2."""
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 5)).double()
    z = torch.randn(4, 3, dtype=torch.float64)
    jacs = [torch.autograd.functional.jacobian(dec, z[i]) for i in range(4)]        # each (5, 3)
    exact = torch.stack([j.pow(2).sum() for j in jacs])
    v = torch.randn(4, 3, dtype=torch.float64)
    x_hat, jv = decoder_jvp(dec, z, v)
    assert torch.allclose(x_hat, dec(z), rtol=0, atol=1e-14)       # float64 rounding of the same ops
    want = torch.stack([jacs[i] @ v[i] for i in range(4)])
    assert torch.allclose(jv, want, rtol=0, atol=1e-13)             # float64 rounding, 3-term sums
    k = 20000
    probes = torch.randn(k * 4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    est = jvp_sq_norm(decoder_jvp(dec, z.repeat(k, 1), probes)[1]).reshape(k, 4)
    mean, se = est.mean(0), est.std(0) / math.sqrt(k)
    # 5 standard errors of the mean of k draws: a correct estimator fails this with probability
    # ~6e-7 per example; a factor or a wrong probe law (e.g. uniform probes) is off by >> 5 SE.
    assert ((mean - exact).abs() < 5 * se).all(), (mean, exact, se)
    assert (se < 0.05 * exact).all()                                # the test has the power to fail


def test_logdet_bounds_dominate_slogdet_and_are_tight_where_they_should_be():
    """log det(J^T J) <= d log(||J||_F^2 / d) <= ||J||_F^2 - d for random J (D x d); the ln bound
    is tight for J^T J = c I, both for J^T J = I."""
    g = torch.Generator().manual_seed(2)
    d = 4
    for _ in range(20):
        scales = torch.randn(d, generator=g, dtype=torch.float64).exp()      # ill-conditioned columns
        jac = torch.randn(30, d, generator=g, dtype=torch.float64) * scales
        logdet = torch.linalg.slogdet(jac.T @ jac)[1]
        fro = jac.pow(2).sum().reshape(1)
        ln, lin = logdet_bound(fro, d, True), logdet_bound(fro, d, False)
        assert logdet <= ln[0] + 1e-12 and ln[0] <= lin[0] + 1e-12
    q = torch.linalg.qr(torch.randn(30, d, generator=g, dtype=torch.float64))[0]       # orthonormal columns
    for c in (0.3, 1.0, 4.0):
        jac = math.sqrt(c) * q
        fro = jac.pow(2).sum().reshape(1)
        assert logdet_bound(fro, d, True)[0].item() == pytest.approx(d * math.log(c), abs=1e-12)
    assert logdet_bound(q.pow(2).sum().reshape(1), d, False)[0].item() == pytest.approx(0.0, abs=1e-12)


def test_linear_decoder_jv_and_closed_form_frobenius():
    """g(z) = A z + b: the forward dict's jv is A v, and the basis probes e_1..e_d sum ||A e_j||^2
    to ||A||_F^2 computed by hand."""
    m = _linear_model()
    a = m.decoder[0].weight.detach()                                          # (12, 2)
    x = torch.rand(3, 3, 2, 2, dtype=torch.float64)
    v = torch.randn(3, 2, dtype=torch.float64)
    out = m(x, probe=v)
    assert torch.allclose(out["jv"].flatten(1), v @ a.T, rtol=0, atol=1e-14)
    assert torch.allclose(out["x_hat"], m.decode(out["z"]), rtol=0, atol=1e-14)
    basis = torch.eye(2, dtype=torch.float64)
    total = jvp_sq_norm(decoder_jvp(m.decoder, torch.zeros(2, 2, dtype=torch.float64), basis)[1]).sum()
    assert total.item() == pytest.approx(sum(w * w for row in a.tolist() for w in row), rel=REL)


@pytest.mark.parametrize("log_bound", [1.0, 0.0])
def test_terms_by_hand_on_a_linear_decoder(log_bound):
    """Every term of the loss on the linear model against math, with non-default options."""
    sigma2, beta, jac_weight = 1.5, 0.3, 0.7
    m = _linear_model(sigma2)
    a = m.decoder[0].weight.detach().tolist()
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 3, 2, 2, generator=g, dtype=torch.float64)
    v = torch.randn(3, 2, generator=g, dtype=torch.float64)
    out = m(x, probe=v)
    terms = _objective(m, beta=beta, jac_weight=jac_weight, log_bound=log_bound).loss_terms(x, out)
    d = 2
    recon = _mean([sum((p - q) ** 2 for p, q in zip(r, s)) for r, s in zip(_rows(x), _rows(out["x_hat"]))])
    prior = _mean([sum(c * c for c in r) / (2 * sigma2) for r in _rows(out["z"])])
    fro = [sum(sum(a[k][j] * vr[j] for j in range(d)) ** 2 for k in range(12)) for vr in _rows(v)]
    bound = [d * math.log(f / d) if log_bound else f - d for f in fro]
    logdet_half = _mean([0.5 * b for b in bound])
    assert terms["recon"].item() == pytest.approx(recon, rel=REL)
    assert terms["prior_nll"].item() == pytest.approx(prior, rel=REL)
    assert terms["jac_sq"].item() == pytest.approx(_mean(fro), rel=REL)
    assert terms["logdet_half"].item() == pytest.approx(logdet_half, rel=REL)
    assert terms["nll_bound"].item() == pytest.approx(prior + logdet_half, rel=REL)
    assert terms["loss"].item() == pytest.approx(recon + beta * (prior + jac_weight * logdet_half), rel=REL)
    assert terms["code_var"].item() == pytest.approx(2 * sigma2 * prior / d, rel=REL)


def test_regulariser_gradient_on_a_linear_decoder_is_the_analytic_one():
    """d/dA of mean_i (d/2) log(||A v_i||^2 / d) is mean_i d A v_i v_i^T / ||A v_i||^2 (ln), and of
    mean_i 1/2 (||A v_i||^2 - d) is mean_i A v_i v_i^T (lin): reverse mode through the tangent."""
    m = _linear_model()
    x = torch.rand(4, 3, 2, 2, dtype=torch.float64)
    v = torch.randn(4, 2, dtype=torch.float64)
    weight = m.decoder[0].weight
    a = weight.detach()
    av = v @ a.T                                                              # (4, 12)
    outer = torch.einsum("nk,nj->nkj", av, v)                                 # A v v^T per example
    want = {True: (2 * outer / av.pow(2).sum(1)[:, None, None]).mean(0), False: outer.mean(0)}
    for log_bound in (True, False):
        out = m(x, probe=v)
        term = injflow_terms(x, out["x_hat"], out["z"], jvp_sq_norm(out["jv"]), log_bound=log_bound)
        grad = torch.autograd.grad(term["logdet_half"], weight)[0]
        assert torch.allclose(grad, want[log_bound], rtol=1e-10, atol=1e-13)  # float64 rounding


def test_regulariser_reaches_decoder_and_encoder_of_the_dcgan_model():
    """On the study's networks the log-det term alone gives every decoder weight and (through
    the point z = h(x) where J is taken) the encoder a gradient; the prior term alone gives the
    decoder none."""
    torch.manual_seed(0)
    m = build_model("injflow", image_size=32, width=0.0625, latent_dim=8)
    x = torch.rand(4, 3, 32, 32)
    out = m(x, probe=torch.randn(4, 8))
    terms = injflow_terms(x, out["x_hat"], out["z"], jvp_sq_norm(out["jv"]))
    dec_w = [p for n, p in m.decoder.named_parameters() if n.endswith("weight")]
    enc = list(m.encoder.parameters())
    grads = torch.autograd.grad(terms["logdet_half"], dec_w + enc, retain_graph=True, allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[:len(dec_w)])
    assert any(g is not None and g.abs().sum() > 0 for g in grads[len(dec_w):])
    prior_grads = torch.autograd.grad(terms["prior_nll"], dec_w, allow_unused=True)
    assert all(g is None or g.abs().sum() == 0 for g in prior_grads)


def test_dual_pass_is_a_plain_forward_for_outputs_and_batchnorm_statistics():
    """forward(x, probe) gives the same x_hat and z as forward(x) and moves the BatchNorm
    running statistics exactly as one plain forward does (not twice, not with tangents)."""
    torch.manual_seed(0)
    plain = build_model("injflow", image_size=32, width=0.0625, latent_dim=8)
    dual = build_model("injflow", image_size=32, width=0.0625, latent_dim=8)
    dual.load_state_dict(plain.state_dict())
    x = torch.rand(4, 3, 32, 32)
    a, b = plain(x), dual(x, probe=torch.randn(4, 8))
    # same float32 ops on the primal; the dual kernels may order sums differently: 1e-5 abs on
    # outputs in [0, 1] is ~100 float32 ulps, far below any real difference.
    assert torch.allclose(a["x_hat"], b["x_hat"], rtol=0, atol=1e-5)
    for (name, s), t in zip(plain.state_dict().items(), dual.state_dict().values()):
        assert torch.allclose(s.double(), t.double(), rtol=1e-5, atol=1e-6), name


def test_sample_prior_is_the_models_gaussian_and_seeded():
    """Samples are N(0, prior_sigma2 I) from the seeded generator (the model's own prior)."""
    m = build_model("injflow", image_size=32, width=0.0625, latent_dim=8, prior_sigma2=2.0)
    assert isinstance(m, InjFlowAutoEncoder)
    s1 = m.sample_prior(4000, generator=torch.Generator().manual_seed(7))
    s2 = m.sample_prior(4000, generator=torch.Generator().manual_seed(7))
    assert torch.equal(s1, s2) and s1.shape == (4000, 8)
    # 32,000 draws: the variance's standard error is 2 * sqrt(2 / 32000) = 0.016; 0.08 is 5 SE
    # and still rejects the unit prior (off by 1.0); the mean's SE is sqrt(2 / 32000) = 0.008.
    assert s1.var().item() == pytest.approx(2.0, abs=0.08)
    assert abs(s1.mean().item()) < 0.04


def _trainer(**options) -> Trainer:
    cfg = TrainConfig(model="injflow", steps=1, loss_options=options, **TINY)
    return Trainer(cfg.resolved(torch.device("cpu"), total_steps=1))


def test_options_reach_the_objective_through_the_trainer():
    """beta = 0 leaves the plain reconstruction and log_bound = 0 makes the log-det term
    1/2 (mean ||Jv||^2 - d); by default (ln) it is at most d/2 log(mean ||Jv||^2 / d) (Jensen)
    and enters the loss with BETA."""
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    lin = _trainer(beta=0.0, log_bound=0.0).train_step(x)
    assert lin["loss"].item() == lin["recon"].item()
    assert lin["logdet_half"].item() == pytest.approx(0.5 * (lin["jac_sq"].item() - 8), rel=1e-5)  # float32 mean
    ln = _trainer().train_step(x)
    assert ln["logdet_half"].item() <= 4 * math.log(ln["jac_sq"].item() / 8) + 1e-4   # float32 slack
    assert ln["loss"].item() == pytest.approx(          # float32 sums of a few terms: rel 1e-5
        ln["recon"].item() + BETA * (ln["prior_nll"].item() + ln["logdet_half"].item()), rel=1e-5)
    with pytest.raises(ValueError, match="log_bound"):
        _trainer(log_bound=0.5)
    with pytest.raises(ValueError, match="unknown loss option"):
        TrainConfig(model="injflow", steps=1, loss_options={"z_weight": 1.0}, **TINY).validate()


def test_trains_by_name_through_fit(tmp_path):
    """fit("injflow", ...) runs, logs finite terms, and the model decodes finite prior samples."""
    data = (torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    res = fit("injflow", data, TrainConfig(steps=2, out=str(tmp_path), **TINY))
    assert res.step == 2
    last = res.history[-1]
    for key in ("loss", "recon", "prior_nll", "logdet_half", "jac_sq", "code_var"):
        assert math.isfinite(last[key]), key
    with torch.no_grad():
        samples = res.model.decode(res.model.sample_prior(4, generator=torch.Generator().manual_seed(0)))
    assert torch.isfinite(samples).all() and samples.shape == (4, 3, 32, 32)
