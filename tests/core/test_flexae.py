"""FlexAE (seed 004's proposal, waelib/objectives/flexae.py): the WGAN-GP critic, P-GEN and encoder
losses against values worked out by hand with ``math``, the penalty against a Jacobian, the
directions the losses push the prior and the codes, which parameters each of the four steps moves,
P-GEN's overrides and the six Table-5 capacities, ``sample_prior`` as P-GEN's output, options
through the trainer, training by name through ``fit`` and an exact resume."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from waelib.evaluate import generate
from waelib.models import count_parameters
from waelib.objectives.flexae import (
    ADV_BETAS,
    AE_LR,
    CRITIC_LR,
    ENCODER_LR_RATIO,
    GP_WEIGHT,
    N_CRITIC,
    PGEN_CAPACITIES,
    FlexAE,
    FlexAEObjective,
    LatentCritic,
    PriorGenerator,
    critic_loss,
    encoder_loss,
    frozen,
    pgen_loss,
)
from waelib.registry import build_model, model_spec
from waelib.train import TrainConfig, Trainer, fit

CPU = torch.device("cpu")
SMALL = dict(image_size=32, width=0.0625, latent_dim=8)
TINY = dict(SMALL, batch_size=8, seed=0, progress=False, amp=None, compile=False, fused=False,
            channels_last=False, log_every=1, sample_every=1000, checkpoint_every=1000, n_samples=4, threads=1)
# float64 throughout the hand checks: each value is a sum of a dozen terms, so code and hand agree
# to ~1e-15 relative; 1e-12 leaves room and still catches any wrong factor, sign or dropped term.
REL = 1e-12


def _images(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


class QuadraticCritic(nn.Module):
    """C(z) = a/2 ||z||^2 + b . z, so grad C(z) = a z + b: a critic whose penalty is hand-computable."""

    def __init__(self, a: float, b):
        super().__init__()
        self.a, self.b = a, torch.tensor(b, dtype=torch.float64)

    def forward(self, z):
        return 0.5 * self.a * z.pow(2).sum(1) + z @ self.b


def _hand_c(a, b, z):
    return 0.5 * a * sum(v * v for v in z) + sum(u * v for u, v in zip(b, z))


# ---------------------------------------------------------------------------------------
# Losses against hand values
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("gp_weight", [GP_WEIGHT, 3.0])
def test_critic_loss_matches_hand_values(gp_weight):
    a, b = 0.7, [0.3, -1.2]
    codes = [[1.0, 2.0], [-0.5, 0.25], [3.0, -1.0]]
    fake = [[0.0, 0.5], [1.5, -2.0], [-1.0, 1.0]]
    alpha = [0.2, 0.9, 0.5]
    t = critic_loss(QuadraticCritic(a, b), torch.tensor(codes, dtype=torch.float64),
                    torch.tensor(fake, dtype=torch.float64), torch.tensor(alpha, dtype=torch.float64)[:, None],
                    gp_weight)
    slopes = []
    for c, f, al in zip(codes, fake, alpha):
        zhat = [fv + al * (cv - fv) for cv, fv in zip(c, f)]       # from the prior draw towards the code
        slopes.append(math.sqrt(sum((a * v + bv) ** 2 for v, bv in zip(zhat, b))))
    gp = sum((s - 1.0) ** 2 for s in slopes) / 3
    w = sum(_hand_c(a, b, c) for c in codes) / 3 - sum(_hand_c(a, b, f) for f in fake) / 3
    assert t["gradient_penalty"].item() == pytest.approx(gp, rel=REL)
    assert t["w_distance"].item() == pytest.approx(w, rel=REL)
    assert t["critic_loss"].item() == pytest.approx(-w + gp_weight * gp, rel=REL)


def test_pgen_and_encoder_losses_match_hand_values_with_opposite_signs():
    a, b = 0.7, [0.3, -1.2]
    critic = QuadraticCritic(a, b)
    z = [[1.0, 2.0], [-0.5, 0.25]]
    mean_c = sum(_hand_c(a, b, v) for v in z) / 2
    zt = torch.tensor(z, dtype=torch.float64)
    assert pgen_loss(critic, zt).item() == pytest.approx(-mean_c, rel=REL)     # P-GEN raises C on its draws
    assert encoder_loss(critic, zt).item() == pytest.approx(mean_c, rel=REL)   # the encoder lowers it on codes


def test_penalty_matches_per_row_jacobians_of_the_dense_critic():
    """The one-pass batch gradient equals each row's own gradient (rows are independent)."""
    torch.manual_seed(0)
    critic = LatentCritic(5, hidden=7, n_layers=2).double()
    codes, fake = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    alpha = torch.rand(4, 1, dtype=torch.float64)
    t = critic_loss(critic, codes, fake, alpha, 1.0)
    zhat = fake + alpha * (codes - fake)
    norms = [torch.autograd.functional.jacobian(lambda v: critic(v[None])[0], zhat[i]).norm() for i in range(4)]
    expected = sum((float(n) - 1.0) ** 2 for n in norms) / 4
    assert t["gradient_penalty"].item() == pytest.approx(expected, rel=1e-10)  # float64, two gradient paths


