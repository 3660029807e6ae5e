"""Evaluation metrics: FID (Inception or an offline classifier), sharpness, RMSE, MS-SSIM
diversity, improved precision/recall, KID and latent correlation (NAC).

Thesis map
----------
- **FID** (thesis §2.4, Tables 4.4 and 4.5). The standard feature net is pytorch-fid's
  TF-ported InceptionV3 (:class:`InceptionFeatures`, 2048-d pool3 features). Its weights
  cannot be downloaded here, so the project also ships a small attribute classifier trained
  on the embedded ``synthfaces`` data (:class:`ClassifierFeatures`); the Fréchet distance in
  its feature space is a *Fréchet classifier distance* (FCD). FCD values are **not**
  comparable with Inception FIDs nor across feature nets, so every result
  (:class:`FIDResult`) carries the extractor's name, the reference set and both sample counts.
- **Sharpness** (thesis §2.5, Tables 4.3-4.5): :func:`sharpness` (the thesis' gradient
  magnitude, 0-255 pixel scale by default) and :func:`laplacian_sharpness` (the official WAE
  code's variance of the Laplacian, [0, 1] scale by default). They are different numbers;
  tables must say which one they use.
- **Extra metrics** from the seeds: :func:`rmse` (seed 003), :func:`ms_ssim_diversity`
  (seed 003; SPEC §4), :func:`precision_recall` and :func:`nac` (seed 004), :func:`kid`.

Conventions: images are float tensors ``(N, 3, H, W)`` in ``[0, 1]`` (uint8 tensors are
accepted where noted and divided by 255). Feature statistics are float64.

Run ``python -m waelib.metrics --bench`` for this machine's feature-extraction throughput
and the cost of one 2048-d Fréchet distance next to ``scipy.linalg.sqrtm``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from waelib.utils import atomic_write_bytes, resolve_device

ArrayLike = Union[np.ndarray, torch.Tensor]

__all__ = [
    "to_float_images",
    # Fréchet distance and FID
    "frechet_distance", "FeatureStats", "FIDResult", "compute_features", "compute_statistics",
    "fid", "fid_from_stats", "reference_statistics", "fid_floor",
    # feature extractors
    "FeatureExtractor", "InceptionFeatures", "ClassifierFeatures", "AttributeCNN",
    "load_feature_extractor", "EXTRACTOR_NAMES", "INCEPTION_WEIGHTS_FILE", "INCEPTION_WEIGHTS_URL",
    "inception_weights_path", "SYNTHFACES_CLASSIFIER_PATH",
    # image metrics
    "to_grey", "sharpness", "laplacian_sharpness", "rmse", "ms_ssim", "msssim_window",
    "ms_ssim_diversity",
    # feature / latent metrics
    "precision_recall", "kid", "nac",
]

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
SYNTHFACES_CLASSIFIER_PATH = ASSETS_DIR / "synthfaces_classifier.pt"
INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                         + INCEPTION_WEIGHTS_FILE)
EXTRACTOR_NAMES: Tuple[str, ...] = ("inception", "synthfaces_classifier", "celeba_classifier")

#: ITU-R BT.601 luma weights used to convert RGB to grey (both sharpness definitions).
LUMA_WEIGHTS: Tuple[float, float, float] = (0.299, 0.587, 0.114)
#: Default MS-SSIM scale weights (Wang et al. 2003), as in pytorch-msssim and ProGAN.
MSSSIM_WEIGHTS: Tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


# =====================================================================================
# Fréchet distance (thesis §2.4)
# =====================================================================================
def _as_float64(x: ArrayLike, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device, dtype=torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64, device=device)


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (thesis §2.4, FID).

    ``d² = ‖mu1 − mu2‖² + tr(Σ1) + tr(Σ2) − 2·tr((Σ1 Σ2)^{1/2})``, in float64.

    The trace of the matrix square root is taken from eigenvalues, not from
    ``scipy.linalg.sqrtm``: with ``S = Σ1^{1/2}`` (symmetric eigendecomposition, negative
    round-off eigenvalues clipped to 0), ``Σ1 Σ2`` is similar to the symmetric PSD matrix
    ``S Σ2 S``, so ``tr((Σ1 Σ2)^{1/2}) = Σ_i sqrt(λ_i(S Σ2 S))``. Two ``eigh`` calls are
    several times faster than a Schur-based ``sqrtm`` at 2048 dims, need no ``eps·I``
    offset for singular covariances (e.g. fewer samples than dimensions), and never
    produce an imaginary component.

    Args:
        mu1, mu2: means, shape ``(d,)``; numpy arrays or torch tensors.
        sigma1, sigma2: covariances, shape ``(d, d)``, symmetric positive semi-definite.
            If any argument is a CUDA tensor the computation runs on that GPU.

    Returns:
        The squared Fréchet distance as a Python float (the quantity called "FID").
    """
    device = torch.device("cpu")
    for a in (mu1, sigma1, mu2, sigma2):
        if isinstance(a, torch.Tensor) and a.is_cuda:
            device = a.device
            break
    m1, m2 = _as_float64(mu1, device).reshape(-1), _as_float64(mu2, device).reshape(-1)
    s1, s2 = _as_float64(sigma1, device), _as_float64(sigma2, device)
    d = m1.numel()
    if m2.numel() != d or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {tuple(m1.shape)}, sigma1 {tuple(s1.shape)}, "
                         f"mu2 {tuple(m2.shape)}, sigma2 {tuple(s2.shape)}")
    s1 = 0.5 * (s1 + s1.T)
    s2 = 0.5 * (s2 + s2.T)
    w, v = torch.linalg.eigh(s1)
    root1 = (v * w.clamp_min(0).sqrt()) @ v.T            # Σ1^{1/2}
    m = root1 @ s2 @ root1
    lam = torch.linalg.eigvalsh(0.5 * (m + m.T))
    tr_covmean = lam.clamp_min(0).sqrt().sum()
    diff = m1 - m2
    value = diff.dot(diff) + torch.trace(s1) + torch.trace(s2) - 2.0 * tr_covmean
    return float(value.item())


