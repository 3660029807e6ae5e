"""Which fast-path settings a run uses on the CPU: measured per model, size, threads and CPU kind.

On CUDA the fast path is fixed (bf16 autocast, channels-last, fused Adam, cuDNN autotuning,
GPU-resident data; ``torch.compile`` when asked). On the CPU the fastest *fp32* combination of
``channels_last``, ``fused`` (fused Adam) and ``compile`` differs between models and CPUs (e.g.
channels-last makes BatchNorm slower on one CPU and convolutions faster on another), so
:meth:`waelib.train.TrainConfig.resolved` fills the settings left at ``None`` with
:func:`cpu_choice`:

1. **a committed table** for the kinds of CPU that ``make bench`` measured (:data:`CPU_DEFAULTS`
   at 2 threads, :data:`CPU_DEFAULTS_1THREAD` at 1; keyed by :func:`cpu_kind`, vendor and the
   SIMD level of torch's kernels, e.g. ``"AuthenticAMD/AVX512"``);
2. **on any other kind, a measurement**: a run of at least ``AUTOTUNE_MIN_STEPS`` steps times
   the candidates once, briefly, and caches the answer per (CPU kind, model, size, width, batch,
   threads, torch version) in a user cache folder (:mod:`waelib.train.autotune`);
3. else the fallback :data:`CPU_FALLBACK` (fp32, NCHW, fused Adam, eager).

``torch.compile`` is then switched on where the run's projected length makes it pay, counting
the cold compile (:func:`compile_pays`, from :data:`CPU_COMPILE` or the autotuner's entry).

Resume: the choice is recorded in the run's ``config.json`` (``channels_last``, ``fused``,
``compile``, ``threads`` and ``fast_path``) and in its checkpoint, and a resumed run takes the
checkpoint's settings (:meth:`waelib.train.Run.prepare`), so a resume stays bit for bit the
uninterrupted run whatever a new measurement would choose. Why a table plus a cached measurement,
and not a probe at every start: results/bench/README.md.

Rules: an explicit setting always wins; bf16 autocast is never chosen on the CPU (it changes
results beyond rounding: ``amp="bf16"`` turns it on).
"""
from __future__ import annotations

import functools
import math
import platform
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from .autotune import choose
from .runtime import compiler_available

__all__ = ["CPU_DEFAULTS", "CPU_DEFAULTS_1THREAD", "CPU_COMPILE", "CPU_FALLBACK", "CPU_TABLE_SOURCE",
           "cpu_kind", "cpu_choice", "compile_pays", "compile_break_even_steps", "compile_options",
           "compiler_available"]

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


#: The same at 1 torch thread (what each of two side-by-side jobs uses, ``--jobs 2``), from the
#: 1-thread candidate sweeps (``cpu_candidates_1thread_{32,64}px.json``, CPU-time ratios; the
#: machine was loaded while they ran, which CPU-time ratios at 1 thread tolerate): channels-last
#: + fused Adam was the fastest fp32 eager path for every model at both sizes, the DCGAN WAEs at
#: 64 px by a tie (1.03 vs 1.02).
CPU_DEFAULTS_1THREAD: Dict[str, Dict[Tuple[str, int], Entry]] = {
    "AuthenticAMD/AVX512": {(m, s): _CF for m in ("vae", "vae_resnet", "wae_gan", "wae_mmd", "wae_resnet")
                            for s in (32, 64)},
}
CPU_TABLE_1THREAD_SOURCE = "results/bench/cpu_candidates_1thread_{32,64}px.json"

