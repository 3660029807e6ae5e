"""Runs side by side (:mod:`waelib.parallel`): a run's results do not depend on a neighbour at
the same thread count, an interrupted ``--jobs 2`` batch resumes to exactly the uninterrupted
runs, the thread count is recorded, and the job/thread split is what the runners use."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from waelib import parallel
from waelib.train import TrainConfig, fit, read_log, state_checksum
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)
TINY = dict(image_size=32, width=0.0625, batch_size=8, device="cpu", progress=False, amp="none",
            log_every=2, checkpoint_every=3)

# A script of its own: spawned workers import their task function from the main module by path.
SCRIPT = textwrap.dedent('''
    import sys, torch
    from waelib.parallel import run_parallel
    from waelib.train import TrainConfig, fit, state_checksum

    def task(t):
        name, out, steps, slow = t
        cfg = TrainConfig(model=name, out=out, steps=steps, resume=True, threads=1, seed=3,
                          **{TINY!r})
        cb = (lambda info: __import__("time").sleep(0.05)) if slow else None
        res = fit(name, torch.load(sys.argv[1]), cfg, callback=cb)
        return {{"step": res.step, "sha": state_checksum(res.model), "interrupted": res.interrupted}}

    if __name__ == "__main__":
        runs = [("wae_gan", sys.argv[2] + "/a", int(sys.argv[3]), sys.argv[4] == "slow"),
                ("wae_mmd", sys.argv[2] + "/b", int(sys.argv[3]), sys.argv[4] == "slow")]
        runs += [("wae_gan", sys.argv[2] + f"/q{{i}}", int(sys.argv[3]), True) for i in range(int(sys.argv[5]))]
        try:
            out = run_parallel(runs, task, jobs=2, threads=1)
        except KeyboardInterrupt as e:
            print("interrupted:", e, flush=True)
            sys.exit(130)
        print("RESULT", {{t[0]: r for t, r in out}}, flush=True)
''').format(TINY=TINY)


def _images(n=48):
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def _alone(name, tmp_path, steps):
    """The run alone in this process, at the same thread count (1) as the workers."""
    before = torch.get_num_threads()
    res = fit(name, _images(), TrainConfig(model=name, out=str(tmp_path / f"alone_{name}"),
                                           steps=steps, threads=1, seed=3, **TINY))
    assert torch.get_num_threads() == before                   # fit restores the thread count
    return state_checksum(res.model)


def _script(tmp_path):
    path = tmp_path / "batch.py"
    path.write_text(SCRIPT)
    data = tmp_path / "imgs.pt"
    torch.save(_images(), data)
    return path, data


def _run_script(tmp_path, steps, slow=False, queued=0, **popen):
    """The batch script: runs a and b, and ``queued`` more runs that wait for a free worker."""
    path, data = _script(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(path), str(data), str(tmp_path / "runs"), str(steps),
                             "slow" if slow else "fast", str(queued)], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)


def _result(out: str):
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    return eval(line[len("RESULT "):])                                     # our own dict literal


def test_a_run_beside_a_neighbour_equals_the_run_alone_at_the_same_thread_count(tmp_path):
    proc = _run_script(tmp_path, steps=6)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    got = _result(out)
    for name in ("wae_gan", "wae_mmd"):
        assert got[name]["step"] == 6 and not got[name]["interrupted"]
        assert got[name]["sha"] == _alone(name, tmp_path, 6), name          # bit for bit
        cfg = json.loads((tmp_path / "runs" / ("a" if name == "wae_gan" else "b") / "config.json").read_text())
        assert cfg["config"]["threads"] == 1                               # recorded


def test_an_interrupted_parallel_batch_resumes_every_run_to_the_uninterrupted_result(tmp_path):
    steps = 40
    proc = _run_script(tmp_path, steps=steps, slow=True, queued=2)
    runs = tmp_path / "runs"
    t0 = time.monotonic()
    while not all(len(read_log(runs / r)) >= 4 for r in ("a", "b")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 180, "timed out waiting for both runs to train"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)                  # Ctrl-C to the runner only
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    for r in ("a", "b"):
        ck = torch.load(runs / r / "checkpoint.pt", weights_only=False)
        assert 0 < ck["step"] < steps and not ck["finished"], r            # checkpointed, stopped
    # the runs waiting for a worker (one already queued to the pool's workers) never started
    assert not (runs / "q0").exists() and not (runs / "q1").exists(), sorted(p.name for p in runs.iterdir())
    proc = _run_script(tmp_path, steps=steps)        # the same batch again: resumes both
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    got = _result(out)
    for name in ("wae_gan", "wae_mmd"):
        assert got[name]["step"] == steps
        assert got[name]["sha"] == _alone(name, tmp_path, steps), name      # bit for bit


def test_jobs_and_threads_split_the_cores():
    assert parallel.default_jobs(10, cores=2) == (2, 1)
    assert parallel.default_jobs(1, cores=2) == (1, 2)             # one run gets every core
    assert parallel.default_jobs(3, cores=8) == (3, 2)
    assert parallel.default_jobs(0, cores=2) == (1, 2)
    assert parallel.split_cores(5, 1, None) == (1, None)            # as before: torch's threads
    assert parallel.split_cores(5, 2, 3) == (2, 3)
    assert parallel.parse_jobs("auto") is None and parallel.parse_jobs("3") == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(ValueError, match="--jobs must be"):
            parallel.parse_jobs(bad)


def test_one_job_runs_here_with_the_thread_count_and_restores_it():
    before = torch.get_num_threads()
    out = parallel.run_parallel([1, 2, 3], _threads_times, jobs=1, threads=1)
    assert [r for _, r in out] == [(1, 1), (1, 2), (1, 3)]
    assert torch.get_num_threads() == before


def _threads_times(x):
    return torch.get_num_threads(), x