# =====================================================================================
# Feature extractors
# =====================================================================================
class FeatureExtractor(nn.Module):
    """Common interface of the feature nets used for Fréchet distances.

    Subclasses set ``name`` (str, goes into every :class:`FIDResult`), ``dim`` (feature
    size) and implement ``forward(images) -> (N, dim)`` for float images ``(N, 3, H, W)``
    in ``[0, 1]`` of any size (each extractor resizes internally).
    ``fingerprint`` identifies the exact weights, and keys the reference-statistics cache.
    """

    name: str = "features"
    dim: int = 0

    @property
    def fingerprint(self) -> str:
        return self.name

    @property
    def metric_name(self) -> str:
        """``"FID"`` for the real Inception net, ``"FCD"`` (Fréchet classifier distance) else."""
        return "FID" if self.name == "inception" else "FCD"

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def inception_weights_path(weights_path: Optional[Union[str, Path]] = None) -> Path:
    """Where the FID Inception weights are looked up: ``weights_path`` if given, else
    ``torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth`` (the cache that
    pytorch-fid itself reads, i.e. ``$TORCH_HOME/hub/checkpoints/``)."""
    if weights_path is not None:
        return Path(weights_path)
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def _missing_inception_message(path: Path, given: bool) -> str:
    folder = path.parent
    where = (f"the path given ({path})" if given else
             f"torch.hub's checkpoint cache: {folder}/ (torch.hub.get_dir()/checkpoints; set "
             "$TORCH_HOME to move it)")
    return (f"The FID Inception weights file {INCEPTION_WEIGHTS_FILE} was not found at {where}. "
            f"Nothing is downloaded here: get it on a machine with internet from the pytorch-fid "
            f"GitHub release {INCEPTION_WEIGHTS_URL} and place it in the folder {folder}/ "
            f"(exact path: {path}). Or use the offline extractor: "
            f"load_feature_extractor('synthfaces_classifier').")


class InceptionFeatures(FeatureExtractor):
    """pytorch-fid's TF-ported InceptionV3, 2048-d pool3 features (the standard FID).

    Mirrors ``pytorch_fid.inception.InceptionV3(output_blocks=[3])`` exactly: input float
    ``(N, 3, H, W)`` in ``[0, 1]`` is resized bilinearly to 299×299
    (``align_corners=False``, as ``resize_input=True``) and *then* mapped to ``[-1, 1]``
    (``normalize_input=True``: ``2x − 1``); the network is ``fid_inception_v3()`` (torchvision's
    InceptionV3 with the FID patches of pytorch-fid's ``FIDInception*`` blocks).

    Args:
        weights_path: the ``.pth`` file; default: torch.hub's checkpoint cache
            (see :func:`inception_weights_path`). Never downloaded: a missing file raises
            :class:`FileNotFoundError` saying where to put it and where to get it.
        random_weights: build the network with random weights (for tests and benchmarks;
            its features are meaningless, and its ``name`` says so).
    """

    dim = 2048

    def __init__(self, weights_path: Optional[Union[str, Path]] = None, *,
                 random_weights: bool = False) -> None:
        super().__init__()
        import torchvision
        from pytorch_fid.inception import (FIDInceptionA, FIDInceptionC, FIDInceptionE_1,
                                           FIDInceptionE_2)

        path = inception_weights_path(weights_path)
        state_dict = None
        if not random_weights:
            if not path.is_file():
                raise FileNotFoundError(_missing_inception_message(path, weights_path is not None))
            state_dict = torch.load(path, map_location="cpu", weights_only=True)

        net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                              init_weights=False)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = FIDInceptionE_1(1280)
        net.Mixed_7c = FIDInceptionE_2(2048)
        if state_dict is not None:
            net.load_state_dict(state_dict)
        self.blocks = nn.Sequential(
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3,
            nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c,
            net.Mixed_6d, net.Mixed_6e,
            net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1)),
        )
        for p in self.parameters():
            p.requires_grad_(False)
        self.random_weights = bool(random_weights)
        self.weights_path = None if random_weights else path
        self.name = "inception(random weights)" if random_weights else "inception"
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in ``[0, 1]`` → ``(N, 2048)`` pool3 features."""
        x = to_float_images(images)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        return self.blocks(x).flatten(1)


class AttributeCNN(nn.Module):
    """The offline feature net: a small CNN for multi-label attribute classification.

    64×64 input → 4 × [conv3×3 stride 2, BN, ReLU] (widths ``widths``; 64→32→16→8→4 px)
    → 1×1 conv to ``reduce`` channels, BN, ReLU → flatten (4·4·reduce) → dense
    ``feature_dim`` + ReLU (**the features**) → heads: ``n_attr`` logits (BCE) and, if
    ``n_factors`` > 0, a regression of the standardised continuous factors (MSE).
    """

    def __init__(self, n_attr: int, n_factors: int = 0, *, input_size: int = 64,
                 widths: Sequence[int] = (32, 64, 128, 128), reduce: int = 32,
                 feature_dim: int = 128) -> None:
        super().__init__()
        layers: List[nn.Module] = []
        c = 3
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True)]
            c = w
        layers += [nn.Conv2d(c, reduce, 1, bias=False), nn.BatchNorm2d(reduce), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*layers)
        side = input_size // (2 ** len(widths))
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(reduce * side * side, feature_dim),
                                   nn.ReLU(inplace=True))
        self.attr_head = nn.Linear(feature_dim, n_attr)
        self.factor_head = nn.Linear(feature_dim, n_factors) if n_factors > 0 else None
        self.config = dict(n_attr=n_attr, n_factors=n_factors, input_size=input_size,
                           widths=list(widths), reduce=reduce, feature_dim=feature_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(N, 3, input_size, input_size)`` → ``(N, feature_dim)``."""
        return self.embed(self.conv(x))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        h = self.features(x)
        return self.attr_head(h), (self.factor_head(h) if self.factor_head is not None else None)


