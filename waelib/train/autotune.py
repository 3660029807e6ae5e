"""Measure the fastest CPU path once, where no committed measurement covers this CPU, and cache it.

:mod:`waelib.train.fastpath` answers from a committed table for the kinds of CPU that
``make bench`` measured. On any other kind (a student's laptop, a new cloud CPU) a run that is
long enough to profit (:data:`AUTOTUNE_MIN_STEPS`) measures the candidates itself, once, with a
short bounded timing, and caches the answer in a user cache folder, as inductor caches its
autotuning:

- key: (CPU kind, model, image size, width, batch, torch threads, torch version);
- file: ``$WAELIB_CACHE_DIR/fastpath.json``, else ``$XDG_CACHE_HOME/waelib/fastpath.json``,
  else ``~/.cache/waelib/fastpath.json``; written atomically under a lock, so two runs side by
  side never corrupt it (the slower writer's entry wins; both are valid);
- what: the eager fp32 candidates :data:`EAGER_CANDIDATES` in alternating timing windows
  (the median of per-round ratios, as ``make bench``), and, only for runs projected to last at
  least :data:`COMPILE_MEASURE_MIN_SECONDS`, ``torch.compile`` of the winner (its compile time and
  its speed-up); ``WAELIB_AUTOTUNE=0`` turns measuring off (the fallback of
  :data:`waelib.train.fastpath.CPU_FALLBACK` is used instead).

The measurement never touches the run: it builds its own trainers on random uint8 images, inside
:func:`torch.random.fork_rng` (and with numpy's and Python's RNG states restored), so the run's
weights and random streams are those of an untuned run. Every later run with the same key reads
the cache, and a resumed run reads the settings recorded in its checkpoint
(:meth:`waelib.train.Run.prepare`), so a resume stays bit for bit the uninterrupted run even if the
cache was deleted or a new measurement would choose otherwise.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from ..utils import atomic_write_json
from .batches import BatchSource
from .runtime import compiler_available

__all__ = ["AUTOTUNE_MIN_STEPS", "COMPILE_MEASURE_MIN_SECONDS", "EAGER_CANDIDATES", "BatchSource",
           "autotune_enabled", "cache_file", "cache_key", "lookup", "measure", "store", "time_steps"]

#: Runs shorter than this keep the fallback (a measurement of a few seconds would not pay).
AUTOTUNE_MIN_STEPS = 500
#: ``torch.compile`` is measured only for runs whose eager length is projected above this:
#: a cold compile costs 5-70 s on 2 cores (results/bench/cpu_compile.json), which a shorter run
#: cannot win back at the 2-30 % that compile gains on the CPUs measured.
COMPILE_MEASURE_MIN_SECONDS = 900.0
#: The eager fp32 candidates: fused Adam in NCHW, and fused Adam with channels-last. Unfused
#: Adam is not a candidate: fused Adam was never measurably slower on any CPU measured
#: (0.97-1.25x; results/bench/README.md), and it is one kernel instead of a per-parameter loop.
EAGER_CANDIDATES: Dict[str, Dict[str, bool]] = {
    "fused": dict(channels_last=False, fused=True, compile=False),
    "cl+fused": dict(channels_last=True, fused=True, compile=False),
}


def autotune_enabled() -> bool:
    """False when ``WAELIB_AUTOTUNE`` is ``0``/``false``/``off``/``no``."""
    return os.environ.get("WAELIB_AUTOTUNE", "1").strip().lower() not in ("0", "false", "off", "no")


def cache_file() -> Path:
    """The cache file (see the module docstring for the folders tried)."""
    if os.environ.get("WAELIB_CACHE_DIR"):
        return Path(os.environ["WAELIB_CACHE_DIR"]) / "fastpath.json"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "waelib" / "fastpath.json"


def cache_key(kind: str, model: str, image_size: int, width: float, batch_size: int,
              threads: int) -> str:
    """``kind|model|size|w<width>|b<batch>|t<threads>|torch <version>``."""
    return (f"{kind}|{model}|{int(image_size)}px|w{float(width):g}|b{int(batch_size)}|"
            f"t{int(threads)}|torch {torch.__version__}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path.lock`` (POSIX); a no-op where fcntl is missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl  # deferred: POSIX only (the cache lock); absent on Windows
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_suffix(".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read(path: Path) -> Dict[str, Any]:
    """The cache's entries; an unreadable or damaged file counts as empty (it is only a cache:
    the next :func:`store` replaces it)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("entries", {}) if isinstance(data, dict) else {}


