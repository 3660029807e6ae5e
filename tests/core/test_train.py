"""Tests of the training engine (issue 4): one loop for every model (here the thesis' five), run folder, resume,
NaN guard, shape refusal, CLI and a 2-process DDP run on gloo. Tiny models (width 0.125,
32 px) so the whole file runs in well under two minutes on 2 CPU cores."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import pytest
import torch

from waelib import config, losses, registry
from waelib.registry import objective_for
from waelib.train import FitResult, NonFiniteLossError, TrainConfig, epoch_permutation, fit, load_run, main, read_log
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)
TINY = dict(image_size=32, width=0.125, batch_size=8, progress=False, log_every=2,
            sample_every=1000, checkpoint_every=1000, seed=3)


def _images(n=48, size=32, seed=0, channels=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)


def _assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _assert_optim_equal(a, b):
    for name in a:
        sa, sb = a[name]["state"], b[name]["state"]
        assert sa.keys() == sb.keys()
        for i in sa:
            for k in sa[i]:
                assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), (name, i, k)


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------
def test_config_rejects_unknown_keys_listing_valid_ones():
    with pytest.raises(ValueError) as e:
        TrainConfig.from_dict({"model": "vae", "lerning_rate": 1e-3})
    assert "lerning_rate" in str(e.value) and "batch_size" in str(e.value)
    with pytest.raises(ValueError, match="valid keys"):
        fit("vae", _images(), epohcs=3)


@pytest.mark.parametrize("name", registry.THESIS_MODEL_NAMES)
def test_resolved_defaults_follow_the_thesis(name):
    cfg = TrainConfig(model=name).resolved(torch.device("cpu"))
    kind = {"vae": "vae", "vae_resnet": "vae", "wae_mmd": "wae_mmd"}.get(name, "wae_gan")
    if kind == "vae":
        assert (cfg.lr, cfg.disc_lr) == (config.VAE_LR, None)
    elif kind == "wae_mmd":
        assert (cfg.lr, cfg.disc_lr) == (config.WAE_MMD_LR, None)
    else:
        assert (cfg.lr, cfg.disc_lr) == (config.WAE_AE_LR, config.WAE_DISC_LR)
    assert cfg.betas == (0.5, 0.999)
    assert cfg.epochs == config.EPOCHS and cfg.batch_size == config.BATCH_SIZE
    # CPU: fp32 (bf16 only when asked for); channels-last, fused Adam and compile from the
    # measured table of waelib.train.fastpath (tests/core/test_fastpath.py)
    from waelib.train.fastpath import cpu_choice
    assert cfg.amp is None
    assert ({k: getattr(cfg, k) for k in ("channels_last", "fused", "compile")}
            == cpu_choice(name, cfg.image_size, cfg.width)[0])
    with pytest.raises(ValueError, match="either epochs or steps"):
        TrainConfig(model=name, epochs=1, steps=1).validate()


def test_epoch_permutation_is_a_pure_function_of_seed_and_epoch():
    a, b = epoch_permutation(100, 1, 0), epoch_permutation(100, 1, 0)
    assert torch.equal(a, b) and sorted(a.tolist()) == list(range(100))
    assert not torch.equal(a, epoch_permutation(100, 1, 1))
    assert not torch.equal(a, epoch_permutation(100, 2, 0))


# ---------------------------------------------------------------------------------------
# One loop for the thesis' five models; the run folder
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", registry.THESIS_MODEL_NAMES)
def test_every_model_trains_through_the_one_loop(name, tmp_path):
    res = fit(name, _images(32), TrainConfig(steps=2, out=str(tmp_path), **TINY))
    assert isinstance(res, FitResult) and res.step == 2 and not res.interrupted
    terms = set(res.history[-1])
    assert {"step", "epoch", "loss", "recon", "images_per_second"} <= terms
    objective = objective_for(res.model.name).name
    assert ("kl" in terms) if objective == "vae" else ("penalty" in terms)
    if objective == "wae_gan":
        assert "disc_loss" in terms
    assert all(math.isfinite(r["loss"]) for r in res.history)


def test_wae_gan_step_is_algorithm_2(monkeypatch):
    """One discriminator update, then one auto-encoder update scored by the updated
    discriminator; both use waelib.losses."""
    from waelib.train import Trainer
    calls = []
    real_d, real_g = losses.discriminator_loss, losses.wae_gan_loss
    monkeypatch.setattr(losses, "discriminator_loss",
                        lambda *a, **k: (calls.append("disc"), real_d(*a, **k))[1])
    monkeypatch.setattr(losses, "wae_gan_loss", lambda *a, **k: (calls.append("ae"), real_g(*a, **k))[1])
    cfg = TrainConfig(model="wae_resnet", **TINY).resolved(torch.device("cpu"))
    tr = Trainer(cfg)
    assert set(tr.optimizers) == {"ae", "disc"}
    assert tr.optimizers["ae"].param_groups[0]["lr"] == config.WAE_AE_LR
    assert tr.optimizers["disc"].param_groups[0]["lr"] == config.WAE_DISC_LR
    assert tr.optimizers["ae"].param_groups[0]["betas"] == (0.5, 0.999)
    disc_ids = {id(p) for p in tr.model.discriminator.parameters()}
    assert not any(id(p) in disc_ids for g in tr.optimizers["ae"].param_groups for p in g["params"])
    d0 = [p.detach().clone() for p in tr.model.discriminator.parameters()]
    e0 = [p.detach().clone() for p in tr.model.encoder.parameters()]
    tr.train_step(_images(8).float() / 255)
    assert calls == ["disc", "ae"]
    assert any(not torch.equal(a, b) for a, b in zip(d0, tr.model.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(e0, tr.model.encoder.parameters()))


def test_run_folder_contents_and_load_run(tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(steps=4, out=str(out), **dict(TINY, sample_every=2, n_samples=4))
    res = fit("wae_mmd", _images(32), cfg)
    meta = json.loads((out / "config.json").read_text())
    assert meta["config"]["model"] == "wae_mmd" and meta["config"]["lr"] == config.WAE_MMD_LR
    assert {"hardware", "versions", "git_commit", "date_utc"} <= set(meta["metadata"])
    rows = read_log(out)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert {"loss", "recon", "penalty", "images_per_second", "epoch"} <= set(rows[0])
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert {"model", "optimizers", "step", "epoch", "data_order", "rng", "config"} <= set(ck)
    assert ck["step"] == 4 and ck["finished"]
    assert {"torch", "numpy", "python", "cuda"} <= set(ck["rng"]["ranks"][0])
    _assert_state_equal(ck["model"], res.model.state_dict())
    assert (out / "samples_step000002.png").exists() and (out / "samples_step000004.png").exists()
    model = load_run(out)
    _assert_state_equal(model.state_dict(), res.model.state_dict())
    assert not model.training and model.run_step == 4
    x = _images(4).float() / 255
    if res.config.channels_last:        # the CPU fast path may train in channels-last: same
        model = model.to(memory_format=torch.channels_last)   # weights, same kernels
    with torch.no_grad():             # same weights, batch, memory format and threads: bit for bit
        assert torch.equal(model.reconstruct(x), res.model.reconstruct(x))


# ---------------------------------------------------------------------------------------
# Resume: interrupted + resumed == uninterrupted, bit for bit
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vae_resnet", "wae_mmd", "wae_resnet"])
def test_sigint_then_resume_matches_an_uninterrupted_run(name, tmp_path):
    data = _images(40)                              # 5 steps per epoch: crosses an epoch
    base = dict(TINY, steps=8, checkpoint_every=3)
    full = fit(name, data, TrainConfig(out=str(tmp_path / "full"), **base))

    before = signal.getsignal(signal.SIGINT)

    def interrupt(info):                            # a real SIGINT to this process at step 4
        if info["step"] == 4:
            os.kill(os.getpid(), signal.SIGINT)

    part = fit(name, data, TrainConfig(out=str(tmp_path / "part"), **base), callback=interrupt)
    assert part.interrupted and part.step == 4
    assert signal.getsignal(signal.SIGINT) is before          # handlers restored
    ck = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 4 and not ck["finished"] and ck["data_order"]["position"] == 4

    resumed = fit(name, data, TrainConfig(out=str(tmp_path / "part"), resume=True, **base))
    assert resumed.step == 8 and not resumed.interrupted
    # Exact on purpose: both runs take the same path (same process, thread count, settings and
    # kernels), so any difference is a resume bug, not rounding.
    _assert_state_equal(full.model.state_dict(), resumed.model.state_dict())  # incl. BN stats
    ck_full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    ck_res = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    _assert_optim_equal(ck_full["optimizers"], ck_res["optimizers"])
    assert torch.equal(ck_full["rng"]["ranks"][0]["torch"], ck_res["rng"]["ranks"][0]["torch"])
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("time", "images_per_second")}
                          for r in rows]
    assert strip(full.history) == strip(resumed.history)


def test_resume_refuses_a_different_model_setting(tmp_path):
    fit("wae_mmd", _images(32), TrainConfig(steps=1, out=str(tmp_path), **TINY))
    with pytest.raises(ValueError, match="cannot resume"):
        fit("wae_mmd", _images(32), TrainConfig(steps=2, out=str(tmp_path), resume=True,
                                                **dict(TINY, seed=4)))


# ---------------------------------------------------------------------------------------
# Guards
# ---------------------------------------------------------------------------------------
def test_nan_pixels_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path):
    n, b, seed = 32, TINY["batch_size"], TINY["seed"]
    data = _images(n).float() / 255
    bad = int(epoch_permutation(n, seed, 0)[2 * b])           # first image of step 3
    data[bad, :, 0, 0] = float("nan")
    cfg = TrainConfig(steps=4, out=str(tmp_path), **dict(TINY, checkpoint_every=1, log_every=1))
    with pytest.raises(NonFiniteLossError) as e:
        fit("wae_gan", data, cfg)
    msg = str(e.value)
    assert "step 3" in msg and "checkpoint.pt" in msg and "(step 2)" in msg
    assert "'recon'" in msg and "lower learning rate" in msg
    # the advice is a command that exists (issue 11, item 1): resume with a lower lr
    assert f"python -m waelib.train --out {tmp_path} --resume --lr {config.WAE_AE_LR / 10:g}" in msg
    assert "--disc-lr" in msg
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 2
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert max(r["step"] for r in read_log(tmp_path)) == 2


def test_nan_loss_term_is_named_even_between_log_syncs(tmp_path, monkeypatch):
    real = losses.wae_mmd_loss
    count = {"n": 0}

    def poisoned(*a, **k):
        count["n"] += 1
        out = real(*a, **k)
        if count["n"] == 3:
            out["penalty"] = out["penalty"] * float("inf")
        return out

    monkeypatch.setattr(losses, "wae_mmd_loss", poisoned)
    cfg = TrainConfig(steps=6, out=str(tmp_path), **dict(TINY, checkpoint_every=2, log_every=4))
    with pytest.raises(NonFiniteLossError, match=r"'penalty' became inf at step 3") as e:
        fit("wae_mmd", _images(48), cfg)
    assert "(step 2)" in str(e.value)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 2


def test_mismatched_images_are_refused_before_training(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ValueError) as e:
        fit("wae_resnet", _images(16, size=64), TrainConfig(steps=1, out=str(out), **TINY))
    msg = str(e.value)
    assert "(3, 64, 64)" in msg and "(3, 32, 32)" in msg and "image_size=64" in msg
    with pytest.raises(ValueError, match="1-channel.*RGB"):
        fit("vae", _images(16, channels=1), TrainConfig(steps=1, out=str(out), **TINY))
    assert not out.exists()


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
def test_cli_unknown_model_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--model", "resnet_wae", "--dataset", "synthfaces"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert all(n in err for n in registry.THESIS_MODEL_NAMES)


def test_cli_trains_and_resumes_from_a_tensor_file(tmp_path):
    data_file = tmp_path / "imgs.pt"
    torch.save(_images(32), data_file)
    out = tmp_path / "cli"
    args = ["--model", "vae", "--dataset", str(data_file), "--image-size", "32", "--width",
            "0.125", "--steps", "2", "--batch-size", "8", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 2
    assert main(["--out", str(out), "--resume", "--steps", "3", "--no-progress"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3
    assert [r["step"] for r in read_log(out)] == [1, 2, 3]


# ---------------------------------------------------------------------------------------
# Several processes: torchrun, gloo, 2 CPU ranks
# ---------------------------------------------------------------------------------------
def test_torchrun_two_gloo_ranks_keep_identical_replicas(tmp_path):
    data_file = tmp_path / "imgs.pt"
    torch.save(_images(64), data_file)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "waelib.train", "--model", "wae_resnet", "--dataset", str(data_file),
           "--image-size", "32", "--width", "0.125", "--steps", "3", "--batch-size", "8",
           "--device", "cpu", "--out", str(out), "--no-progress", "--log-every", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = json.loads((out / "replicas.json").read_text())
    assert len(rep["sha256"]) == 2 and rep["sha256"][0] == rep["sha256"][1]
    meta = json.loads((out / "config.json").read_text())
    assert meta["world_size"] == 2
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 3 and len(ck["rng"]["ranks"]) == 2
    # the two ranks drew different training noise (per-rank seeds)
    assert not torch.equal(ck["rng"]["ranks"][0]["torch"], ck["rng"]["ranks"][1]["torch"])
    assert [r["step"] for r in read_log(out)] == [1, 2, 3]
    model = load_run(out)
    assert model.run_step == 3


def test_named_dataset_and_time_based_checkpoints(tmp_path, monkeypatch):
    import waelib.train.checkpoint  # where the checkpoint is written
    saved = []
    real = waelib.train.checkpoint.atomic_torch_save
    monkeypatch.setattr(waelib.train.checkpoint, "atomic_torch_save", lambda obj, path: (saved.append(obj["step"]),
                                                                    real(obj, path))[1])
    cfg = TrainConfig(steps=3, out=str(tmp_path), **dict(TINY, log_every=1, checkpoint_minutes=0.0))
    res = fit("vae", "synthfaces", cfg.replace(n=40))
    assert res.step == 3 and res.config.dataset == "synthfaces"
    assert saved == [1, 2, 3]                 # due by time at every sync, plus the final one


def test_run_object_is_what_fit_does(tmp_path):
    """fit() delegates to the Run object: prepare() then train() gives the same model."""
    from waelib.train import Run
    data = _images(32)
    res = fit("vae", data, TrainConfig(steps=3, out=str(tmp_path / "fit"), **TINY))
    run = Run(TrainConfig(model="vae", steps=3, out=str(tmp_path / "run"), **TINY), data).prepare()
    assert (run.step, run.total_steps, run.steps_per_epoch) == (0, 3, 4)
    again = run.train()
    assert again.step == 3 and not again.interrupted
    _assert_state_equal(res.model.state_dict(), again.model.state_dict())


@pytest.mark.parametrize("model", ["wae_mmd", "wae_gan"])
def test_wae_objective_uses_the_size_calibrated_recon_scale(model):
    """loss = recon_scale_for(S) * recon + lambda * penalty; at 32 px recon_scale is 0.8, not the
    official 0.05 that is calibrated for [-1, 1] pixels at 64 px (docs/deviations.md)."""
    from waelib.train import Trainer
    cfg = TrainConfig(model=model, **TINY).resolved(torch.device("cpu"))
    assert cfg.recon_scale == pytest.approx(losses.recon_scale_for(cfg.image_size))
    assert TrainConfig(model=model, image_size=32).resolved(torch.device("cpu")).recon_scale == pytest.approx(0.8)
    assert TrainConfig(model=model, recon_scale=0.05).resolved(torch.device("cpu")).recon_scale == 0.05
    terms = Trainer(cfg).train_step(_images(8).float() / 255)
    lam = config.WAE_MMD_LAMBDA if model == "wae_mmd" else config.WAE_GAN_LAMBDA
    expected = cfg.recon_scale * terms["recon"] + lam * terms["penalty"]
    # the same fp32 product and sum, perhaps in another order: a few ulps (~1e-7); 0.05 instead
    # of 0.8 would be O(1)
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


# ---------------------------------------------------------------------------------------
# Issue 11: resume with a new learning rate, non-finite statistics, float ranges, TensorBoard
# ---------------------------------------------------------------------------------------
def test_resume_applies_new_learning_rates_and_records_the_change(tmp_path):
    """fit(..., resume=True, lr=...) used to restore the optimiser with the checkpoint's lr
    while config.json recorded the new one."""
    out, data = tmp_path / "run", _images(32)
    fit("wae_gan", data, TrainConfig(steps=2, out=str(out), **TINY))
    res = fit("wae_gan", data, TrainConfig(steps=4, out=str(out), resume=True, lr=1e-5,
                                           disc_lr=2e-5, **TINY))
    assert res.step == 4
    groups = {k: o["param_groups"] for k, o in
              torch.load(out / "checkpoint.pt", weights_only=False)["optimizers"].items()}
    assert {g["lr"] for g in groups["ae"]} == {1e-5} and {g["lr"] for g in groups["disc"]} == {2e-5}
    meta = json.loads((out / "config.json").read_text())
    assert (meta["config"]["lr"], meta["config"]["disc_lr"]) == (1e-5, 2e-5)
    changed = meta["resumes"][-1]["changed"]
    assert meta["resumes"][-1]["step"] == 2
    assert changed["lr"] == [config.WAE_AE_LR, 1e-5] and changed["disc_lr"] == [config.WAE_DISC_LR, 2e-5]
    assert changed["steps"] == [2, 4]
    # a plain resume changes nothing and records nothing
    fit("wae_gan", data, TrainConfig(steps=5, out=str(out), resume=True, lr=1e-5, disc_lr=2e-5,
                                     **TINY))
    assert json.loads((out / "config.json").read_text())["resumes"][-1]["changed"] == {"steps": [4, 5]}


def _first_running_var(model_name):
    from waelib.registry import build_model
    m = build_model(model_name, image_size=TINY["image_size"], width=TINY["width"])
    return next(k for k in m.state_dict() if k.endswith("running_var"))


def test_nonfinite_batchnorm_statistic_is_named_at_the_next_log_sync(tmp_path):
    """A BatchNorm running variance that overflows leaves the training loss finite (batch
    statistics are used in training). It used to surface only when a checkpoint was written,
    naming a later step and no tensor; the log sync now checks every parameter and buffer on
    the device and names the tensor and the steps since the previous sync."""
    name = _first_running_var("wae_mmd")

    def poison(info):                                # after step 3: running_var = inf
        if info["step"] == 3:
            dict(info["trainer"].model.named_buffers())[name].fill_(float("inf"))

    cfg = TrainConfig(steps=8, out=str(tmp_path), **dict(TINY, log_every=2, checkpoint_every=2))
    with pytest.raises(NonFiniteLossError) as e:
        fit("wae_mmd", _images(48), cfg, callback=poison)
    msg = str(e.value)
    assert repr(name) in msg and "BatchNorm running statistic" in msg
    assert "steps 3-4" in msg and "after step 4" in msg
    assert "checkpoint.pt (step 2)" in msg and "--resume --lr" in msg
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 2 and torch.isfinite(ck["model"][name]).all()
    assert max(r["step"] for r in read_log(tmp_path)) == 2


def test_state_check_rides_on_the_log_sync(tmp_path, monkeypatch):
    """No extra host sync per step: the finite check of the state runs once per log sync."""
    from waelib.train import Run
    calls = []
    real = Run._state_flags
    monkeypatch.setattr(Run, "_state_flags", lambda self: (calls.append(self.step), real(self))[1])
    fit("vae", _images(32), TrainConfig(steps=8, out=str(tmp_path), **dict(TINY, log_every=4)))
    assert calls == [4, 8]


def test_float_images_outside_0_1_are_refused_with_the_fix(tmp_path):
    out = tmp_path / "never"
    cfg = TrainConfig(steps=1, out=str(out), **TINY)
    with pytest.raises(ValueError, match=r"\[0, 255\].*\[0, 1\].*divide by 255.*uint8"):
        fit("vae", _images(16).float(), cfg)

    class Items(torch.utils.data.Dataset):           # a data set of float items in 0..255
        def __len__(self):
            return 16

        def __getitem__(self, i):
            return _images(16)[i].float(), 0

    with pytest.raises(ValueError, match="divide by 255"):
        fit("vae", Items(), cfg)
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        fit("vae", _images(16).float() / 127.5 - 1, cfg)
    assert not out.exists()
    # uint8 and float in [0, 1] are fine
    assert fit("vae", _images(16).float() / 255, cfg.replace(out=str(tmp_path / "ok"))).step == 1


def test_channels_last_tensor_gets_the_permute_hint(tmp_path):
    x = _images(16).permute(0, 2, 3, 1).contiguous()             # (N, H, W, 3)
    with pytest.raises(ValueError) as e:
        fit("vae", x, TrainConfig(steps=1, out=str(tmp_path / "never"), **TINY))
    assert "x.permute(0, 3, 1, 2)" in str(e.value) and "grey" not in str(e.value)
    assert fit("vae", x.permute(0, 3, 1, 2), TrainConfig(steps=1, out=str(tmp_path / "ok"),
                                                         **TINY)).step == 1


def test_tensorboard_log_has_every_loss_term_images_per_second_and_the_samples(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = tmp_path / "run"
    cfg = TrainConfig(steps=4, out=str(out), tensorboard=True,
                      **dict(TINY, sample_every=2, n_samples=4))
    fit("wae_gan", _images(32), cfg)
    tb = out / "tensorboard"
    assert list(tb.glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(tb), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    rows = read_log(out)
    terms = [k for k in rows[0] if k not in ("step", "epoch", "time", "images_per_second")]
    assert {"loss", "recon", "penalty", "disc_loss"} <= set(terms)
    assert {f"train/{k}" for k in terms} | {"train/images_per_second"} <= set(tags["scalars"])
    for k in terms:
        ev = acc.Scalars(f"train/{k}")
        assert [e.step for e in ev] == [1, 2, 3, 4]
        # the event file stores float32 (6e-8 relative rounding) of the logged values
        assert [e.value for e in ev] == pytest.approx([r[k] for r in rows], rel=1e-6)
    assert [e.step for e in acc.Scalars("train/images_per_second")] == [2, 4]   # log_every=2
    assert "samples" in tags["images"] and [e.step for e in acc.Images("samples")] == [2, 4]
    # off by default
    fit("vae", _images(32), TrainConfig(steps=1, out=str(tmp_path / "plain"), **TINY))
    assert not (tmp_path / "plain" / "tensorboard").exists()


def test_headless_progress_bar_stays_compact(tmp_path, capsys):
    """Without a terminal or a notebook widget (here: pytest's captured stderr) the bar is
    refreshed at most once a minute, not at every log sync: a few lines per model."""
    import time as _time
    cfg = TrainConfig(steps=20, out=str(tmp_path), **dict(TINY, progress=True, log_every=1))
    fit("vae", _images(48), cfg, callback=lambda info: _time.sleep(0.1))
    err = capsys.readouterr().err
    assert "vae" in err and err.count("\r") <= 3, err.count("\r")