class ClassifierFeatures(FeatureExtractor):
    """Penultimate-layer features of an :class:`AttributeCNN` (for the FCD).

    Any input size is accepted: images are resized to ``input_size`` (64) internally
    (bilinear, antialiased when shrinking), so one net serves 32/64/128-px models; inputs
    are mapped to ``[-1, 1]``.

    Build from a checkpoint with :meth:`load` (or :func:`load_feature_extractor`).
    """

    def __init__(self, net: AttributeCNN, *, name: str = "classifier",
                 attr_names: Sequence[str] = (), metadata: Optional[dict] = None,
                 weights_sha256: str = "") -> None:
        super().__init__()
        self.net = net
        self.name = name
        self.dim = int(net.config["feature_dim"])
        self.input_size = int(net.config["input_size"])
        self.attr_names = list(attr_names)
        self.metadata = dict(metadata or {})
        self.weights_sha256 = weights_sha256
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @property
    def fingerprint(self) -> str:
        return f"{self.name}-{self.weights_sha256[:12]}" if self.weights_sha256 else self.name

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """float/uint8 ``(N, 3, H, W)`` → ``(N, 3, 64, 64)`` in ``[-1, 1]``."""
        x = to_float_images(images)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > self.input_size)
        return 2.0 * x - 1.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in ``[0, 1]`` → ``(N, feature_dim)`` features."""
        return self.net.features(self.preprocess(images))

    @torch.no_grad()
    def predict_attributes(self, images: torch.Tensor) -> torch.Tensor:
        """Attribute probabilities ``(N, n_attr)``."""
        return torch.sigmoid(self.net(self.preprocess(images))[0])

    def checkpoint(self) -> dict:
        """The dict :meth:`load` reads (state dict, architecture, names, metadata)."""
        return {"format": "waelib.ClassifierFeatures/1", "name": self.name,
                "arch": dict(self.net.config), "attr_names": list(self.attr_names),
                "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
                "metadata": self.metadata}

    @classmethod
    def load(cls, path: Union[str, Path], *, name: Optional[str] = None) -> "ClassifierFeatures":
        """Load a checkpoint written by ``scripts/train_feature_classifier.py``."""
        path = Path(path)
        raw = path.read_bytes()
        ckpt = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        if not isinstance(ckpt, dict) or ckpt.get("format") != "waelib.ClassifierFeatures/1":
            raise ValueError(f"{path} is not a waelib classifier checkpoint")
        net = AttributeCNN(**ckpt["arch"])
        net.load_state_dict(ckpt["state_dict"])
        return cls(net, name=name or ckpt.get("name", path.stem), attr_names=ckpt["attr_names"],
                   metadata=ckpt.get("metadata", {}),
                   weights_sha256=hashlib.sha256(raw).hexdigest())


def load_feature_extractor(name: str, *, path: Optional[Union[str, Path]] = None,
                           random_weights: bool = False, root: Union[str, Path] = "data",
                           device: Optional[Union[str, torch.device]] = None) -> FeatureExtractor:
    """Build a feature extractor by name.

    Args:
        name: ``"inception"`` (pytorch-fid's InceptionV3; ``path`` = weights file, default
            the torch.hub cache; ``random_weights=True`` for tests), ``"synthfaces_classifier"``
            (the committed asset ``waelib/assets/synthfaces_classifier.pt``, or ``path``),
            ``"celeba_classifier"`` (``path``, default ``<root>/celeba_classifier.pt``).
        device: where to put the module (default: leave on CPU).

    Raises:
        ValueError: unknown name (the message lists the choices).
        FileNotFoundError: a weights file is missing (the message says how to get it).
    """
    if name == "inception":
        ext: FeatureExtractor = InceptionFeatures(path, random_weights=random_weights)
    elif name == "synthfaces_classifier":
        p = Path(path) if path is not None else SYNTHFACES_CLASSIFIER_PATH
        if not p.is_file():
            raise FileNotFoundError(
                f"The synthfaces feature classifier {p} is missing. Regenerate it with: "
                f"python scripts/train_feature_classifier.py --dataset synthfaces --out {p}")
        ext = ClassifierFeatures.load(p, name="synthfaces_classifier")
    elif name == "celeba_classifier":
        p = Path(path) if path is not None else Path(root) / "celeba_classifier.pt"
        if not p.is_file():
            raise FileNotFoundError(
                f"The CelebA feature classifier {p} is missing (it is not shipped: CelebA is not "
                f"redistributable). Train it where CelebA is available with: "
                f"python scripts/train_feature_classifier.py --dataset celeba --out {p}")
        ext = ClassifierFeatures.load(p, name="celeba_classifier")
    else:
        raise ValueError(f"unknown feature extractor {name!r}; choose one of {list(EXTRACTOR_NAMES)}")
    if device is not None:
        ext = ext.to(resolve_device(device) if device == "auto" else torch.device(device))
    return ext


# =====================================================================================
# Image sources → batches → features → statistics
# =====================================================================================
def to_float_images(images: Union[torch.Tensor, np.ndarray]) -> torch.Tensor:
    """uint8 (0-255) or float (0-1) images → float32 tensor ``(N, C, H, W)``."""
    x = torch.as_tensor(images)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def _first(batch: Any) -> torch.Tensor:
    """A batch may be a tensor or a (images, targets) tuple/list."""
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    return to_float_images(batch)


def _uint8_fast_path(dataset: Any) -> Tuple[Any, Optional[np.ndarray]]:
    """``(base, positions)`` when ``dataset`` (possibly nested ``Subset``s) is backed by a data
    set with a batch method ``uint8_batch(positions) -> uint8 (B, 3, S, S)`` (the fast path of
    every :mod:`waelib.data` set); ``(None, None)`` otherwise."""
    positions: Optional[np.ndarray] = None
    while isinstance(dataset, torch.utils.data.Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        positions = idx if positions is None else idx[positions]
        dataset = dataset.dataset
    if not callable(getattr(dataset, "uint8_batch", None)):
        return None, None
    if positions is None:
        positions = np.arange(len(dataset), dtype=np.int64)
    return dataset, positions


def _iter_batches(source: Any, *, n: Optional[int], batch_size: int) -> Iterator[torch.Tensor]:
    """Yield float image batches from a tensor/array, a Dataset, an iterable of batches
    (e.g. a DataLoader) or a callable ``f(batch_size) -> images``; at most ``n`` images."""
    from torch.utils.data import DataLoader, Dataset

    if isinstance(source, (torch.Tensor, np.ndarray)):
        total = len(source) if n is None else min(n, len(source))
        for i in range(0, total, batch_size):
            yield to_float_images(source[i:min(i + batch_size, total)])
        return
    if isinstance(source, Dataset) and hasattr(source, "__len__"):
        total = len(source) if n is None else min(n, len(source))
        base, positions = _uint8_fast_path(source)
        if base is not None:  # batch rendering/decoding (waelib.data's ``uint8_batch``)
            for i in range(0, total, batch_size):
                yield to_float_images(base.uint8_batch(positions[i:min(i + batch_size, total)]))
            return
        if total < len(source):
            source = torch.utils.data.Subset(source, range(total))
        source = DataLoader(source, batch_size=batch_size, shuffle=False, num_workers=0)
    elif callable(source) and not isinstance(source, Iterable):
        if n is None:
            raise ValueError("a callable image source f(batch_size) needs n=")
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            x = _first(source(b))[:b]
            done += len(x)
            yield x
        return
    done = 0
    for batch in source:
        x = _first(batch)
        if n is not None:
            x = x[: n - done]
        if len(x) == 0:
            break
        done += len(x)
        yield x
        if n is not None and done >= n:
            break


@torch.no_grad()
def compute_features(source: Any, extractor: Union[FeatureExtractor, str], *,
                     n: Optional[int] = None, batch_size: int = 100,
                     device: Optional[Union[str, torch.device]] = "auto") -> torch.Tensor:
    """Features ``(N, dim)`` (float32, CPU) of the images in ``source`` (see
    :func:`compute_statistics` for the accepted sources)."""
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    dev = resolve_device(device)
    ext = ext.to(dev).eval()
    out = [ext(x.to(dev)).float().cpu() for x in _iter_batches(source, n=n, batch_size=batch_size)]
    if not out:
        raise ValueError("the image source yielded no images")
    return torch.cat(out)


@dataclass
class FeatureStats:
    """Mean ``mu`` ``(d,)`` and covariance ``sigma`` ``(d, d)`` (float64, unbiased, n−1) of
    ``n`` feature vectors from ``extractor`` on ``source`` (a description)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    extractor: str = ""
    source: str = ""

    def save(self, path: Union[str, Path], key: Optional[dict] = None) -> Path:
        """Write an ``.npz`` atomically (``key``: the settings it was computed with)."""
        buf = io.BytesIO()
        np.savez(buf, mu=self.mu, sigma=self.sigma, n=np.int64(self.n),
                 extractor=np.array(self.extractor), source=np.array(self.source),
                 key=np.array(json.dumps(key or {}, sort_keys=True)))
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Union[str, Path]) -> "FeatureStats":
        with np.load(path, allow_pickle=False) as z:
            return cls(mu=z["mu"].astype(np.float64), sigma=z["sigma"].astype(np.float64),
                       n=int(z["n"]), extractor=str(z["extractor"]), source=str(z["source"]))


