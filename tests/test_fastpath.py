"""Every option of the fast path, exercised on the CPU (issue #11 part 1, issue #12).

- The CPU resolution: settings left at None come from the measured table
  (:mod:`waelib.train.fastpath`), explicit settings win, bf16 is never chosen on the CPU, and the
  choice is recorded in the resolved configuration.
- bf16 autocast (CPU autocast), channels-last and fused Adam, each alone and all together, for a
  few training steps of every model kind (vae, wae_mmd, wae_gan) and a ResNet model
  (wae_resnet): losses finite and close to the fp32 eager path.
- ``torch.compile`` (inductor, CPU): the compiled step of each kind (vae, wae_mmd, wae_gan)
  gives the eager step's losses, gradients and parameters (tolerances below), and everything
  together (bf16 + channels-last + fused + compile) trains wae_gan and, in a ``slow`` test,
  wae_resnet. Compiling costs 15-50 s per model on 2 cores with a cold inductor cache (the
  ResNet encoder 40-120 s), so each kind is compiled once (wae_gan's fp32 auto-encoder graph is
  wae_mmd's, found in inductor's cache); with a warm cache (any later run) the whole file takes
  about a minute.
- ``run_metadata`` does not import the heavy libraries it records the versions of.

Tiny models (width 0.125, 32 px, batch 8).

Tolerances, and why:
- fp32 options (channels-last, fused Adam) change only the order of floating-point sums:
  every loss term of the first step (forward rounding only) within 1e-4 relative of the fp32
  eager path, and over 3 steps within 1e-3 (measured: <= 2e-4) for the DCGAN/VAE models and
  1e-2 (measured: <= 4e-3) for WAE-ResNet, whose deep BatchNorm stack amplifies the rounding
  differences of the first updates. Parameters are NOT compared element-wise across several steps: biases that feed a
  BatchNorm have a gradient that is exactly zero in exact arithmetic, so theirs is rounding
  noise, and Adam's normalised step turns noise of either sign into a +-lr move.
- bf16 autocast: every loss term within 5e-2 relative (measured: <= 1.3e-2).
- compile (fp32): after one step the loss terms agree to 1e-5 relative, every gradient to
  ``allclose(rtol=1e-3, atol=1e-4)`` (gradients here are O(0.01-50); measured differences
  <= 3e-5), and every parameter to 1e-6 wherever the eager gradient is above 1e-4 (there
  Adam's first step is +-lr with a certain sign) and to 2 lr everywhere (the most a first Adam
  step can differ).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from waelib import config as C
from waelib.train import TrainConfig, Trainer, fastpath

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")
TINY = dict(image_size=32, width=0.125, batch_size=8, seed=0, progress=False)
FP32_EAGER = dict(amp=None, channels_last=False, fused=False, compile=False)
OPTIONS = {
    "bf16": dict(amp="bf16"),
    "channels_last": dict(channels_last=True),
    "fused": dict(fused=True),
    "all_eager": dict(amp="bf16", channels_last=True, fused=True),
}
BF16_RTOL = 5e-2


def _loss_rtol(option: str, model: str) -> float:
    """Loss tolerance over 3 steps vs the fp32 eager path (module docstring)."""
    if "amp" in OPTIONS[option]:
        return BF16_RTOL
    return 1e-2 if "resnet" in model else 1e-3


def _trainer(model: str, **settings) -> Trainer:
    cfg = TrainConfig(model=model, **TINY, **dict(FP32_EAGER, **settings)).resolved(CPU)
    torch.manual_seed(0)                       # same initial weights for every path
    return Trainer(cfg)


def _batches(n: int):
    g = torch.Generator().manual_seed(2)
    return [torch.randint(0, 256, (8, 3, 32, 32), generator=g, dtype=torch.uint8) for _ in range(n)]


def _train(tr: Trainer, steps: int):
    torch.manual_seed(1)                       # same training noise (prior draws, VAE eps)
    return [{k: v.item() for k, v in tr.train_step(tr.prepare_batch(x)).items()}
            for x in _batches(steps)]


_REFERENCE = {}


def _reference(model: str, steps: int = 3):
    if (model, steps) not in _REFERENCE:
        _REFERENCE[(model, steps)] = _train(_trainer(model), steps)
    return _REFERENCE[(model, steps)]


def _assert_losses_close(got, ref, rtol):
    assert len(got) == len(ref)
    for step, (a, b) in enumerate(zip(got, ref)):
        assert a.keys() == b.keys()
        for k in b:
            assert math.isfinite(a[k]), (step, k, a[k])
            assert abs(a[k] - b[k]) <= rtol * max(abs(b[k]), 1e-2), (step, k, a[k], b[k])


# ---------------------------------------------------------------------------------------
# Resolution on the CPU
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", C.MODEL_NAMES)
def test_cpu_settings_left_unset_come_from_the_measured_table(model):
    cfg = TrainConfig(model=model, image_size=32, width=0.125).resolved(CPU)
    want, record = fastpath.cpu_choice(model, 32, 0.125)
    assert {k: getattr(cfg, k) for k in ("channels_last", "fused", "compile")} == want
    assert cfg.amp is None                                     # bf16 only when asked for
    assert cfg.fast_path["cpu_kind"] == fastpath.cpu_kind()
    assert cfg.fast_path["source"] == record["source"] and cfg.fast_path["explicit"] == []
    assert cfg.fast_path["auto"] == want
    json.dumps(cfg.to_dict())                                  # goes into config.json as is


def test_explicit_settings_always_win():
    for value in (True, False):
        cfg = TrainConfig(model="wae_mmd", channels_last=value, fused=value, compile=value,
                          amp="bf16" if value else None).resolved(CPU)
        assert (cfg.channels_last, cfg.fused, cfg.compile) == (value, value, value)
        assert cfg.amp == ("bf16" if value else None)
        assert cfg.fast_path["explicit"] == ["channels_last", "compile", "fused"]
    # resolving a resolved configuration changes nothing (resume, the CLI's config.json)
    cfg = TrainConfig(model="vae").resolved(CPU)
    strip = lambda c: {k: v for k, v in c.to_dict().items() if k != "fast_path"}
    assert strip(cfg.resolved(CPU)) == strip(cfg)


def test_unmeasured_cpu_kind_and_size_fall_back_sensibly():
    settings, record = fastpath.cpu_choice("wae_mmd", 32, 0.125, kind="SomeVendor/NEON")
    assert settings == fastpath.CPU_FALLBACK and "fallback" in record["source"]
    assert not settings["channels_last"] and settings["fused"] and not settings["compile"]
    kind = next(iter(fastpath.CPU_DEFAULTS))
    s128, r128 = fastpath.cpu_choice("wae_resnet", 128, 1.0, kind=kind)
    assert s128 == fastpath.CPU_DEFAULTS[kind][("wae_resnet", 64)]      # nearest measured size
    assert "nearest" in r128["entry"]


def test_table_matches_the_committed_benchmark():
    """Every table entry of this kind of CPU is what ``make bench`` measured and committed."""
    path = ROOT / fastpath.CPU_TABLE_SOURCE
    rep = json.loads(path.read_text())
    kind = rep["device"]["cpu_kind"]
    assert kind in fastpath.CPU_DEFAULTS, kind
    seen = set()
    for res in rep["results"]:
        key = (res["model"], res["image_size"])
        auto = res["paths"]["auto"]["settings"]
        want = fastpath.CPU_DEFAULTS[kind][key]
        assert {k: auto[k] for k in want} == want, key
        assert auto["amp"] is None
        seen.add(key)
    assert seen == set(fastpath.CPU_DEFAULTS[kind])
    assert {m for m, _ in seen} == set(C.MODEL_NAMES) and {s for _, s in seen} == {32, 64}


# ---------------------------------------------------------------------------------------
# bf16 autocast, channels-last, fused Adam: alone and together, every kind + a ResNet
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("model", ["vae", "wae_mmd", "wae_gan", "wae_resnet"])
def test_eager_options_train_close_to_fp32(model, option):
    tr = _trainer(model, **OPTIONS[option])
    if "channels_last" in OPTIONS[option]:
        w = next(p for p in tr.model.parameters() if p.dim() == 4)
        assert w.is_contiguous(memory_format=torch.channels_last)
    if OPTIONS[option].get("fused"):
        assert all(o.defaults.get("fused") for o in tr.optimizers.values())
    assert tr.amp_dtype == (torch.bfloat16 if OPTIONS[option].get("amp") else None)
    got, ref = _train(tr, 3), _reference(model)
    if "amp" not in OPTIONS[option]:      # step 1: forward rounding only, before any update
        _assert_losses_close(got[:1], ref[:1], 1e-4)
    _assert_losses_close(got, ref, _loss_rtol(option, model))


# ---------------------------------------------------------------------------------------
# torch.compile on the CPU (inductor)
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["vae", "wae_mmd", "wae_gan"])
def test_compiled_step_matches_the_eager_step(model):
    eager, compiled = _trainer(model), _trainer(model, compile=True)
    assert compiled.compiled and compiled.fwd is not compiled.model
    le, lc = _train(eager, 1), _train(compiled, 1)
    _assert_losses_close(lc, le, 1e-5)
    lr = max(g["lr"] for o in eager.optimizers.values() for g in o.param_groups)
    pe, pc = dict(eager.model.named_parameters()), dict(compiled.model.named_parameters())
    for name, p in pe.items():
        q = pc[name]
        if p.grad is None:
            assert q.grad is None, name
            continue
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-4, msg=name)
        sure = p.grad.abs() > 1e-4
        diff = (q.detach() - p.detach()).abs()
        assert diff.max() <= 2 * lr + 1e-7, name
        if sure.any():
            assert diff[sure].max() <= 1e-6, name
    for (name, b), b2 in zip(eager.model.named_buffers(), compiled.model.buffers()):
        if b.is_floating_point():
            torch.testing.assert_close(b2, b, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("model", ["wae_gan", pytest.param("wae_resnet", marks=pytest.mark.slow)])
def test_all_options_together_with_compile(model):
    """bf16 autocast + channels-last + fused Adam + compile. (vae and wae_mmd are compiled once
    each, in fp32, above: a second compile per kind costs 20-45 s on 2 cores.)"""
    tr = _trainer(model, amp="bf16", channels_last=True, fused=True, compile=True)
    assert tr.compiled and tr.amp_dtype == torch.bfloat16
    _assert_losses_close(_train(tr, 3), _reference(model), BF16_RTOL)


def test_compile_on_a_resolved_cpu_config_is_not_refused():
    """compile is no longer "CUDA only": a CPU config keeps compile=True and the trainer
    wraps the forward module (when a C++ compiler is present)."""
    cfg = TrainConfig(model="wae_mmd", compile=True, **TINY).resolved(CPU)
    assert cfg.compile is True
    tr = Trainer(cfg)
    assert tr.compiled == fastpath.compiler_available()


# ---------------------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------------------
HEAVY = ("torchvision", "scipy", "sklearn", "torchmetrics", "pytorch_fid", "matplotlib")


def test_run_metadata_imports_none_of_the_libraries_it_versions():
    code = ("import sys, json; from waelib.utils import run_metadata; m = run_metadata(); "
            f"print(json.dumps({{'loaded': [k for k in {HEAVY!r} if k in sys.modules], "
            "'versions': m['versions']}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    assert rep["loaded"] == [], rep["loaded"]
    for k in HEAVY:
        assert k in rep["versions"]
    assert rep["versions"]["scipy"] and rep["versions"]["matplotlib"]
