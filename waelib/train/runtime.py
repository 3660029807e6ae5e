"""The process a run lives in: its rank and world size under torchrun, its device, the
SIGINT/SIGTERM handler that turns a Ctrl-C into "checkpoint and stop", console messages, and the
background import that keeps torch's lazy ``torch._dynamo`` import off the start-up path."""
from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from typing import Any, Dict, Optional, Tuple

import torch
import torch.distributed as dist

from ..utils import resolve_device

__all__ = ["dist_info", "resolve_run_device", "StopFlag", "log_rank0", "warm_up_imports"]


def log_rank0(msg: str, rank: int = 0) -> None:
    """Print ``[waelib.train] msg`` to stderr, on rank 0 only."""
    if rank == 0:
        print(f"[waelib.train] {msg}", file=sys.stderr, flush=True)


def dist_info() -> Tuple[bool, int, int]:
    """``(distributed?, rank, world size)`` of this process (``(False, 0, 1)`` without DDP)."""
    on = dist.is_available() and dist.is_initialized()
    return on, (dist.get_rank() if on else 0), (dist.get_world_size() if on else 1)


_WARM_THREAD: Optional[threading.Thread] = None


def warm_up_imports() -> Optional[threading.Thread]:
    """Import ``torch._dynamo`` in a background thread, once per process.

    Constructing any ``torch.optim`` optimiser imports ``torch._dynamo`` on first use (its
    ``add_param_group`` is wrapped by ``torch._disable_dynamo``, which imports it lazily): about
    1 s on 2 cores, which was most of the time from ``fit()`` to the first step. Started at the
    beginning of a run, the import overlaps the data preparation and the model build; the
    optimiser then finds the module imported (or waits for the rest of the import). Set
    ``WAELIB_NO_WARM_IMPORTS=1`` to import it in the foreground instead. Returns the thread
    (None when nothing was started)."""
    global _WARM_THREAD
    if (_WARM_THREAD is not None or "torch._dynamo" in sys.modules
            or os.environ.get("WAELIB_NO_WARM_IMPORTS", "") not in ("", "0")):
        return None

    def _work():
        try:
            import torch._dynamo  # noqa: F401 - deferred: warmed in a background thread
        except Exception:  # pragma: no cover - the optimiser will raise it in the foreground
            pass

    _WARM_THREAD = threading.Thread(target=_work, name="waelib-warm-imports", daemon=True)
    _WARM_THREAD.start()
    return _WARM_THREAD


def resolve_run_device(device: str, is_dist: bool) -> torch.device:
    """The device of this rank: under DDP with CUDA, the GPU ``LOCAL_RANK`` (made current);
    else :func:`waelib.utils.resolve_device` of ``device``. (The first thing a run does, so it
    also starts :func:`warm_up_imports`.)"""
    warm_up_imports()
    if is_dist and device in (None, "auto", "cuda") and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank() % torch.cuda.device_count()))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)
    return dev


class StopFlag:
    """SIGINT/SIGTERM handler: the first signal asks the loop to checkpoint and stop after the
    current step; a second SIGINT raises KeyboardInterrupt as usual. ``StopFlag.seen`` records,
    for the whole process, that some loop was asked to stop (a worker of
    :func:`waelib.parallel.run_parallel` then starts no further task)."""

    seen: bool = False

    def __init__(self):
        self.requested = False
        self.signal_name: Optional[str] = None
        self._previous: Dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        StopFlag.seen = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._previous[s] = signal.signal(s, self._handler)
                except (ValueError, OSError):  # pragma: no cover
                    pass
        return self

    def __exit__(self, *exc):
        for s, h in self._previous.items():
            signal.signal(s, h)
        return False


def compiler_available() -> bool:
    """Whether inductor can build CPU kernels here (it needs a C++ compiler)."""
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))