@torch.no_grad()
def compute_statistics(source: Any, extractor: Union[FeatureExtractor, str], *,
                       n: Optional[int] = None, batch_size: int = 100,
                       device: Optional[Union[str, torch.device]] = "auto",
                       label: str = "") -> FeatureStats:
    """Feature mean and covariance (float64) of a set of images.

    Args:
        source: images ``(N, 3, H, W)`` (float in [0, 1] or uint8; tensor or numpy); a
            ``Dataset`` whose items are images or ``(image, target)``; an iterable of such
            batches (e.g. a ``DataLoader``); or a callable ``f(batch_size) -> images`` (e.g. a
            model's sampler; then ``n`` is required). ``FeatureStats`` pass through.
        extractor: a :class:`FeatureExtractor` or a name for :func:`load_feature_extractor`.
        n: use at most ``n`` images (all by default).
        device: ``"auto"`` = CUDA when available. Sums are accumulated in float64 on it,
            shifted by the first batch's mean for numerical stability.
        label: a description of the images, stored in ``FeatureStats.source``.
    """
    if isinstance(source, FeatureStats):
        return source
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    dev = resolve_device(device)
    ext = ext.to(dev).eval()
    count, shift, s1, s2 = 0, None, None, None
    for x in _iter_batches(source, n=n, batch_size=batch_size):
        f = ext(x.to(dev)).to(torch.float64)
        if shift is None:
            shift = f.mean(0)
            s1 = torch.zeros_like(shift)
            s2 = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64, device=dev)
        f = f - shift
        s1 += f.sum(0)
        s2 += f.T @ f
        count += f.shape[0]
    if count < 2:
        raise ValueError(f"need at least 2 images for a covariance, got {count}")
    mean_shifted = s1 / count
    sigma = (s2 - count * torch.outer(mean_shifted, mean_shifted)) / (count - 1)
    sigma = 0.5 * (sigma + sigma.T)
    return FeatureStats(mu=(shift + mean_shifted).cpu().numpy(), sigma=sigma.cpu().numpy(),
                        n=count, extractor=ext.name, source=label)


