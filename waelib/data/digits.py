"""``digits``: scikit-learn's bundled 8x8 handwritten digits, upscaled to RGB.

A tiny *real* data set for quick checks (1,797 images); it is not part of the thesis.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from waelib.config import SPLIT_SEED
from waelib.utils import check_choice

from .common import check_image_size, thesis_or_all

DIGITS_SPLITS: Tuple[str, ...] = ("train", "test", "all")


class Digits(Dataset):
    """scikit-learn's bundled handwritten digits (1,797 grey 8x8 images, ink = bright).

    Upscaled bilinearly to ``(3, S, S)`` in [0, 1] (grey repeated over RGB); split 80/20
    by the thesis' rule scaled to 1,797 images (:func:`~waelib.data.thesis_split_indices`
    with :func:`~waelib.data.thesis_n_train`, seed ``split_seed``: ``"train"`` 1,438,
    ``"test"`` 359).
    Target: ``{"label": LongTensor scalar}``.  A tiny *real* data set for quick checks;
    it is not part of the thesis."""

    name = "digits"
    _CACHE: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}

    def __init__(self, split: str = "train", image_size: int = 128, *,
                 split_seed: int = SPLIT_SEED) -> None:
        check_choice(split, DIGITS_SPLITS, f"{self.name} split")
        self.split, self.image_size = split, check_image_size(image_size)
        self.attr_names, self.factor_names = None, None
        images, labels = self._all(self.image_size)
        self.indices = thesis_or_all(split, len(labels), split_seed)
        self._images, self._labels = images, labels

    @classmethod
    def _all(cls, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        if size not in cls._CACHE:
            # deferred: scikit-learn is slow to import and only this function needs it
            from sklearn.datasets import load_digits
            d = load_digits()
            x = torch.tensor(d.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                align_corners=False)
            x = x.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8).expand(-1, 3, -1, -1)
            cls._CACHE[size] = (x.contiguous(), torch.tensor(d.target, dtype=torch.long))
        return cls._CACHE[size]

    def __len__(self) -> int:
        return len(self.indices)

    def uint8_batch(self, positions: np.ndarray) -> torch.Tensor:
        return self._images[torch.as_tensor(self.indices[np.asarray(positions)], dtype=torch.long)]

    def labels(self, positions: np.ndarray) -> Dict[str, torch.Tensor]:
        """``{"label": (len(positions),) long}`` without touching the images."""
        return {"label": self._labels[torch.as_tensor(self.indices[np.asarray(positions)], dtype=torch.long)]}

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        g = int(self.indices[index])
        return self._images[g].float().div_(255.0), {"label": self._labels[g].clone()}
