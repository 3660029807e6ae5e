"""The order in which a run sees its data, and the one batch source that draws it.

:func:`epoch_permutation` is the data order of one epoch, a function of (seed, epoch) only, so
that a resumed run sees exactly the batches of the uninterrupted one. :class:`BatchSource`
gathers the batches in that order from a uint8 (N, 3, S, S) tensor: the trainer's loop
(:class:`waelib.train.Run`), the autotuner (:mod:`waelib.train.autotune`) and the benchmarks
(:mod:`waelib.studies.bench`) all draw through it, so they time and train on the same data path.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

__all__ = ["epoch_permutation", "BatchSource"]


def epoch_permutation(n_items: int, seed: int, epoch: int) -> torch.Tensor:
    """The data order of one epoch: a permutation of ``range(n_items)`` that depends only on
    (seed, epoch), so a resumed run sees exactly the same batches. Returns int64 (n_items,)."""
    state = np.random.SeedSequence([int(seed) % 2**63, int(epoch)]).generate_state(2, dtype=np.uint32)
    g = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return torch.randperm(n_items, generator=g)


class BatchSource:
    """Batches the way the trainer draws them: step ``k`` of a run takes the ``k``-th batch of
    consecutive :func:`epoch_permutation` (seed) orders (the last partial batch of an epoch is
    dropped); under data parallelism rank ``r`` of ``world`` takes its slice of it.

    Args:
        images: uint8 (N, 3, S, S) images, on any device (the permutation follows them there).
        batch_size: the global batch; seed: the data-order seed; rank, world: this process'
            share (``batch_size // world`` images).
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int = 0, *,
                 rank: int = 0, world: int = 1):
        self.images, self.batch_size, self.seed = images, int(batch_size), int(seed)
        self.rank, self.local = int(rank), int(batch_size) // int(world)
        self.per_epoch = max(1, len(images) // self.batch_size)
        self.i = 0
        self._perm: Optional[torch.Tensor] = None
        self._perm_epoch = -1

    @classmethod
    def random(cls, batch_size: int, image_size: int, n_batches: int = 8, seed: int = 0) -> "BatchSource":
        """Random uint8 images (a generator of its own: the global RNG is not touched)."""
        g = torch.Generator().manual_seed(seed)
        images = torch.randint(0, 256, (batch_size * n_batches, 3, image_size, image_size),
                               dtype=torch.uint8, generator=g)
        return cls(images, batch_size, seed)

    def indices_at(self, step: int) -> Tuple[int, torch.Tensor]:
        """``(epoch, indices)`` of step ``step``: this rank's (local batch,) indices."""
        epoch, pos = divmod(int(step), self.per_epoch)
        if epoch != self._perm_epoch:
            self._perm = epoch_permutation(len(self.images), self.seed, epoch).to(self.images.device)
            self._perm_epoch = epoch
        lo = pos * self.batch_size + self.rank * self.local
        return epoch, self._perm[lo:lo + self.local]

    def next_indices(self) -> torch.Tensor:
        """The indices of the next batch (an internal step counter advances)."""
        _, idx = self.indices_at(self.i)
        self.i += 1
        return idx

    def next(self, trainer) -> torch.Tensor:
        """The next float batch, prepared by ``trainer`` (device, layout)."""
        return trainer.prepare_batch(self.images[self.next_indices()])