@dataclass
class FIDResult:
    """A Fréchet distance together with what it was measured with.

    ``metric`` is ``"FID"`` for the real Inception net and ``"FCD"`` (Fréchet classifier
    distance) for any other feature net; values are only comparable with the same
    extractor, reference set and similar sample counts.
    """

    value: float
    extractor: str
    reference: str
    n_fake: int
    n_real: int
    metric: str = field(default="")

    def __post_init__(self) -> None:
        if not self.metric:
            self.metric = "FID" if self.extractor == "inception" else "FCD"

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return (f"{self.metric}[{self.extractor}] = {self.value:.3f} "
                f"(n_fake={self.n_fake} vs reference {self.reference}, n_real={self.n_real})")

    def as_dict(self) -> dict:
        return asdict(self)


def fid_from_stats(fake: FeatureStats, real: FeatureStats, *,
                   reference: Optional[str] = None) -> FIDResult:
    """:func:`frechet_distance` of two :class:`FeatureStats` (same extractor required)."""
    if fake.extractor and real.extractor and fake.extractor != real.extractor:
        raise ValueError(f"statistics from different extractors: {fake.extractor!r} vs "
                         f"{real.extractor!r}")
    value = frechet_distance(fake.mu, fake.sigma, real.mu, real.sigma)
    return FIDResult(value=value, extractor=real.extractor or fake.extractor,
                     reference=reference or real.source or "unnamed", n_fake=fake.n, n_real=real.n)


def fid(fake: Any, real: Any, extractor: Union[FeatureExtractor, str], *,
        n_fake: Optional[int] = None, n_real: Optional[int] = None,
        reference: Optional[str] = None, batch_size: int = 100,
        device: Optional[Union[str, torch.device]] = "auto") -> FIDResult:
    """FID (or FCD) between generated and real images.

    ``fake`` and ``real`` are any source :func:`compute_statistics` accepts, or precomputed
    :class:`FeatureStats` (e.g. from :func:`reference_statistics`). ``reference`` names the
    real set in the result (default: ``real.source`` or ``"unnamed"``). Use ≥ 2048 images
    per side for 2048-d Inception features (SPEC §4).
    """
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    fs = compute_statistics(fake, ext, n=n_fake, batch_size=batch_size, device=device)
    rs = compute_statistics(real, ext, n=n_real, batch_size=batch_size, device=device)
    return fid_from_stats(fs, rs, reference=reference)


def _subset_indices(length: int, n: Optional[int], part: int, seed: int) -> List[int]:
    if n is None:
        if part != 0:
            raise ValueError("part > 0 needs an explicit n")
        return list(range(length))
    if (part + 1) * n > length:
        raise ValueError(f"the data set has {length} images; part {part} of size {n} needs "
                         f"{(part + 1) * n}")
    perm = torch.randperm(length, generator=torch.Generator().manual_seed(seed))
    return sorted(perm[part * n:(part + 1) * n].tolist())


def reference_statistics(dataset_name: str, split: str, image_size: int,
                         extractor: Union[FeatureExtractor, str], n: Optional[int] = None, *,
                         cache_dir: Union[str, Path] = "data/cache", root: Union[str, Path] = "data",
                         part: int = 0, seed: int = 0, batch_size: int = 100,
                         device: Optional[Union[str, torch.device]] = "auto",
                         refresh: bool = False, **dataset_options: Any) -> FeatureStats:
    """Feature statistics of a real reference set, computed once and cached.

    The images are ``n`` images of ``load_dataset(dataset_name, root=root, split=split,
    image_size=image_size, **dataset_options)`` chosen by a seeded permutation (``part``
    selects the ``part``-th disjoint block of ``n``; ``n=None`` = the whole split). The result
    is cached as an ``.npz`` in ``cache_dir`` (written atomically) under a name keyed by all
    of these settings and the extractor's weights fingerprint, and reused on later calls.
    """
    from waelib.data import load_dataset  # deferred: data.py is optional for most metrics

    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    key = {"dataset": dataset_name, "split": split, "image_size": int(image_size),
           "extractor": ext.fingerprint, "n": n, "part": int(part), "seed": int(seed),
           "options": {k: repr(v) for k, v in sorted(dataset_options.items())}, "version": 1}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    safe_ext = "".join(c if c.isalnum() or c in "-_" else "_" for c in ext.name)
    path = Path(cache_dir) / (f"stats_{dataset_name}_{split}_{image_size}px_{safe_ext}_"
                              f"n{n if n is not None else 'all'}_p{part}_{digest}.npz")
    label = f"{dataset_name}/{split}@{image_size}px" + (f"[n={n},part={part},seed={seed}]"
                                                        if n is not None else "")
    if path.is_file() and not refresh:
        stats = FeatureStats.load(path)
        stats.source = stats.source or label
        return stats
    ds = load_dataset(dataset_name, root=str(root), split=split, image_size=image_size,
                      **dataset_options)
    idx = _subset_indices(len(ds), n, part, seed)
    subset = ds if len(idx) == len(ds) else torch.utils.data.Subset(ds, idx)
    stats = compute_statistics(subset, ext, batch_size=batch_size, device=device, label=label)
    stats.save(path, key=key)
    return stats