def test_critic_loss_reaches_only_the_critic():
    critic = LatentCritic(3, hidden=4, n_layers=1).double()
    codes = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    critic_loss(critic, codes, fake, torch.rand(4, 1, dtype=torch.float64))["critic_loss"].backward()
    assert codes.grad is None and fake.grad is None
    assert all(p.grad is not None for p in critic.parameters())


def test_autoencoder_loss_is_the_plain_sum_of_squares_unless_rae_terms_are_asked_for():
    model = build_model("flexae", **SMALL)
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    x_hat = torch.rand(2, 3, 32, 32).double()      # float32 values: the objective's float32 cast is exact
    z = torch.full((2, 8), 30.0, dtype=torch.float64)       # big codes: any default z-norm term would show
    sq = [sum((p - q) ** 2 for p, q in zip(x[i].flatten().tolist(), x_hat[i].flatten().tolist())) for i in range(2)]
    out = {"x_hat": x_hat, "z": z}
    t = FlexAEObjective(model, TrainConfig(model="flexae")).autoencoder_terms(x, out)
    assert t["loss"].item() == pytest.approx(sum(sq) / 2, rel=REL)
    opts = {"z_weight": 0.5, "decoder_l2": 0.25}
    t = FlexAEObjective(model, TrainConfig(model="flexae", loss_options=opts)).autoencoder_terms(x, out)
    theta2 = sum(float(p.detach().double().pow(2).sum()) for p in model.decoder.parameters())
    # the decoder's norm is summed in float32 by the code: rel 1e-6 is float32 rounding of ~1e5 terms
    assert t["loss"].item() == pytest.approx(sum(sq) / 2 + 0.5 * 0.5 * 8 * 900 + 0.25 * 0.5 * theta2, rel=1e-6)


# ---------------------------------------------------------------------------------------
# Directions: the prior moves towards the codes, the codes towards the prior
# ---------------------------------------------------------------------------------------
def test_a_trained_critic_pulls_the_prior_to_the_codes_and_the_codes_to_the_prior():
    torch.manual_seed(0)
    codes = torch.tensor([3.0, -2.0]) + 0.3 * torch.randn(64, 2)
    pgen, critic = PriorGenerator(2, 2, hidden=16, n_layers=1), LatentCritic(2, hidden=16, n_layers=2)
    opt_c = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=ADV_BETAS)
    noise = torch.randn(64, 2)
    for _ in range(60):     # the critic alone: codes are its high side (robust over seeds 0-7)
        with torch.no_grad():
            fake = pgen(noise)
        loss = critic_loss(critic, codes, fake, torch.rand(64, 1))["critic_loss"]
        opt_c.zero_grad()
        loss.backward()
        opt_c.step()
    with torch.no_grad():
        fake = pgen(noise)
    w = critic_loss(critic, codes, fake, torch.rand(64, 1))["w_distance"]
    assert w > 1.0                           # the two clouds are ~3.6 apart; a critic near 1-Lipschitz sees it
    gap = codes.mean(0) - fake.mean(0)
    # one small P-GEN step: its draws' mean moves along the gap
    opt_g = torch.optim.SGD(pgen.parameters(), lr=1e-2)
    critic.zero_grad(set_to_none=True)
    with frozen(critic):
        opt_g.zero_grad()
        pgen_loss(critic, pgen(noise)).backward()
    assert all(p.grad is None for p in critic.parameters())
    opt_g.step()
    with torch.no_grad():
        assert torch.dot(pgen(noise).mean(0) - fake.mean(0), gap) > 0
    # the encoder's loss moves the codes against the gap, towards the prior
    z = codes.clone().requires_grad_(True)
    encoder_loss(critic, z).backward()
    assert torch.dot(-z.grad.mean(0), gap) < 0