#: ``torch.compile`` on the CPU, per kind and (model, size, torch threads): ``speedup`` (chosen
#: eager seconds per step / compiled), ``cold_seconds`` (compile time with an empty inductor
#: cache), ``warm_seconds`` (with inductor's on-disk cache filled) and ``seconds_per_step`` of the
#: eager path (width 0.125, batch 64), from ``make bench-compile``
#: (:data:`CPU_COMPILE_SOURCE`; tests/core/test_autotune.py checks the two agree).
CPU_COMPILE: Dict[str, Dict[Tuple[str, int, int], Dict[str, float]]] = {
    "AuthenticAMD/AVX512": {
        ("vae", 32, 1): dict(speedup=0.791, cold_seconds=25.7, warm_seconds=1.9, seconds_per_step=0.0244),
        ("vae", 32, 2): dict(speedup=1.318, cold_seconds=25.7, warm_seconds=1.9, seconds_per_step=0.0255),
        ("vae_resnet", 32, 1): dict(speedup=0.816, cold_seconds=57.3, warm_seconds=3.4, seconds_per_step=0.0744),
        ("vae_resnet", 32, 2): dict(speedup=0.919, cold_seconds=57.3, warm_seconds=3.4, seconds_per_step=0.0672),
        ("wae_gan", 32, 1): dict(speedup=1.043, cold_seconds=18.7, warm_seconds=1.6, seconds_per_step=0.0566),
        ("wae_gan", 32, 2): dict(speedup=1.001, cold_seconds=18.7, warm_seconds=1.6, seconds_per_step=0.0359),
        ("wae_mmd", 32, 1): dict(speedup=1.111, cold_seconds=18.7, warm_seconds=1.5, seconds_per_step=0.0623),
        ("wae_mmd", 32, 2): dict(speedup=1.033, cold_seconds=18.7, warm_seconds=1.5, seconds_per_step=0.0343),
        ("wae_resnet", 32, 1): dict(speedup=0.916, cold_seconds=54.1, warm_seconds=3.2, seconds_per_step=0.0907),
        ("wae_resnet", 32, 2): dict(speedup=0.952, cold_seconds=54.1, warm_seconds=3.2, seconds_per_step=0.0628),
        ("vae", 64, 1): dict(speedup=1.033, cold_seconds=23.9, warm_seconds=1.6, seconds_per_step=0.0972),
        ("vae", 64, 2): dict(speedup=1.027, cold_seconds=23.9, warm_seconds=1.6, seconds_per_step=0.0604),
        ("vae_resnet", 64, 1): dict(speedup=0.756, cold_seconds=60.0, warm_seconds=3.7, seconds_per_step=0.2546),
        ("vae_resnet", 64, 2): dict(speedup=0.845, cold_seconds=60.0, warm_seconds=3.7, seconds_per_step=0.1754),
        ("wae_gan", 64, 1): dict(speedup=1.048, cold_seconds=20.3, warm_seconds=1.6, seconds_per_step=0.1736),
        ("wae_gan", 64, 2): dict(speedup=1.024, cold_seconds=20.3, warm_seconds=1.6, seconds_per_step=0.0970),
        ("wae_mmd", 64, 1): dict(speedup=1.011, cold_seconds=20.6, warm_seconds=1.6, seconds_per_step=0.1783),
        ("wae_mmd", 64, 2): dict(speedup=1.036, cold_seconds=20.6, warm_seconds=1.6, seconds_per_step=0.0891),
        ("wae_resnet", 64, 1): dict(speedup=0.863, cold_seconds=58.4, warm_seconds=3.5, seconds_per_step=0.2964),
        ("wae_resnet", 64, 2): dict(speedup=0.888, cold_seconds=58.4, warm_seconds=3.5, seconds_per_step=0.1872),
    },
}
CPU_COMPILE_SOURCE = "results/bench/cpu_compile.json"
#: Compile is chosen when the time it saves over the run beats the cold compile by this factor
#: (a margin for the spread of both measurements, 5-15 % between rounds on a 2-core machine).
COMPILE_MARGIN = 1.5
#: ... and only when it is at least this much faster per step (a smaller gain is within noise).
COMPILE_MIN_SPEEDUP = 1.05


def _nearest(table: Dict[Tuple[str, int], Any], model: str, image_size: int) -> Optional[int]:
    """The measured image size of ``model`` nearest to ``image_size`` (log2 distance)."""
    sizes = sorted(s for (m, s) in table if m == model)
    if not sizes:
        return None
    return min(sizes, key=lambda s: (abs(math.log2(s) - math.log2(max(1, image_size))), -s))