def fid_floor(dataset: str, extractor: Union[FeatureExtractor, str], n: int, *,
              split: str = "test", image_size: int = 64, root: Union[str, Path] = "data",
              cache_dir: Union[str, Path] = "data/cache", seed: int = 0, batch_size: int = 100,
              device: Optional[Union[str, torch.device]] = "auto",
              **dataset_options: Any) -> FIDResult:
    """The real-vs-real floor: FID/FCD between two disjoint random subsets of ``n`` real
    images each (parts 0 and 1 of :func:`reference_statistics`, both cached). For CelebA at
    10k vs 10k the WAE paper reports about 2 (SPEC §4). Needs ``2·n`` images in the split."""
    ext = load_feature_extractor(extractor) if isinstance(extractor, str) else extractor
    kw = dict(cache_dir=cache_dir, root=root, seed=seed, batch_size=batch_size, device=device,
              **dataset_options)
    a = reference_statistics(dataset, split, image_size, ext, n, part=0, **kw)
    b = reference_statistics(dataset, split, image_size, ext, n, part=1, **kw)
    return fid_from_stats(b, a, reference=f"{a.source} vs disjoint {b.source} (real-vs-real floor)")


# =====================================================================================
# Sharpness (thesis §2.5) and pixel metrics
# =====================================================================================
def to_grey(images: torch.Tensor) -> torch.Tensor:
    """RGB ``(N, 3, H, W)`` → grey ``(N, H, W)`` with ITU-R BT.601 luma weights
    0.299 R + 0.587 G + 0.114 B (single-channel input is passed through), float64."""
    x = torch.as_tensor(images)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    x = x.to(torch.float64)
    if x.shape[1] == 1:
        return x[:, 0]
    if x.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got shape {tuple(x.shape)}")
    w = torch.tensor(LUMA_WEIGHTS, dtype=torch.float64, device=x.device)
    return torch.einsum("nchw,c->nhw", x, w)


def sharpness(images: torch.Tensor, scale: float = 255.0) -> torch.Tensor:
    """The thesis' sharpness (§2.5), per image; larger is sharper.

    1. grey = 0.299 R + 0.587 G + 0.114 B, multiplied by ``scale``;
    2. the image gradient (gy, gx) exactly as ``np.gradient(grey)``: central differences
       ``(f[i+1] − f[i−1]) / 2`` inside, one-sided first differences at the borders;
    3. gradient magnitude ``sqrt(gx² + gy²)`` per pixel;
    4. mean over the image.

    The thesis does not state the pixel scale; its values of ~6-10 (Tables 4.3-4.5) point to
    0-255, so images in ``[0, 1]`` are scaled by ``scale=255`` by default (pass ``scale=1``
    for images already in 0-255).

    Note: the mean gradient magnitude is a (discrete) total variation per pixel, so blurring
    one isolated monotone edge leaves it unchanged; it drops when blur merges neighbouring
    up- and down-going edges (fine texture, detail), which is what it measures in practice.
    :func:`laplacian_sharpness` reacts to the blur of any edge.

    Args:
        images: ``(N, 3, H, W)`` or ``(N, 1, H, W)`` in ``[0, 1]`` (H, W ≥ 2).
    Returns:
        ``(N,)`` float64 tensor.
    """
    g = to_grey(images) * scale
    gy, gx = torch.gradient(g, dim=(1, 2))
    return torch.sqrt(gx * gx + gy * gy).mean(dim=(1, 2))