# ---------------------------------------------------------------------------------------
# The step: which parameters each optimiser's loss reaches
# ---------------------------------------------------------------------------------------
class RecordingTrainer(Trainer):
    """A trainer that records, for every optimiser step, which model parameters its loss reached."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.calls = []

    def minimise(self, name, loss):
        for p in self.model.parameters():
            p.grad = None
        loss.backward()
        self.calls.append((name, {k for k, p in self.model.named_parameters() if p.grad is not None}))
        self.optimizers[name].step()


def _trainer(cls=Trainer, **kw):
    cfg = TrainConfig(model="flexae", steps=1, **dict(TINY, **kw)).resolved(CPU, total_steps=1)
    return cls(cfg)


def _names(model, prefix):
    return {k for k, _ in model.named_parameters() if k.startswith(prefix)}


def test_each_step_reaches_exactly_the_parameters_it_should_move():
    tr = _trainer(RecordingTrainer)
    m = tr.model
    terms = tr.train_step(torch.rand(8, 3, 32, 32))
    assert [n for n, _ in tr.calls] == ["ae"] + ["critic"] * N_CRITIC + ["pgen", "encoder"]
    enc, dec, pgen, critic = (_names(m, p) for p in ("encoder.", "decoder.", "pgen.", "critic."))
    reached = dict(tr.calls[:1] + tr.calls[-2:])
    assert reached["ae"] == enc | dec                 # the auto-encoder: reconstruction only
    assert all(r == critic for n, r in tr.calls if n == "critic")   # never the encoder, never P-GEN
    assert reached["pgen"] == pgen                    # through the (frozen) critic to P-GEN alone
    assert reached["encoder"] == enc                  # the codes move towards the prior
    assert all(torch.isfinite(v) for v in terms.values())
    assert all(p.requires_grad for p in m.critic.parameters())       # unfrozen after the step


def test_optimisers_rates_and_betas():
    tr = _trainer()
    m, opts = tr.model, tr.optimizers
    assert set(opts) == {"ae", "critic", "pgen", "encoder"}
    ids = {k: {id(p) for g in o.param_groups for p in g["params"]} for k, o in opts.items()}
    assert ids["ae"] == {id(p) for p in list(m.encoder.parameters()) + list(m.decoder.parameters())}
    assert ids["critic"] == {id(p) for p in m.critic.parameters()}
    assert ids["pgen"] == {id(p) for p in m.pgen.parameters()}
    assert ids["encoder"] == {id(p) for p in m.encoder.parameters()}
    lr = {k: o.param_groups[0]["lr"] for k, o in opts.items()}
    # FlexAESR.py's ratios: P-GEN at the auto-encoder's rate, critic half of it, encoder 1/20
    assert lr == pytest.approx({"ae": AE_LR, "pgen": AE_LR, "critic": CRITIC_LR, "encoder": ENCODER_LR_RATIO * AE_LR})
    assert CRITIC_LR == pytest.approx(AE_LR / 2) and ENCODER_LR_RATIO == pytest.approx(1 / 20)
    assert opts["ae"].param_groups[0]["betas"] == (0.9, 0.999)
    assert all(opts[k].param_groups[0]["betas"] == (0.0, 0.9) for k in ("critic", "pgen", "encoder"))


def test_options_reach_the_step_through_the_trainer():
    tr = _trainer(RecordingTrainer, loss_options={"n_critic": 2, "encoder_lr_ratio": 0.0, "gp_weight": 3.0})
    terms = tr.train_step(torch.rand(8, 3, 32, 32))
    assert [n for n, _ in tr.calls] == ["ae", "critic", "critic", "pgen"]       # no encoder step
    # the returned terms are the last critic step's, before its update: loss = -W + 3 GP
    # (float32 terms of size ~1: 1e-5 absolute is a few float32 ulps of their sum)
    assert terms["critic_loss"].item() == pytest.approx(
        -terms["w_distance"].item() + 3.0 * terms["gradient_penalty"].item(), abs=1e-5)
    tr = _trainer(loss_options={"encoder_lr_ratio": 0.1}, lr=2e-3, disc_lr=3e-4)
    lr = {k: o.param_groups[0]["lr"] for k, o in tr.optimizers.items()}
    assert lr == pytest.approx({"ae": 2e-3, "pgen": 2e-3, "critic": 3e-4, "encoder": 2e-4})
    with pytest.raises(ValueError, match="encoder_lr_ratio"):
        TrainConfig(model="flexae", loss_options={"lam": 1.0}).validate()


# ---------------------------------------------------------------------------------------
# The model: overrides, capacities, sample_prior
# ---------------------------------------------------------------------------------------
def test_overrides_set_pgen_and_critic_and_m_prime_is_at_least_m():
    m = build_model("flexae", **SMALL, pgen_hidden=160, pgen_layers=2, pgen_latent=12, critic_hidden=96,
                    critic_layers=3)
    assert isinstance(m, FlexAE) and model_spec("flexae").objective is FlexAEObjective
    assert m.pgen_latent == 12 and m.sample_prior(3).shape == (3, 8)
    assert [mod.out_features for mod in m.pgen.net if isinstance(mod, nn.Linear)] == [10, 10, 8]  # 160 x 0.0625
    assert [mod.out_features for mod in m.critic.net if isinstance(mod, nn.Linear)] == [6, 6, 6, 1]
    assert build_model("flexae", **SMALL).pgen_latent == 8            # the code's default m' = m
    with pytest.raises(ValueError, match="pgen_latent"):
        build_model("flexae", **SMALL, pgen_latent=4)


def test_the_six_capacities_build_with_increasing_parameter_counts():
    assert len(PGEN_CAPACITIES) == 6
    study = [count_parameters(build_model("flexae", image_size=32, width=0.125, latent_dim=64, **c).pgen)
             for c in PGEN_CAPACITIES]
    assert all(a < b for a, b in zip(study, study[1:])), study
    assert study[0] == 64 * 64 + 64                                   # model 1: one affine map
    assert study[4] == count_parameters(build_model("flexae", image_size=32, width=0.125).pgen)  # the default
    for width, m in ((1.0, 128), (0.0625, 8)):                        # and at other sizes
        counts = [count_parameters(PriorGenerator(m, m, max(1, round(c["pgen_hidden"] * width)), c["pgen_layers"]))
                  for c in PGEN_CAPACITIES]
        assert all(a < b for a, b in zip(counts, counts[1:])), (width, counts)


def test_sample_prior_is_pgens_output_of_seeded_noise():
    m = build_model("flexae", **SMALL, prior_sigma2=4.0, pgen_latent=10).eval()
    s = m.sample_prior(5, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = m.pgen(2.0 * torch.randn(5, 10, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(s, expected) and not s.requires_grad
    assert torch.equal(s, m.sample_prior(5, generator=torch.Generator().manual_seed(7)))
    last = m.pgen.net[-1]
    with torch.no_grad():                     # a P-GEN that outputs one point: every prior draw is it
        last.weight.zero_()
        last.bias.copy_(torch.arange(8.0))
    assert torch.equal(m.sample_prior(4, generator=torch.Generator().manual_seed(1)), torch.arange(8.0).expand(4, 8))
    with torch.no_grad():
        assert torch.equal(generate(m, 3, seed=2), m.decode(torch.arange(8.0).expand(3, 8)))


# ---------------------------------------------------------------------------------------
# Training through fit, and an exact resume
# ---------------------------------------------------------------------------------------
def test_flexae_trains_by_name_through_fit_and_resumes_exactly(tmp_path):
    data = _images()
    full = fit("flexae", data, TrainConfig(steps=2, out=str(tmp_path / "full"), **TINY))
    assert full.step == 2 and isinstance(full.model, FlexAE)
    keys = {"loss", "recon", "critic_loss", "gradient_penalty", "w_distance", "pgen_loss", "encoder_loss"}
    assert all(keys <= set(r) and all(math.isfinite(r[k]) for k in keys) for r in full.history)
    samples = generate(full.model, 4, seed=0)
    assert samples.shape == (4, 3, 32, 32) and torch.isfinite(samples).all()
    fit("flexae", data, TrainConfig(steps=1, out=str(tmp_path / "part"), **TINY))
    part = fit("flexae", data, TrainConfig(steps=2, out=str(tmp_path / "part"), resume=True, **TINY))
    assert part.step == 2
    a, b = full.model.state_dict(), part.model.state_dict()
    # exact on purpose: same process, kernels and RNG states; any difference is a resume bug
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ca = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["optimizers"]
    cb = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)["optimizers"]
    assert set(ca) == {"ae", "critic", "pgen", "encoder"}
    for name in ca:
        for i, state in ca[name]["state"].items():
            assert all(torch.equal(torch.as_tensor(v), torch.as_tensor(cb[name]["state"][i][k]))
                       for k, v in state.items()), name
