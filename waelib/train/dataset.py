"""The data path of a training run (thesis §4.2): the data set by name or file, the shape check,
the whole set materialised as one uint8 tensor, and the per-epoch order.

The whole training set is materialised once as a uint8 tensor (N, 3, S, S) (on the GPU when
``data_on_device``; 128 px CelebA is 8 GB), batches are gathered with the epoch's permutation
and converted to float in [0, 1] on the device. No DataLoader, no worker stalls, and the order
is exactly reproducible on resume.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional, Tuple

import torch

from .. import config
from .. import data as _data
from ..data import DATASET_NAMES, check_image_range, check_image_shape, to_uint8_tensor
from ..data.celeba import check_celeba_files
from .config import TrainConfig

__all__ = ["check_image_shape", "check_image_range", "dataset_names",
           "first_image", "materialise", "load_named_dataset", "check_before_loading"]


def first_image(dataset) -> torch.Tensor:
    """The first image (3, S, S) of a data set whose items are images or (image, target)."""
    item = dataset[0]
    if isinstance(item, (tuple, list)):
        item = item[0]
    return torch.as_tensor(item)


def materialise(dataset, device: Optional[torch.device] = None,
                progress: bool = False) -> torch.Tensor:
    """The whole data set as one (N, 3, S, S) tensor: uint8 via :func:`waelib.data.to_uint8_tensor`
    (a float tensor given directly is kept as float so that, e.g., NaN pixels survive; its
    range is checked by the caller with :func:`~waelib.data.check_image_range`)."""
    if isinstance(dataset, torch.Tensor):
        return dataset
    for attr in ("images", "tensors", "data"):  # TensorImageDataset / TensorDataset-like
        t = getattr(dataset, attr, None)
        if isinstance(t, (tuple, list)) and t and isinstance(t[0], torch.Tensor):
            t = t[0]
        if isinstance(t, torch.Tensor) and t.dim() == 4 and len(t) == len(dataset):
            return t
    # synthfaces renders straight onto the GPU when ``device`` is CUDA
    return to_uint8_tensor(dataset, progress=progress, device=device)


def _split_for(cfg: TrainConfig) -> Optional[str]:
    """The split :func:`load_named_dataset` loads (None: the data set's default)."""
    if cfg.split is None and cfg.dataset in DATASET_NAMES:
        return _data.thesis_splits(cfg.dataset)[0]   # the thesis' random 80/20 split (§4.2)
    return cfg.split


def check_before_loading(cfg: TrainConfig) -> None:
    """Every check that needs no data, run before anything is loaded or rendered (a bad
    ``--image-size`` must not cost a minute of rendering first): the configuration
    (:meth:`TrainConfig.validate`: model name, lengths, ...), the image size and width the
    models are built for, the data set name, its split and options (the checks of
    :func:`waelib.data.load_dataset`), a ``.pt`` file's existence, CelebA's files, and the
    ``tensorboard`` package when asked for.

    Raises:
        ValueError / TypeError / FileNotFoundError / ImportError naming the valid choices or
        the fix.
    """
    cfg.validate()
    if cfg.image_size not in config.SUPPORTED_IMAGE_SIZES:
        raise ValueError(f"unsupported image_size {cfg.image_size!r} for model {cfg.model!r}; "
                         f"valid choices: {', '.join(map(str, config.SUPPORTED_IMAGE_SIZES))} "
                         f"(--image-size)")
    if not (isinstance(cfg.width, (int, float)) and 0 < cfg.width <= 4):
        raise ValueError(f"width must be a number in (0, 4], got {cfg.width!r} (--width)")
    if cfg.latent_dim is not None and cfg.latent_dim < 1:
        raise ValueError(f"latent_dim must be positive, got {cfg.latent_dim} (--latent-dim)")
    if cfg.n is not None and cfg.n < 1:
        raise ValueError(f"n must be a positive number of images, got {cfg.n} (--n)")
    for name in ("lr", "disc_lr"):
        v = getattr(cfg, name)
        if v is not None and not v > 0:
            raise ValueError(f"{name} must be positive, got {v!r} (--{name.replace('_', '-')})")
    if cfg.dataset.endswith(".pt"):
        if not Path(cfg.dataset).is_file():
            raise FileNotFoundError(f"data set file {cfg.dataset} does not exist")
    else:
        opts = dict(cfg.dataset_options)
        if cfg.n is not None and cfg.dataset == "synthfaces":
            opts["n"] = cfg.n
        _data.check_dataset_args(cfg.dataset, split=_split_for(cfg), image_size=cfg.image_size,
                                 options=opts)
        if cfg.dataset == "celeba" and not opts.get("download"):
            check_celeba_files(cfg.data_root)
    if cfg.tensorboard:
        if importlib.util.find_spec("tensorboard") is None:
            raise ImportError("tensorboard=True (--tensorboard) needs the tensorboard package: "
                              "pip install tensorboard")


def load_named_dataset(cfg: TrainConfig):
    """``cfg.dataset`` through :func:`waelib.data.load_dataset`, or a ``.pt`` file holding a
    (N, 3, S, S) image tensor (uint8, or float in [0, 1])."""
    if cfg.dataset.endswith(".pt"):
        path = Path(cfg.dataset)
        if not path.exists():
            raise FileNotFoundError(f"data set file {path} does not exist")
        t = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{path} must hold one (N, 3, S, S) image tensor, got {type(t).__name__}")
        return t[: cfg.n] if cfg.n is not None else t
    opts = dict(cfg.dataset_options)
    split = _split_for(cfg)
    if split is not None:
        opts["split"] = split
    if cfg.n is None:
        return _data.load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size, **opts)
    try:   # synthfaces: n = size of the generated set (before its train/test split)
        return _data.load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size,
                                  n=cfg.n, **opts)
    except TypeError:   # other sets: the first n images
        ds = _data.load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size, **opts)
        return torch.utils.data.Subset(ds, range(min(cfg.n, len(ds))))


def dataset_names() -> Tuple[str, ...]:
    """Names accepted by ``waelib.data.load_dataset`` (:data:`waelib.data.DATASET_NAMES`)."""
    return tuple(DATASET_NAMES)
