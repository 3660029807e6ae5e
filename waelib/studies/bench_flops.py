"""Work and speed measures shared by the benchmarks (:mod:`waelib.studies.bench`,
:mod:`waelib.studies.bench_compile`): the FLOPs of one training step and the machine's fp32
matmul rate, against which a step's rate is read as a share."""
from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..train import Trainer

__all__ = ["count_step_flops", "matmul_gflops"]


def count_step_flops(trainer: Trainer, x: torch.Tensor) -> int:
    """FLOPs of one full training step on batch ``x`` (forward + backward of every update;
    matmul/conv only, optimiser steps contribute nothing), by FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(x)
    return int(counter.get_total_flops())


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an fp32 ``n``^3 matmul at ``threads`` torch threads (best of ``repeats``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        a @ b
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        return 2 * n ** 3 / best / 1e9
    finally:
        torch.set_num_threads(before)
