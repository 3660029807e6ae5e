"""The fast path on a CPU kind that no committed table covers (:mod:`waelib.train.autotune`), and
``torch.compile`` where it pays (:func:`waelib.train.fastpath.compile_pays`).

The timings are faked where a test checks a decision (a real timing on a shared 2-core machine
could go either way); the real measurement runs once, briefly, to check that it leaves the RNG
streams alone and returns a well-formed entry."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from waelib.train import TrainConfig, autotune, fastpath, fit
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)
CPU = torch.device("cpu")
UNKNOWN = "TestVendor/NEON"
TINY = dict(image_size=32, width=0.0625, batch_size=8, device="cpu", progress=False, amp="none",
            log_every=2, checkpoint_every=3)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache, an unmeasured CPU kind, short runs allowed to measure."""
    monkeypatch.setenv("WAELIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("WAELIB_AUTOTUNE", raising=False)
    monkeypatch.setattr(fastpath, "cpu_kind", lambda: UNKNOWN)
    monkeypatch.setattr(autotune, "AUTOTUNE_MIN_STEPS", 4)
    return tmp_path / "cache" / "fastpath.json"


def _fake_timing(monkeypatch, faster: str, calls: list):
    """Steps take 10 ms, 30 % less on the ``faster`` layout ("cl" or "nchw")."""
    def time_steps(trainer, source, steps):
        calls.append(trainer.cfg.channels_last)
        source.next(trainer)
        quick = trainer.cfg.channels_last == (faster == "cl")
        return steps * (0.007 if quick else 0.010)
    monkeypatch.setattr(autotune, "time_steps", time_steps)


@pytest.mark.parametrize("faster", ["cl", "nchw"])
def test_unmeasured_kind_measures_once_caches_and_records_the_choice(cache, monkeypatch, faster):
    calls: list = []
    _fake_timing(monkeypatch, faster, calls)
    cfg = TrainConfig(model="wae_mmd", steps=10, **TINY).resolved(CPU)
    assert cfg.channels_last == (faster == "cl") and cfg.fused and not cfg.compile
    assert cfg.fast_path["source"].startswith("measured on this machine (measured now")
    assert cfg.fast_path["ratios_to_fused"]["cl+fused"] == pytest.approx(
        10 / 7 if faster == "cl" else 0.7, rel=1e-9)      # exact ratios of the fake timings
    n = len(calls)
    assert n >= 2 * 3 and cache.is_file()                 # >= 3 alternating rounds
    key = autotune.cache_key(UNKNOWN, "wae_mmd", 32, 0.0625, 8, torch.get_num_threads())
    assert json.loads(cache.read_text())["entries"][key]["eager_name"] == (
        "cl+fused" if faster == "cl" else "fused")
    again = TrainConfig(model="wae_mmd", steps=10, **TINY).resolved(CPU)
    assert len(calls) == n                                # read from the cache, not measured
    assert again.channels_last == cfg.channels_last and "cache" in again.fast_path["source"]


def test_short_runs_and_switched_off_measuring_use_the_fallback(cache, monkeypatch):
    monkeypatch.setattr(autotune, "measure", lambda *a, **k: pytest.fail("measured"))
    cfg = TrainConfig(model="wae_mmd", steps=2, **TINY).resolved(CPU)
    assert {k: getattr(cfg, k) for k in ("channels_last", "fused", "compile")} == fastpath.CPU_FALLBACK
    assert "shorter than" in cfg.fast_path["source"]
    monkeypatch.setenv("WAELIB_AUTOTUNE", "0")
    cfg = TrainConfig(model="wae_mmd", steps=10_000, **TINY).resolved(CPU)
    assert "WAELIB_AUTOTUNE=0" in cfg.fast_path["source"] and not cfg.channels_last
    assert not cache.exists()


def test_a_damaged_cache_is_an_empty_one(cache, monkeypatch):
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert autotune.lookup("anything") is None
    autotune.store("k", {"eager": {"channels_last": True}})
    assert autotune.lookup("k") == {"eager": {"channels_last": True}}


def test_real_measurement_leaves_the_rng_streams_and_is_well_formed(cache):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    entry = autotune.measure("wae_gan", 32, 0.0625, 8, budget_seconds=0.2, log=lambda s: None)
    assert torch.equal(torch.get_rng_state(), before)
    assert entry["eager_name"] in autotune.EAGER_CANDIDATES and entry["rounds"] >= 3
    assert entry["ratios_to_fused"]["fused"] == 1.0 and entry["seconds_per_step"] > 0


def test_a_resume_keeps_the_checkpoints_settings_whatever_a_new_measurement_says(cache, monkeypatch, tmp_path):
    """Measured choice: channels-last. The run is interrupted; the cache is deleted and the
    next measurement would choose NCHW; the resume still continues channels-last, bit for bit."""
    data = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    calls: list = []
    _fake_timing(monkeypatch, "cl", calls)
    full = fit("wae_gan", data, TrainConfig(out=str(tmp_path / "full"), steps=8, **TINY))
    assert full.config.channels_last

    def interrupt(info):
        if info["step"] == 4:
            os.kill(os.getpid(), signal.SIGINT)

    part = fit("wae_gan", data, TrainConfig(out=str(tmp_path / "part"), steps=8, **TINY),
               callback=interrupt)
    assert part.interrupted and part.step == 4
    cache.unlink()
    _fake_timing(monkeypatch, "nchw", calls)
    assert not TrainConfig(model="wae_gan", steps=8, **TINY).resolved(CPU).channels_last
    cache.unlink()
    resumed = fit("wae_gan", data, TrainConfig(out=str(tmp_path / "part"), steps=8, resume=True, **TINY))
    assert resumed.config.channels_last and "channels_last" in resumed.config.fast_path["from_checkpoint"]
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k                     # same path, same steps: exactly equal


# ---------------------------------------------------------------------------------------
# torch.compile where it pays
# ---------------------------------------------------------------------------------------
def test_compile_pays_only_when_the_saving_beats_the_cold_compile(monkeypatch):
    monkeypatch.setattr(fastpath, "compiler_available", lambda: True)
    entry = {"compile_speedup": 1.25, "compile_seconds": 30.0, "seconds_per_step": 0.1}
    # saved = steps * 0.1 * (1 - 1/1.25) = steps * 0.02 s; pays when > 1.5 * 30 s = 45 s
    d = fastpath.compile_pays("vae", 32, UNKNOWN, projected_steps=2000, measured=entry)
    assert not d["pays"] and d["projected_saving_seconds"] == pytest.approx(40.0)
    d = fastpath.compile_pays("vae", 32, UNKNOWN, projected_steps=2300, measured=entry)
    assert d["pays"] and d["projected_saving_seconds"] == pytest.approx(46.0)
    small = dict(entry, compile_speedup=1.04)         # below COMPILE_MIN_SPEEDUP: never
    assert not fastpath.compile_pays("vae", 32, UNKNOWN, projected_steps=10**7, measured=small)["pays"]
    assert fastpath.compile_pays("vae", 32, UNKNOWN, projected_steps=None, measured=entry) is None
    monkeypatch.setattr(fastpath, "compiler_available", lambda: False)
    assert fastpath.compile_pays("vae", 32, UNKNOWN, projected_steps=10**7, measured=entry) is None


def test_compile_table_matches_the_committed_benchmark():
    """Every CPU_COMPILE entry is what ``make bench-compile`` measured and committed."""
    rep = json.loads((ROOT / fastpath.CPU_COMPILE_SOURCE).read_text())
    kind = rep["device"]["cpu_kind"]
    assert kind in fastpath.CPU_COMPILE
    seen = set()
    for r in rep["results"]:
        key = (r["model"], r["image_size"], r["threads"])
        want = fastpath.CPU_COMPILE[kind][key]
        assert want["speedup"] == pytest.approx(r["speedup"]["median"], abs=0.0005), key  # 3 decimals
        # rounding must not move a setting across the rule's floor (1.0477 once became 1.05)
        floor = fastpath.COMPILE_MIN_SPEEDUP
        assert (want["speedup"] >= floor) == (r["speedup"]["median"] >= floor), key
        assert want["cold_seconds"] == pytest.approx(r["cold_compile_seconds"], abs=0.5), key
        assert want["warm_seconds"] == pytest.approx(r["warm_compile_seconds"], abs=0.5), key
        assert want["seconds_per_step"] == pytest.approx(r["eager_seconds_per_step"], rel=0.01), key
        seen.add(key)
    assert seen == set(fastpath.CPU_COMPILE[kind])


def test_table_kind_decides_compile_from_the_committed_numbers(monkeypatch):
    monkeypatch.setattr(fastpath, "compiler_available", lambda: True)
    if not fastpath.CPU_COMPILE:
        pytest.skip("no compile table committed")
    kind = next(iter(fastpath.CPU_COMPILE))
    (model, size, threads), e = next(iter(fastpath.CPU_COMPILE[kind].items()))
    need = fastpath.COMPILE_MARGIN * e["cold_seconds"] / (e["seconds_per_step"] * (1 - 1 / e["speedup"]))
    if e["speedup"] >= fastpath.COMPILE_MIN_SPEEDUP:
        assert fastpath.compile_pays(model, size, kind, threads=threads,
                                     projected_steps=int(need * 1.01) + 1)["pays"]
    assert not fastpath.compile_pays(model, size, kind, threads=threads,
                                     projected_steps=int(need * 0.99))["pays"]


def test_break_even_steps_are_where_compile_pays_flips(monkeypatch):
    """For every committed (model, size, threads), compile_pays is off one step below the break-even
    that the README quotes and on at it; where the step is too slow to gain, there is none."""
    monkeypatch.setattr(fastpath, "compiler_available", lambda: True)
    for kind, table in fastpath.CPU_COMPILE.items():
        for (model, size, threads), e in table.items():
            n = fastpath.compile_break_even_steps(model, size, kind, threads=threads)
            if e["speedup"] < fastpath.COMPILE_MIN_SPEEDUP:
                assert n is None, (model, size, threads)
                continue
            pays = [fastpath.compile_pays(model, size, kind, threads=threads, projected_steps=k)["pays"]
                    for k in (n - 1, n)]
            assert pays == [False, True], (model, size, threads, n)
    assert fastpath.compile_break_even_steps("vae", 32, UNKNOWN) is None


def test_compiled_cpu_runs_stay_nchw_because_inductor_miscompiles_channels_last(monkeypatch):
    """With compile on the CPU the automatic layout is NCHW even where eager channels-last is the
    table's choice, and the record says why; an explicit channels-last still wins, with a warning."""
    monkeypatch.setattr(fastpath, "compiler_available", lambda: True)
    assert TrainConfig(model="vae", image_size=32, width=0.125).resolved(CPU).channels_last
    cfg = TrainConfig(model="vae", image_size=32, width=0.125, compile=True).resolved(CPU)
    assert cfg.compile and not cfg.channels_last and "NCHW" in cfg.fast_path["note"]
    with pytest.warns(UserWarning, match="miscompiles"):
        cfg = TrainConfig(model="vae", image_size=32, compile=True, channels_last=True).resolved(CPU)
    assert cfg.compile and cfg.channels_last and "miscompiled" in cfg.fast_path["note"]
    eager = TrainConfig(model="vae", image_size=32, width=0.125, compile=False,
                        channels_last=True).resolved(CPU)
    assert eager.channels_last                                   # eager keeps what was asked