_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def laplacian_sharpness(images: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The official WAE code's "blurriness" sharpness, per image; larger is sharper.

    grey (BT.601 weights; TF's ``rgb_to_grayscale`` uses the same to 4 digits) ×
    ``scale``, convolved with the 3×3 Laplacian (0,1,0 / 1,−4,1 / 0,1,0) with 'valid'
    padding, then the (population, ÷N) variance of the response over the image. The
    official code feeds [0, 1] images, hence ``scale=1`` by default, and logs the **minimum**
    over a batch of samples; this function returns every image's value (take ``.min()`` to
    reproduce that log, ``.mean()`` for a table). Not comparable with :func:`sharpness`.

    Args:
        images: ``(N, 3, H, W)`` or ``(N, 1, H, W)`` in ``[0, 1]`` (H, W ≥ 3).
    Returns:
        ``(N,)`` float64 tensor.
    """
    g = (to_grey(images) * scale).unsqueeze(1)
    k = torch.tensor(_LAPLACIAN, dtype=torch.float64, device=g.device).view(1, 1, 3, 3)
    r = F.conv2d(g, k)  # cross-correlation == convolution for this symmetric kernel
    return r.flatten(1).var(dim=1, unbiased=False)


def rmse(x: torch.Tensor, x_hat: torch.Tensor, scale: float = 255.0) -> torch.Tensor:
    """Root-mean-square error per image (seed 003), ``(N,)`` float64.

    ``sqrt(mean_{c,h,w} (scale·(x − x_hat))²)``. Seed 003 reports values of ~11-27, i.e.
    a 0-255 pixel scale, hence ``scale=255`` by default (``scale=1`` for the [0, 1] scale).
    Average over images for the seed's "average of the RMSE".
    """
    a = to_float_images(x).to(torch.float64)
    b = to_float_images(x_hat).to(device=a.device, dtype=torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    return ((a - b) * scale).pow(2).flatten(1).mean(1).sqrt()


# =====================================================================================
# MS-SSIM and diversity
# =====================================================================================
def msssim_window(side: int, win_size: int = 11, win_sigma: float = 1.5) -> Tuple[int, float]:
    """The Gaussian window used at one MS-SSIM scale whose smaller side is ``side`` px.

    ``win_size`` when it fits; otherwise the largest odd size ≤ ``side`` with sigma shrunk in
    proportion (``win_sigma · w / win_size``), the rule of ProGAN's MS-SSIM code.
    """
    if side >= win_size:
        return win_size, win_sigma
    w = side if side % 2 == 1 else side - 1
    w = max(w, 1)
    return w, win_sigma * w / win_size


def _gauss_1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _ssim_level(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float,
                K: Tuple[float, float]) -> Tuple[torch.Tensor, torch.Tensor]:
    c = x.shape[1]
    w = win.shape[0]

    def filt(t: torch.Tensor) -> torch.Tensor:
        t = F.conv2d(t, win.view(1, 1, 1, w).expand(c, 1, 1, w), groups=c)
        return F.conv2d(t, win.view(1, 1, w, 1).expand(c, 1, w, 1), groups=c)

    c1, c2 = (K[0] * data_range) ** 2, (K[1] * data_range) ** 2
    mu1, mu2 = filt(x), filt(y)
    s11 = filt(x * x) - mu1 * mu1
    s22 = filt(y * y) - mu2 * mu2
    s12 = filt(x * y) - mu1 * mu2
    cs_map = (2 * s12 + c2) / (s11 + s22 + c2)
    ssim_map = ((2 * mu1 * mu2 + c1) / (mu1 * mu1 + mu2 * mu2 + c1)) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0,
            weights: Sequence[float] = MSSSIM_WEIGHTS, win_size: int = 11,
            win_sigma: float = 1.5, K: Tuple[float, float] = (0.01, 0.03)) -> torch.Tensor:
    """Multi-scale SSIM per image pair, ``(N,)``, for images ``(N, C, H, W)`` of any size
    ≥ 2^(len(weights)−1) px.

    The computation is pytorch-msssim's (Gaussian window, 'valid' filtering, 2×2 average
    pooling with odd-size padding, ReLU on the per-scale terms, mean over channels), except
    that where a scale is smaller than the window the window shrinks to that scale
    (:func:`msssim_window`, as ProGAN's code does) instead of failing: pytorch-msssim needs
    > 160 px for the 11-px window. At ≥ 176 px nothing shrinks and the result equals
    ``pytorch_msssim.ms_ssim(..., size_average=False)`` (tested). At 32 px the last scale is
    2 px with a 1-px window, where only the luminance term is informative.
    """
    x = to_float_images(x)
    y = to_float_images(y).to(x.device)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    levels = len(weights)
    if min(x.shape[-2:]) < 2 ** (levels - 1):
        raise ValueError(f"images of {tuple(x.shape[-2:])} px are too small for {levels} scales")
    wts = torch.tensor(list(weights), dtype=x.dtype, device=x.device)
    mcs: List[torch.Tensor] = []
    ssim_c = None
    for i in range(levels):
        w, s = msssim_window(min(x.shape[-2:]), win_size, win_sigma)
        win = _gauss_1d(w, s, x.dtype, x.device)
        ssim_c, cs = _ssim_level(x, y, win, data_range, K)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            pad = [s_ % 2 for s_ in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    stack = torch.stack(mcs + [torch.relu(ssim_c)], dim=0)  # (levels, N, C)
    return torch.prod(stack ** wts.view(-1, 1, 1), dim=0).mean(1)


@torch.no_grad()
def ms_ssim_diversity(samples: torch.Tensor, n_pairs: int = 1000, *,
                      generator: Optional[torch.Generator] = None, batch_size: int = 200,
                      **ms_ssim_kwargs: Any) -> float:
    """Mean MS-SSIM over ``n_pairs`` random pairs of distinct samples (SPEC §4, seed 003):
    **lower is more diverse**. Pairs ``(i, j)``, ``i ≠ j``, are drawn uniformly with
    ``generator``. Images ``(N, 3, H, W)`` in ``[0, 1]``; see :func:`ms_ssim` for small sizes."""
    x = to_float_images(samples)
    n = len(x)
    if n < 2:
        raise ValueError("need at least 2 samples")
    i = torch.randint(0, n, (n_pairs,), generator=generator)
    j = (i + torch.randint(1, n, (n_pairs,), generator=generator)) % n
    vals = [ms_ssim(x[i[a:a + batch_size]], x[j[a:a + batch_size]], **ms_ssim_kwargs)
            for a in range(0, n_pairs, batch_size)]
    return float(torch.cat(vals).mean().item())


# =====================================================================================
# Feature-space metrics: precision/recall, KID; latent NAC
# =====================================================================================
def _feats64(f: ArrayLike) -> torch.Tensor:
    return torch.as_tensor(np.asarray(f) if not isinstance(f, torch.Tensor) else f).to(torch.float64)


def _kth_nn_radii(feats: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    out = []
    for a in range(0, len(feats), chunk):
        d = torch.cdist(feats[a:a + chunk], feats)
        out.append(d.kthvalue(k + 1, dim=1).values)  # k+1: the point itself is at distance 0
    return torch.cat(out)


def _coverage(queries: torch.Tensor, refs: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    inside = []
    for a in range(0, len(queries), chunk):
        d = torch.cdist(queries[a:a + chunk], refs)
        inside.append((d <= radii.unsqueeze(0)).any(dim=1))
    return float(torch.cat(inside).double().mean().item())


def precision_recall(real_feats: ArrayLike, fake_feats: ArrayLike, k: int = 3, *,
                     chunk: int = 1024) -> Tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019; seed 004).

    Each set's manifold is the union of balls around its points with radius the distance
    to the point's k-th nearest neighbour in the same set (k = 3). Precision = fraction of
    fake features inside the real manifold; recall = fraction of real features inside the
    fake manifold. Features ``(N, d)``, ``(M, d)``; float64 Euclidean distances.
    """
    r, f = _feats64(real_feats), _feats64(fake_feats)
    if len(r) <= k or len(f) <= k:
        raise ValueError(f"each set needs more than k={k} points")
    rr, fr = _kth_nn_radii(r, k, chunk), _kth_nn_radii(f, k, chunk)
    return _coverage(f, r, rr, chunk), _coverage(r, f, fr, chunk)


def _poly_kernel(a: torch.Tensor, b: torch.Tensor, degree: int, gamma: Optional[float],
                 coef: float) -> torch.Tensor:
    g = 1.0 / a.shape[1] if gamma is None else gamma
    return (a @ b.T * g + coef) ** degree


def kid(real_feats: ArrayLike, fake_feats: ArrayLike, subsets: int = 100,
        subset_size: int = 1000, *, degree: int = 3, gamma: Optional[float] = None,
        coef: float = 1.0, generator: Optional[torch.Generator] = None) -> Tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² with the
    polynomial kernel ``k(x, y) = (x·y / d + 1)³``, averaged over ``subsets`` random subsets
    of ``subset_size`` features from each set (drawn without replacement within a subset).

    Within-set sums drop the diagonal and divide by m(m−1); the cross term uses all m²
    pairs (as torchmetrics' ``KernelInceptionDistance``). Unbiased: ≈ 0 in expectation for
    two samples of one distribution, and can be slightly negative.

    Returns:
        ``(mean, std)`` over the subsets (std with ddof=0, as torchmetrics).
    """
    r, f = _feats64(real_feats), _feats64(fake_feats)
    if subset_size > len(r) or subset_size > len(f):
        raise ValueError(f"subset_size={subset_size} exceeds the number of features "
                         f"({len(r)} real, {len(f)} fake)")
    m = subset_size
    vals = []
    for _ in range(subsets):
        a = r[torch.randperm(len(r), generator=generator)[:m]]
        b = f[torch.randperm(len(f), generator=generator)[:m]]
        kxx = _poly_kernel(a, a, degree, gamma, coef)
        kyy = _poly_kernel(b, b, degree, gamma, coef)
        kxy = _poly_kernel(a, b, degree, gamma, coef)
        v = ((kxx.sum() - kxx.diagonal().sum()) + (kyy.sum() - kyy.diagonal().sum())) / (m * (m - 1))
        vals.append(v - 2.0 * kxy.sum() / (m * m))
    t = torch.stack(vals)
    return float(t.mean().item()), float(t.std(unbiased=False).item())


def nac(codes: ArrayLike) -> float:
    """Normalised absolute correlation of latent codes (seed 004, Table 2): the mean of
    ``|corr(z_i, z_j)|`` over all ordered pairs ``i ≠ j`` of latent dimensions, from the
    Pearson correlation matrix of ``codes`` ``(N, d)``. Near 0 for independent dimensions
    (≈ sqrt(2/(πN)) from sampling noise), 1 for perfectly correlated ones. Constant
    dimensions are given zero correlation."""
    z = _feats64(codes)
    if z.dim() != 2 or z.shape[1] < 2 or z.shape[0] < 2:
        raise ValueError(f"expected codes (N>=2, d>=2), got {tuple(z.shape)}")
    z = z - z.mean(0)
    std = z.pow(2).sum(0).sqrt()
    zn = z / torch.where(std > 0, std, torch.ones_like(std))
    corr = zn.T @ zn
    d = corr.shape[0]
    off = corr.abs().sum() - corr.diagonal().abs().sum()
    return float((off / (d * (d - 1))).item())


# =====================================================================================
# Benchmark: python -m waelib.metrics --bench
# =====================================================================================
def _images_per_second(ext: FeatureExtractor, size: int, batch: int, repeats: int) -> float:
    x = torch.rand(batch, 3, size, size)
    with torch.no_grad():
        ext(x)  # warm-up
        t = time.perf_counter()
        for _ in range(repeats):
            ext(x)
        dt = time.perf_counter() - t
    return batch * repeats / dt


def bench(*, dim: int = 2048, threads: Optional[int] = None) -> Dict[str, Any]:
    """Print and return this machine's metric costs (see module docstring)."""
    import platform

    if threads:
        torch.set_num_threads(threads)
    res: Dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, "
                                      f"torch threads={torch.get_num_threads()}"}
    print(f"waelib.metrics bench on {res['machine']}")
    try:
        clf = load_feature_extractor("synthfaces_classifier")
        name = clf.name
    except FileNotFoundError:
        clf = ClassifierFeatures(AttributeCNN(n_attr=8), name="classifier(random weights)")
        name = clf.name + " [asset missing]"
    for size in (32, 64, 128):
        ips = _images_per_second(clf, size, 100, 3)
        res[f"classifier_{size}px_img_per_s"] = ips
        print(f"  feature extraction, {name}, {size}px, batch 100: {ips:8.1f} images/s")
    try:
        inc = InceptionFeatures()
        label = "inception (real weights)"
    except FileNotFoundError:
        inc = InceptionFeatures(random_weights=True)
        label = "inception with RANDOM weights (real file absent; same cost)"
    ips = _images_per_second(inc, 64, 8, 2)
    res["inception_img_per_s"] = ips
    print(f"  feature extraction, {label}, 64px→299, batch 8: {ips:8.1f} images/s")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((dim, dim)) / math.sqrt(dim)
    b = rng.standard_normal((dim, dim)) / math.sqrt(dim)
    s1, s2 = a @ a.T, b @ b.T + 0.1 * np.eye(dim)
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    t = time.perf_counter()
    ours = frechet_distance(mu1, s1, mu2, s2)
    t_ours = time.perf_counter() - t
    import scipy.linalg

    t = time.perf_counter()
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    ref = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                - 2 * np.trace(np.real(covmean)))
    t_ref = time.perf_counter() - t
    res.update(fd_seconds=t_ours, sqrtm_seconds=t_ref, speedup=t_ref / t_ours,
               fd_rel_diff=abs(ours - ref) / abs(ref))
    print(f"  Fréchet distance, {dim}-d: eigh {t_ours:.2f} s vs scipy sqrtm {t_ref:.2f} s "
          f"(x{t_ref / t_ours:.1f} faster; relative difference {res['fd_rel_diff']:.1e})")
    return res


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m waelib.metrics", description=__doc__.split("\n")[0])
    p.add_argument("--bench", action="store_true", help="time feature extraction and the FD")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)
    if args.bench:
        bench(threads=args.threads)
        return 0
    p.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