def lookup(key: str) -> Optional[Dict[str, Any]]:
    """The cached entry of ``key``, or None."""
    return _read(cache_file()).get(key)


def store(key: str, entry: Dict[str, Any]) -> Path:
    """Merge ``entry`` under ``key`` into the cache file (atomic write under the lock)."""

    path = cache_file()
    with _locked(path):
        entries = _read(path)
        entries[key] = {**entries.get(key, {}), **entry}
        atomic_write_json(path, {"what": "waelib's measured CPU fast path (waelib.train.autotune)",
                                 "entries": entries})
    return path


@contextlib.contextmanager
def _rng_untouched() -> Iterator[None]:
    """torch's CPU RNG (fork_rng), numpy's and Python's RNG states restored on exit."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def time_steps(trainer, source: BatchSource, steps: int) -> float:
    """Seconds of ``steps`` training steps of ``trainer`` (CPU: no device sync needed)."""
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(source.next(trainer))
    return time.perf_counter() - t0


#: Builds the trainer a measurement times: ``(model, image_size, width, batch_size, settings)
#: -> Trainer`` on the CPU. :mod:`waelib.train.trainer` registers it when it is imported (it
#: always is: ``waelib.train`` imports it), so that this module, which the configuration's
#: resolution uses, imports nothing above it (no import cycle).
_TRAINER_FACTORY: Optional[Callable[..., Any]] = None


def register_trainer_factory(factory: Callable[..., Any]) -> None:
    """Set the builder of the trainers :func:`measure` times (see :data:`_TRAINER_FACTORY`)."""
    global _TRAINER_FACTORY
    _TRAINER_FACTORY = factory


def _trainer(model: str, image_size: int, width: float, batch_size: int, settings: Dict[str, bool]):
    if _TRAINER_FACTORY is None:  # pragma: no cover - waelib.train always registers it
        raise RuntimeError("no trainer factory registered: import waelib.train before measuring")
    return _TRAINER_FACTORY(model, image_size, width, batch_size, settings)


def measure(model: str, image_size: int, width: float, batch_size: int, *,
            budget_seconds: float = 8.0, projected_steps: Optional[int] = None,
            log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Time :data:`EAGER_CANDIDATES` (and optionally compile of the winner) for one setting.

    Alternating windows of one step each, in rotated order, until ``budget_seconds`` of timing
    have passed (at least 3 rounds, at most 15). Returns the cache entry: ``eager`` (the chosen
    candidate's settings), ``ratios_to_fused`` (median per-round ratio of each candidate to
    ``fused``), ``seconds_per_step`` of the winner; when ``projected_steps`` of the winner last
    at least :data:`COMPILE_MEASURE_MIN_SECONDS`, also :func:`measure_compile`'s fields.
    """
    with _rng_untouched():
        source = BatchSource.random(batch_size, image_size)
        trainers = {n: _trainer(model, image_size, width, batch_size, s)
                    for n, s in EAGER_CANDIDATES.items()}
        for tr in trainers.values():                      # warm-up: first-call allocations
            time_steps(tr, source, 1)
        names = list(trainers)
        times: Dict[str, list] = {n: [] for n in names}
        t_start, r = time.perf_counter(), 0
        while r < 15 and (r < 3 or time.perf_counter() - t_start < budget_seconds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                times[n].append(time_steps(trainers[n], source, 1))
            r += 1
        base = times["fused"]
        ratios = {n: statistics.median(b / t for b, t in zip(base, times[n])) for n in names}
        best = max(names, key=lambda n: ratios[n])
        entry: Dict[str, Any] = {
            "eager": dict(EAGER_CANDIDATES[best]), "eager_name": best, "rounds": r,
            "ratios_to_fused": ratios, "seconds_per_step": statistics.median(times[best]),
            "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        del trainers
        if (projected_steps or 0) * entry["seconds_per_step"] >= COMPILE_MEASURE_MIN_SECONDS:
            entry.update(measure_compile(model, image_size, width, batch_size, entry, source=source))
    log(f"fast path measured for {model} at {image_size} px (width {width:g}, batch {batch_size}): "
        f"{best} ({', '.join(f'{n} {v:.2f}x' for n, v in ratios.items())} of fused)"
        + (f"; compile {entry['compile_speedup']:.2f}x after {entry['compile_seconds']:.0f} s"
           if "compile_speedup" in entry else ""))
    return entry


def measure_compile(model: str, image_size: int, width: float, batch_size: int,
                    entry: Dict[str, Any], *, source: Optional[BatchSource] = None) -> Dict[str, Any]:
    """``compile_seconds`` (the first two compiled steps less two eager steps: with a cold
    inductor cache, the cold compile), ``compile_speedup`` (eager / compiled seconds per step)
    and ``compile_seconds_per_step``, for the eager settings of ``entry`` (from :func:`measure`)."""
    if not compiler_available():
        return {"compile_speedup": None, "compile_note": "no C++ compiler for inductor"}
    eager_step = float(entry["seconds_per_step"])
    source = source or BatchSource.random(batch_size, image_size)
    # compiled in NCHW: inductor miscompiles channels-last steps on the CPU (TrainConfig.resolved)
    tr = _trainer(model, image_size, width, batch_size, dict(entry["eager"], compile=True,
                                                           channels_last=False))
    t0 = time.perf_counter()
    time_steps(tr, source, 2)          # compiles (forward + backward graphs)
    compile_s = time.perf_counter() - t0 - 2 * eager_step
    steps = max(3, min(30, int(2.0 / max(eager_step, 1e-3))))
    per_step = time_steps(tr, source, steps) / steps
    return {"compile_seconds": max(0.0, compile_s), "compile_speedup": eager_step / per_step,
            "compile_seconds_per_step": per_step}


def choose(kind: str, model: str, image_size: int, width: float, batch_size: int, threads: int,
           *, projected_steps: Optional[int], log: Callable[[str], None] = print
           ) -> Tuple[Optional[Dict[str, Any]], str]:
    """The cached or freshly measured entry for this setting, or None (with the reason) when
    measuring is off or the run is too short to profit. A cached entry without a compile
    measurement gains one when a run long enough to need it comes."""
    key = cache_key(kind, model, image_size, width, batch_size, threads)
    hit = lookup(key)
    long_run = (hit is not None and (projected_steps or 0) * hit.get("seconds_per_step", 0.0)
                >= COMPILE_MEASURE_MIN_SECONDS)
    if hit is not None and (not long_run or "compile_speedup" in hit):
        return hit, f"cache {cache_file()}"
    if not autotune_enabled():
        return hit, ("cache " + str(cache_file()) if hit else "measuring is off (WAELIB_AUTOTUNE=0)")
    if hit is None and (projected_steps is None or projected_steps < AUTOTUNE_MIN_STEPS):
        return None, f"run shorter than {AUTOTUNE_MIN_STEPS} steps: not measured"
    with _rng_untouched():
        if hit is None:
            entry = measure(model, image_size, width, batch_size, projected_steps=projected_steps, log=log)
        else:
            entry = dict(hit, **measure_compile(model, image_size, width, batch_size, hit))
    store(key, entry)
    return entry, f"measured now, cached in {cache_file()}"
