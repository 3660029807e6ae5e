"""Independent training runs side by side, with the CPU threads split between them.

The study runners (:mod:`waelib.studies.claims_study`, :mod:`waelib.studies.beyond`) and the notebook runner
(``scripts/run_notebooks.py``) make many independent runs. On a CPU, two small-model runs at one
torch thread each use two cores better than one run at two threads (convolutions of width-0.125
networks do not scale to two threads; results/bench/claims_throughput.json), so :func:`run_parallel` runs up
to ``jobs`` tasks at once, each in its own process with ``threads`` torch threads.

- **Results do not depend on the neighbours.** Each task runs in a fresh process with a fixed
  thread count, which every training run records (``threads`` in ``config.json``); fp32 results
  depend on the thread count (the reduction order), never on what runs beside them
  (tests/core/test_parallel.py trains the same run alone and beside another and compares the bytes).
- **Interrupts are safe.** Each worker runs in its own process group, so a Ctrl-C reaches only
  this process, which passes one SIGINT to every worker: a training run checkpoints and stops
  (``KeyboardInterrupt`` from :func:`waelib.studies.runner.train_recorded`), pending tasks are cancelled,
  and :func:`run_parallel` raises ``KeyboardInterrupt`` once every worker has stopped. SIGTERM is
  handled alike. The runners skip finished runs and resume the checkpointed ones on the next call.
- ``jobs=1`` runs the tasks here, one after the other, without a pool (as before; easy to debug).
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import sys
import threading
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

__all__ = ["cpu_cores", "default_jobs", "split_cores", "parse_jobs", "longest_first", "run_parallel"]

T = TypeVar("T")


def cpu_cores() -> int:
    """The cores this process may use (its CPU affinity where the OS tells, else cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_jobs(n_tasks: int, *, device: str = "cpu", cores: Optional[int] = None) -> Tuple[int, int]:
    """``(jobs, threads per job)`` for ``n_tasks`` independent runs.

    On the CPU: one job per core, one torch thread each (measured fastest on 2 cores for the
    study's models: results/bench/claims_throughput.json), never more jobs than tasks, and the cores left over
    shared out as threads. On a GPU (``device`` "cuda" or "auto" with CUDA present): one job that
    uses every core."""
    cores = cores or cpu_cores()
    if device != "cpu":
        import torch  # deferred: the notebook runner uses this module without importing torch
        if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
            return 1, cores
    jobs = max(1, min(cores, n_tasks))
    return jobs, max(1, cores // jobs)


def split_cores(n_tasks: int, jobs: Optional[int], threads: Optional[int], *,
                device: str = "cpu") -> Tuple[int, Optional[int]]:
    """``(jobs, threads per job)`` as a runner uses them: ``jobs=None`` picks
    :func:`default_jobs`; several jobs without ``threads`` share the cores out; ``jobs=1``
    without ``threads`` keeps torch's current thread count (None)."""
    if jobs is None:
        auto_jobs, auto_threads = default_jobs(n_tasks, device=device)
        return auto_jobs, threads or auto_threads
    if jobs > 1:
        return jobs, threads or max(1, cpu_cores() // jobs)
    return 1, threads


def parse_jobs(value: str) -> Optional[int]:
    """``--jobs``: "auto" (None: :func:`default_jobs`) or a positive integer."""
    if str(value).strip().lower() == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--jobs must be 'auto' or a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"--jobs must be 'auto' or a positive integer, got {value!r}")
    return n


#: A worker's state: inside a task or idle, and whether a stop was asked for (then no queued
#: task starts in this worker; see :func:`_call_in_worker`).
_WORKER = {"in_task": False, "stop": False}


def _worker_signal(signum, frame) -> None:
    """A worker's SIGINT/SIGTERM outside a training loop (which installs its own handler): ask
    for the stop, and interrupt the task if one is running. An idle worker only records it, so
    that the task the pool hands it next is refused instead of run to its end."""
    _WORKER["stop"] = True
    if _WORKER["in_task"]:
        raise KeyboardInterrupt(signal.Signals(signum).name)


def _call_in_worker(fn: Callable[[T], Any], task: T) -> Any:
    """``fn(task)`` in a worker, unless a stop was asked for: then, or when the task itself is
    interrupted (a training loop that checkpointed and stopped), every later task of this worker
    raises KeyboardInterrupt at once."""
    _WORKER["in_task"] = True
    try:
        if _WORKER["stop"] or _loop_was_stopped():
            raise KeyboardInterrupt("stopped before it started")
        return fn(task)
    except KeyboardInterrupt:
        _WORKER["stop"] = True
        raise
    finally:
        _WORKER["in_task"] = False


def _loop_was_stopped() -> bool:
    """Whether a training loop in this process caught a stop signal (its handler replaces the
    worker's while it runs, and a task may return the interrupted run instead of raising)."""
    runtime = sys.modules.get("waelib.train.runtime")
    return bool(runtime is not None and runtime.StopFlag.seen)


def _init_worker(threads: int) -> None:
    """In each worker: its own process group (signals come from the parent only), SIGINT and
    SIGTERM handled by :func:`_worker_signal` outside a training loop, and the torch thread count."""
    try:
        os.setpgid(0, 0)
    except OSError:  # pragma: no cover
        pass
    signal.signal(signal.SIGINT, _worker_signal)
    signal.signal(signal.SIGTERM, _worker_signal)
    import torch  # deferred: the notebook runner uses this module without importing torch
    torch.set_num_threads(int(threads))


def _run_here(tasks: Sequence[T], fn: Callable[[T], Any], threads: Optional[int],
              on_result: Optional[Callable[[T, Any], None]]) -> List[Tuple[T, Any]]:
    import torch  # deferred: the notebook runner uses this module without importing torch
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    out = []
    try:
        for t in tasks:
            r = fn(t)
            out.append((t, r))
            if on_result is not None:
                on_result(t, r)
    finally:
        torch.set_num_threads(before)
    return out


def longest_first(tasks: Sequence[T], cost: Callable[[T], float]) -> List[T]:
    """``tasks`` by decreasing ``cost`` (stable for ties): handed to a pool in this order, the
    longest runs start first and the short ones fill the gaps at the end (the LPT rule), so that
    no core idles while one long run finishes alone."""
    return [t for _, t in sorted(enumerate(tasks), key=lambda it: (-cost(it[1]), it[0]))]


def run_parallel(tasks: Sequence[T], fn: Callable[[T], Any], *, jobs: int, threads: Optional[int],
                 on_result: Optional[Callable[[T, Any], None]] = None,
                 log: Callable[[str], None] = print) -> List[Tuple[T, Any]]:
    """``fn(task)`` for every task, up to ``jobs`` at once, each worker with ``threads`` torch
    threads; returns ``[(task, result)]`` in completion order and calls ``on_result`` in this
    process as each result arrives (e.g. to re-render the tables).

    ``fn`` must be a module-level function and tasks and results picklable (the workers are
    spawned processes). An exception in a task is raised here after the running tasks have
    finished (pending ones are cancelled); an interrupt (SIGINT/SIGTERM to this process) is passed
    to the workers once: running tasks checkpoint and stop, tasks already queued to a worker are
    refused (:func:`_call_in_worker`), and ``KeyboardInterrupt`` is raised when all have stopped.
    """
    if jobs <= 1 or len(tasks) <= 1:
        return _run_here(tasks, fn, threads, on_result)
    ctx = mp.get_context("spawn")
    done: List[Tuple[T, Any]] = []
    stop = {"signal": None}
    first_error: List[BaseException] = []
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                initargs=(int(threads or 1),)) as pool:
        futures = {pool.submit(_call_in_worker, fn, t): t for t in tasks}

        def forward(signum, frame):
            if stop["signal"] is None:
                log(f"{signal.Signals(signum).name}: asking the {jobs} worker(s) to checkpoint and stop")
            stop["signal"] = signum
            for f in futures:
                f.cancel()
            for pid in list(getattr(pool, "_processes", {}) or {}):
                try:
                    os.kill(pid, signal.SIGINT)
                except ProcessLookupError:
                    pass

        previous = {}
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                previous[s] = signal.signal(s, forward)
        try:
            pending = set(futures)
            while pending:
                finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in finished:
                    if f.cancelled():
                        continue
                    try:
                        r = f.result()
                    except KeyboardInterrupt:     # a worker was interrupted: stop them all
                        if stop["signal"] is None:
                            forward(signal.SIGINT, None)
                        continue
                    except cf.process.BrokenProcessPool as e:
                        if stop["signal"] is None:
                            first_error.append(e)
                        continue
                    except BaseException as e:   # a failed task: stop handing out new ones
                        first_error.append(e)
                        for g in pending:
                            g.cancel()
                        continue
                    done.append((futures[f], r))
                    if on_result is not None:
                        on_result(futures[f], r)
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
    if stop["signal"] is not None:
        raise KeyboardInterrupt(f"stopped by {signal.Signals(stop['signal']).name}: every running "
                                f"run saved its checkpoint; the next call resumes them")
    if first_error:
        raise first_error[0]
    return done
