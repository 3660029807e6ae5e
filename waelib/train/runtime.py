"""The process a run lives in: its rank and world size under torchrun, its device, the
SIGINT/SIGTERM handler that turns a Ctrl-C into "checkpoint and stop", and console messages."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Dict, Optional, Tuple

import torch
import torch.distributed as dist

from ..utils import resolve_device

__all__ = ["dist_info", "resolve_run_device", "StopFlag", "log_rank0"]


def log_rank0(msg: str, rank: int = 0) -> None:
    """Print ``[waelib.train] msg`` to stderr, on rank 0 only."""
    if rank == 0:
        print(f"[waelib.train] {msg}", file=sys.stderr, flush=True)


def dist_info() -> Tuple[bool, int, int]:
    """``(distributed?, rank, world size)`` of this process (``(False, 0, 1)`` without DDP)."""
    on = dist.is_available() and dist.is_initialized()
    return on, (dist.get_rank() if on else 0), (dist.get_world_size() if on else 1)


def resolve_run_device(device: str, is_dist: bool) -> torch.device:
    """The device of this rank: under DDP with CUDA, the GPU ``LOCAL_RANK`` (made current);
    else :func:`waelib.utils.resolve_device` of ``device``."""
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
    current step; a second SIGINT raises KeyboardInterrupt as usual."""

    def __init__(self):
        self.requested = False
        self.signal_name: Optional[str] = None
        self._previous: Dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
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