def cpu_choice(model: str, image_size: int, width: float, kind: Optional[str] = None, *,
               batch_size: int = 64, threads: Optional[int] = None,
               projected_steps: Optional[int] = None,
               log: Callable[[str], None] = print) -> Tuple[Entry, Dict[str, Any]]:
    """The fastest fp32 settings for ``model`` at ``image_size``/``width`` on ``kind`` (default:
    this CPU) with ``threads`` torch threads (default: torch's current number).

    Returns ``(settings, record)``; ``settings`` has ``channels_last``, ``fused`` and
    ``compile``; ``record`` says where they came from. In order:

    1. the committed table of this kind (:data:`CPU_DEFAULTS` at 2 threads or more,
       :data:`CPU_DEFAULTS_1THREAD` at 1), the nearest measured image size of the model;
    2. else the user cache or a fresh measurement (:func:`waelib.train.autotune.choose`) for a
       run of at least ``AUTOTUNE_MIN_STEPS`` ``projected_steps``;
    3. else :data:`CPU_FALLBACK`.

    ``compile`` is then turned on when :func:`compile_pays` for ``projected_steps``.
    """
    kind = kind or cpu_kind()
    threads = int(threads or torch.get_num_threads())
    table = (CPU_DEFAULTS_1THREAD if threads == 1 else CPU_DEFAULTS).get(kind, {})
    size = _nearest(table, model, image_size)
    measured: Optional[Dict[str, Any]] = None
    if size is not None:
        exact = size == image_size and math.isclose(width, 0.125)
        settings = dict(table[(model, size)])
        record: Dict[str, Any] = {
            "source": CPU_TABLE_1THREAD_SOURCE if threads == 1 else CPU_TABLE_SOURCE,
            "cpu_kind": kind, "threads": threads,
            "entry": f"{model} @ {size} px, width 0.125" + ("" if exact else " (nearest measured)")}
    else:
        measured, why = choose(kind, model, image_size, width, batch_size, threads,
                               projected_steps=projected_steps, log=log)
        if measured is not None:
            settings = dict(measured["eager"])
            record = {"source": f"measured on this machine ({why})", "cpu_kind": kind,
                      "threads": threads, "ratios_to_fused": measured.get("ratios_to_fused")}
        else:
            settings = dict(CPU_FALLBACK)
            what = "this kind of CPU was not measured" if kind not in CPU_DEFAULTS else "model not measured"
            record = {"source": f"fallback ({what}; {why})", "cpu_kind": kind, "threads": threads}
    settings["compile"] = False
    decision = compile_pays(model, image_size, kind, batch_size=batch_size, threads=threads,
                            projected_steps=projected_steps, measured=measured)
    if decision is not None:
        settings["compile"] = bool(decision["pays"])
        record["compile_decision"] = decision
    return settings, record


def compile_pays(model: str, image_size: int, kind: str, *, batch_size: int = 64, threads: int = 2,
                 projected_steps: Optional[int], measured: Optional[Dict[str, Any]] = None
                 ) -> Optional[Dict[str, Any]]:
    """Whether ``torch.compile`` pays for a run of ``projected_steps`` steps, counting the cold
    compile: ``saved = eager seconds * (1 - 1/speedup) > COMPILE_MARGIN * cold seconds`` and
    ``speedup >= COMPILE_MIN_SPEEDUP``. The numbers come from ``measured`` (the autotuner's
    entry) or :data:`CPU_COMPILE` (seconds per step scaled by ``batch_size / 64``). Returns the
    decision with its numbers, or None when nothing is known (compile stays off)."""
    if projected_steps is None or not compiler_available():
        return None
    if measured is not None and measured.get("compile_speedup"):
        speedup, cold = float(measured["compile_speedup"]), float(measured["compile_seconds"])
        per_step, source = float(measured["seconds_per_step"]), "measured on this machine"
    else:
        table = CPU_COMPILE.get(kind, {})
        counts = sorted({t for (_, _, t) in table}, key=lambda t: (abs(t - threads), t))
        if not counts:
            return None
        table = {(m, s): e for (m, s, t), e in table.items() if t == counts[0]}
        size = _nearest(table, model, image_size)
        if size is None:
            return None
        e = table[(model, size)]
        speedup, cold = float(e["speedup"]), float(e["cold_seconds"])
        per_step = float(e["seconds_per_step"]) * batch_size / 64 * (image_size / size) ** 2
        source = f"{CPU_COMPILE_SOURCE} ({model} @ {size} px, {counts[0]} thread(s))"
    eager = projected_steps * per_step
    saved = eager * (1.0 - 1.0 / speedup)
    break_even = _break_even(speedup, cold, per_step)
    pays = break_even is not None and projected_steps >= break_even
    return {"pays": bool(pays), "speedup": round(speedup, 3), "cold_compile_seconds": round(cold, 1),
            "projected_eager_seconds": round(eager, 1), "projected_saving_seconds": round(saved, 1),
            "source": source}


