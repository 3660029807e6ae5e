"""Which fast-path settings a run uses on the CPU: measured per model, size and kind of CPU.

On CUDA the fast path is fixed (bf16 autocast, channels-last, fused Adam, cuDNN autotuning,
GPU-resident data; ``torch.compile`` when asked). On the CPU the fastest *fp32* combination of
``channels_last``, ``fused`` (fused Adam) and ``compile`` differs between models and CPUs (e.g.
channels-last makes BatchNorm slower on one CPU and convolutions faster on another), so
:meth:`waelib.train.TrainConfig.resolved` fills the settings that are left at ``None`` from
:data:`CPU_DEFAULTS`: a table of what ``make bench`` measured fastest
(``results/bench/cpu_suite.json``, the table in ``results/bench/README.md``) for each model at
the default size (32 px) and the 64 px study size, keyed by the kind of CPU
(:func:`cpu_kind`: vendor and the SIMD level torch's kernels use, e.g.
``"AuthenticAMD/AVX512"``).

Why a committed table and not a timed probe at run start (results/bench/README.md):

- the choice is a pure function of (model, size, width, CPU kind), so an interrupted run and
  its resume always take the same path, and a resumed run stays bit-for-bit the uninterrupted
  one; a probe could pick differently on a noisy machine and break that;
- a probe that tells these paths apart needs seconds of alternating timing windows per
  candidate (the paths differ by 5-30%, while a shared 2-core machine's windows vary by
  2-10x), plus 10-50 s per ``torch.compile`` candidate: as long as a default-profile run
  itself (2,000 steps, about a minute);
- it costs nothing at start-up, and it never touches the RNG streams or the weights.

Rules: an explicit setting always wins; bf16 autocast is never chosen on the CPU (it changes
results beyond rounding: ``amp="bf16"`` turns it on); on a kind of CPU that is not in the table
the fallback :data:`CPU_FALLBACK` is fp32, NCHW, fused Adam, eager (fused Adam was faster for
every model on every CPU measured so far). The chosen settings and where they came from are
recorded in the resolved configuration (``config.json``: ``channels_last``, ``fused``,
``compile``, ``amp`` and ``fast_path``).
"""
from __future__ import annotations

import functools
import math
import platform
import shutil
from typing import Any, Dict, Optional, Tuple

import torch

__all__ = ["CPU_DEFAULTS", "CPU_FALLBACK", "CPU_TABLE_SOURCE", "cpu_kind", "cpu_choice",
           "compile_options", "compiler_available"]

#: Where the table below comes from (``make bench``).
CPU_TABLE_SOURCE = "results/bench/cpu_suite.json"

Entry = Dict[str, bool]
_F = dict(channels_last=False, fused=True, compile=False)      # fp32 NCHW + fused Adam
_CF = dict(channels_last=True, fused=True, compile=False)      # fp32 channels-last + fused Adam

#: The fastest measured fp32 settings: ``{cpu kind: {(model, image size): settings}}``, all
#: measured at width 0.125, batch 64, 2 torch threads (the default on the 2-core machine that
#: measured them), fp32 candidates naive / fused / channels-last / both (+ compile), by the
#: median of per-round wall-clock ratios (``make bench``; results/bench/README.md). Channels-last
#: helps the ResNet encoders (1x1 convolutions) at both sizes and the DCGAN/VAE models at 32 px,
#: and slows the DCGAN/VAE models at 64 px (BatchNorm in channels-last is slower there).
#: ``compile`` is never chosen: it adds 0-7% at 10-125 s of compilation per model, more than a
#: default-profile run (2,000 steps, about a minute) can win back.
CPU_DEFAULTS: Dict[str, Dict[Tuple[str, int], Entry]] = {
    "AuthenticAMD/AVX512": {
        ("vae", 32): _CF, ("vae_resnet", 32): _CF, ("wae_gan", 32): _CF, ("wae_mmd", 32): _CF,
        ("wae_resnet", 32): _CF,
        ("vae", 64): _F, ("vae_resnet", 64): _CF, ("wae_gan", 64): _F, ("wae_mmd", 64): _F,
        ("wae_resnet", 64): _CF,
    },
}

#: Settings on a kind of CPU that the table does not cover.
CPU_FALLBACK: Entry = dict(_F)


@functools.lru_cache(maxsize=1)
def cpu_kind() -> str:
    """``"<vendor>/<SIMD level>"`` of this machine, e.g. ``"AuthenticAMD/AVX512"`` or
    ``"GenuineIntel/AVX2"`` (``platform.machine()`` stands in for the vendor off x86)."""
    vendor = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("vendor_id"):
                    vendor = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    try:
        cap = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover - old torch
        cap = "unknown"
    return f"{vendor or platform.machine() or 'unknown'}/{cap}"


def cpu_choice(model: str, image_size: int, width: float,
               kind: Optional[str] = None) -> Tuple[Entry, Dict[str, Any]]:
    """The measured-fastest fp32 settings for ``model`` at ``image_size``/``width`` on ``kind``
    (default: this CPU). Returns ``(settings, record)``; ``settings`` has ``channels_last``,
    ``fused`` and ``compile``; ``record`` says which table entry was used (the nearest measured
    image size of the same model, in log2 distance; every entry was measured at width 0.125)."""
    kind = kind or cpu_kind()
    table = CPU_DEFAULTS.get(kind)
    if not table:
        return dict(CPU_FALLBACK), {"source": "fallback (this kind of CPU was not measured)",
                                    "cpu_kind": kind}
    sizes = sorted(s for (m, s) in table if m == model)
    if not sizes:
        return dict(CPU_FALLBACK), {"source": "fallback (model not measured)", "cpu_kind": kind}
    size = min(sizes, key=lambda s: (abs(math.log2(s) - math.log2(max(1, image_size))), -s))
    exact = size == image_size and math.isclose(width, 0.125)
    return dict(table[(model, size)]), {
        "source": CPU_TABLE_SOURCE, "cpu_kind": kind,
        "entry": f"{model} @ {size} px, width 0.125" + ("" if exact else " (nearest measured)")}


def compiler_available() -> bool:
    """Whether inductor can build CPU kernels here (it needs a C++ compiler)."""
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


def compile_options(device: torch.device) -> Dict[str, Any]:
    """Inductor options of the trainer's ``torch.compile``.

    - ``fallback_random``: random ops inside the compiled graph (the VAE's reparameterisation
      noise) draw from torch's global generator exactly like eager code, so a compiled run
      consumes the same RNG stream as an eager one (and resumes bit for bit);
    - ``layout_optimization`` off on the CPU: with it, inductor (torch 2.14, CPU) returns wrong
      BatchNorm outputs for the VAE decoder's last block (ConvTranspose2d -> LeakyReLU(inplace)
      -> BatchNorm2d with 2 channels at width 0.125; off by up to 9 standard deviations;
      tests/test_fastpath.py checks every model's compiled step against the eager one).
    """
    opts: Dict[str, Any] = {"fallback_random": True}
    if device.type == "cpu":
        opts["layout_optimization"] = False
    return opts
