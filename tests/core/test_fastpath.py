"""Every option of the fast path, exercised on the CPU (issue #11 part 1, issue #12).

- The CPU resolution: settings left at None come from the measured table
  (:mod:`waelib.train.fastpath`), explicit settings win, bf16 is never chosen on the CPU, and the
  choice is recorded in the resolved configuration.
- bf16 autocast (CPU autocast), channels-last and fused Adam, each alone and all together, for a
  few training steps of every model kind (vae, wae_mmd, wae_gan) and a ResNet model
  (wae_resnet): losses finite and close to the fp32 eager path.
- ``torch.compile`` (inductor, CPU): the compiled fp32 step of every model kind (vae, wae_mmd,
  wae_gan) and of wae_resnet gives the eager step's losses, gradients and parameters
  (tolerances below), and everything together (bf16 + channels-last + fused + compile) trains
  wae_gan like the same eager path. A cold compile costs 10-50 s per model on 2 cores (the
  ResNet encoder 60-80 s), so each model is compiled once, all with the same settings (wae_gan's
  fp32 auto-encoder graph is wae_mmd's, found in inductor's cache; its bf16 graph is the one
  extra compile); with a warm cache (any later run) the whole file takes well under a minute.
- ``run_metadata`` does not import the heavy libraries it records the versions of.

Tiny models (width 0.125, 32 px, batch 8).

Tolerances, and why (measured on an AMD EPYC, AVX-512; other CPUs run other SIMD kernels,
which change the order of floating-point sums as a thread count does, so each tolerance is
several times the spread between 1 and 2 torch threads of the same eager path):
- fp32 options (channels-last, fused Adam) change only the order of floating-point sums:
  every loss term of the first step (forward rounding only: sums of ~1e4 fp32 terms, measured
  <= 1e-6 relative) within 1e-4 relative of the fp32 eager path, and over 3 steps within 1e-3
  (measured <= 2e-4, thread spread <= 2e-4) for the DCGAN/VAE models and 3e-2 for WAE-ResNet
  (measured <= 4e-3, thread spread 3e-3), whose deep BatchNorm stack amplifies the rounding
  differences of the first updates chaotically. Parameters are NOT compared element-wise
  across several steps: biases that feed a BatchNorm have a gradient that is exactly zero in
  exact arithmetic, so theirs is rounding noise, and Adam's normalised step turns noise of
  either sign into a +-lr move.
- bf16 autocast: every loss term within 5e-2 relative (measured: <= 1.2e-2; bf16 keeps 8
  mantissa bits, 4e-3 relative per rounding).
- compile (fp32): after one step the loss terms agree to 1e-5 relative (measured <= 1.1e-6),
  every gradient to ``allclose(rtol=1e-3, atol=1e-4)`` (gradients here are O(0.01-50);
  measured: at most 1/3 of that allowance), every parameter to 1e-6 wherever the eager
  gradient is above 1e-4 (there Adam's first step is +-lr with a certain sign) and to 2 lr
  everywhere (the most a first Adam step can differ). WAE-ResNet's first-step gradients are
  ill-conditioned (1 vs 2 threads: 7% apart in norm), so its compiled gradients are held to 3x
  the thread spread in norm instead (measured: 1x), besides the 1e-5 on the losses.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from waelib import registry
from waelib.train import TrainConfig, Trainer, fastpath
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)
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
    return 3e-2 if "resnet" in model else 1e-3


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


_OPTION_RUNS = {}


def _all_eager(model: str):
    """3 steps of bf16 + channels-last + fused Adam, eager (cached from the test below)."""
    if (model, "all_eager") not in _OPTION_RUNS:
        _OPTION_RUNS[(model, "all_eager")] = _train(_trainer(model, **OPTIONS["all_eager"]), 3)
    return _OPTION_RUNS[(model, "all_eager")]


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
@pytest.mark.parametrize("model", registry.THESIS_MODEL_NAMES)
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
    assert {m for m, _ in seen} == set(registry.THESIS_MODEL_NAMES) and {s for _, s in seen} == {32, 64}


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
    _OPTION_RUNS[(model, option)] = got
    if "amp" not in OPTIONS[option]:      # step 1: forward rounding only, before any update
        _assert_losses_close(got[:1], ref[:1], 1e-4)
    _assert_losses_close(got, ref, _loss_rtol(option, model))


# ---------------------------------------------------------------------------------------
# torch.compile on the CPU (inductor)
# ---------------------------------------------------------------------------------------
#: The fp32 options a compiled step is checked with: NCHW + fused Adam (the CPU fallback
#: settings). Not channels-last: compiled in channels-last, the VAE's first-step losses differ
#: from the eager ones by ~8e-4 relative (measured, torch 2.14 CPU, with layout_optimization
#: off too: the same inductor bug as fastpath.compile_options describes), which this test
#: would report as a failure; it is left to the library to avoid that combination.
COMPILE_FP32 = dict(fused=True)
#: Models whose first-step gradients are ill-conditioned at this size (a deep BatchNorm stack at
#: batch 8): the eager step at 1 and at 2 torch threads, which differ only in the order of
#: floating-point sums, already give gradients that differ by ~7% in norm (measured), so they
#: are compared with that spread instead of element by element.
ILL_CONDITIONED = ("wae_resnet",)


def _first_step_and_more(tr: Trainer, steps: int = 3):
    """Losses of ``steps`` steps, plus the gradients, parameters and floating buffers right
    after the first step (the same training noise as :func:`_train`)."""
    torch.manual_seed(1)
    losses = []
    for i, x in enumerate(_batches(steps)):
        losses.append({k: v.item() for k, v in tr.train_step(tr.prepare_batch(x)).items()})
        if i == 0:
            named = list(tr.model.named_parameters())
            grads = {n: None if p.grad is None else p.grad.detach().clone() for n, p in named}
            params = {n: p.detach().clone() for n, p in named}
            buffers = {n: b.detach().clone() for n, b in tr.model.named_buffers() if b.is_floating_point()}
    return losses, grads, params, buffers


def _grad_distance(a, b) -> float:
    """||a - b|| / ||b|| over every gradient of the model at once."""
    num = sum(((a[n] - g) ** 2).sum() for n, g in b.items() if g is not None)
    den = sum((g ** 2).sum() for g in b.values() if g is not None)
    return float((num / den).sqrt())


# (`make test` runs pytest-xdist with --dist loadfile: this file stays on one worker, so the
# compiling tests run in turn and reuse what inductor cached; wae_gan's fp32 graph is wae_mmd's.)
@pytest.mark.parametrize("model", ["vae", "wae_mmd", "wae_gan", "wae_resnet"])
def test_compiled_step_matches_the_eager_step(model):
    """The compiled fp32 step against the same eager step (each model compiled once): the first
    step's losses to 1e-5, its gradients, parameters and BatchNorm buffers (tolerances in the
    module docstring), and three steps' losses like the other fp32 options. This comparison
    found an inductor miscompilation of the VAE decoder (fastpath.compile_options): the first
    step's losses then differ by ~8e-4 relative and gradients by up to 20% of their largest
    element (measured), far outside these tolerances. bf16 autocast hides that bug (identical
    loss differences with and without it, measured), so the check is made in fp32."""
    eager, compiled = _trainer(model, **COMPILE_FP32), _trainer(model, compile=True, **COMPILE_FP32)
    assert compiled.compiled and compiled.fwd is not compiled.model and not eager.compiled
    le, ge, pe, be = _first_step_and_more(eager)
    lc, gc, pc, bc = _first_step_and_more(compiled)
    _assert_losses_close(lc[:1], le[:1], 1e-5)
    _assert_losses_close(lc, le, _loss_rtol("fused", model))
    lr = max(g["lr"] for o in eager.optimizers.values() for g in o.param_groups)
    assert ge.keys() == gc.keys()
    assert all((gc[n] is None) == (g is None) for n, g in ge.items())
    for name, g in ge.items():
        if g is not None:     # Adam's first step moves each parameter by at most lr
            assert (pc[name] - pe[name]).abs().max() <= 2 * lr + 1e-7, name
    if model in ILL_CONDITIONED:
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if threads > 1 else 2)
        try:
            spread = _grad_distance(_first_step_and_more(_trainer(model, **COMPILE_FP32), 1)[1], ge)
        finally:
            torch.set_num_threads(threads)
        # compiled vs eager: measured 0.069, the eager thread-count spread 0.070.
        assert _grad_distance(gc, ge) <= 3 * spread + 1e-3, (_grad_distance(gc, ge), spread)
    else:
        for name, g in ge.items():
            if g is None:
                continue
            torch.testing.assert_close(gc[name], g, rtol=1e-3, atol=1e-4, msg=name)
            sure = g.abs() > 1e-4
            if sure.any():
                assert (pc[name] - pe[name])[sure].abs().max() <= 1e-6, name
    assert be.keys() == bc.keys()
    for name, b in be.items():
        torch.testing.assert_close(bc[name], b, rtol=1e-4, atol=1e-5, msg=name)


def test_all_options_together_with_compile():
    """bf16 autocast + channels-last + fused Adam + compile, on wae_gan: its compiled step against
    the same eager step, and both against the fp32 eager path (bf16 tolerance). The other models'
    compiled steps are checked in fp32 above; a second (bf16) compile per model would cost
    20-120 s each on 2 cores with a cold inductor cache."""
    every = dict(amp="bf16", channels_last=True, fused=True)
    tr = _trainer("wae_gan", compile=True, **every)
    assert tr.compiled and tr.amp_dtype == torch.bfloat16
    got = _train(tr, 3)
    _assert_losses_close(got, _all_eager("wae_gan"), BF16_RTOL)
    _assert_losses_close(got, _reference("wae_gan"), BF16_RTOL)


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