def compile_break_even_steps(model: str, image_size: int, kind: str, *, threads: int = 2,
                             batch_size: int = 64) -> Optional[int]:
    """The fewest projected steps for which :func:`compile_pays` turns ``torch.compile`` on, from
    :data:`CPU_COMPILE` alone (the committed measurements, not this machine's autotuner): the
    smallest ``n`` with ``n * seconds_per_step * (1 - 1/speedup) > COMPILE_MARGIN * cold_seconds``.
    None when nothing is measured for ``kind`` at ``threads`` or when the step is never fast enough
    (``speedup < COMPILE_MIN_SPEEDUP``): compile never pays there."""
    e = CPU_COMPILE.get(kind, {}).get((model, image_size, threads))
    if e is None:
        return None
    return _break_even(float(e["speedup"]), float(e["cold_seconds"]), float(e["seconds_per_step"]) * batch_size / 64)


def _break_even(speedup: float, cold: float, per_step: float) -> Optional[int]:
    """The rule of :func:`compile_pays` in one place: the smallest whole number of steps ``n`` with
    ``n * per_step * (1 - 1/speedup) > COMPILE_MARGIN * cold``, or None below
    ``COMPILE_MIN_SPEEDUP`` (never)."""
    if speedup < COMPILE_MIN_SPEEDUP:
        return None
    return int(math.floor(COMPILE_MARGIN * cold / (per_step * (1.0 - 1.0 / speedup)))) + 1


def step_seconds(model: str, image_size: int, kind: Optional[str] = None) -> float:
    """A measured eager step time of ``model`` near ``image_size`` on this kind of CPU
    (:data:`CPU_COMPILE`, 1 thread, width 0.125, batch 64; scaled by the pixel count from the
    nearest measured size), or a pixel-count guess where nothing was measured. A cost for
    ordering runs (:func:`waelib.parallel.longest_first`), not a prediction."""
    table = {(m, s): e for (m, s, t), e in CPU_COMPILE.get(kind or cpu_kind(), {}).items() if t == 1}
    size = _nearest(table, model, image_size)
    if size is None:
        return (image_size / 32) ** 2 * (3.0 if "resnet" in model else 1.0)
    return table[(model, size)]["seconds_per_step"] * (image_size / size) ** 2


def compile_options(device: torch.device) -> Dict[str, Any]:
    """Inductor options of the trainer's ``torch.compile``.

    - ``fallback_random``: random ops inside the compiled graph (the VAE's reparameterisation
      noise) draw from torch's global generator exactly like eager code, so a compiled run
      consumes the same RNG stream as an eager one (and resumes bit for bit);
    - ``layout_optimization`` off on the CPU: with it, inductor (torch 2.14, CPU) returns wrong
      BatchNorm outputs for the VAE decoder's last block (ConvTranspose2d -> LeakyReLU(inplace)
      -> BatchNorm2d with 2 channels at width 0.125; off by up to 9 standard deviations;
      tests/core/test_fastpath.py checks every model's compiled fp32 NCHW step against the eager
      one). Channels-last is miscompiled even with this option, so on the CPU the automatic
      layout of a compiled run is NCHW (:meth:`waelib.train.TrainConfig.resolved`).
    """
    opts: Dict[str, Any] = {"fallback_random": True}
    if device.type == "cpu":
        opts["layout_optimization"] = False
    return opts
