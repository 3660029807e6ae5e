"""The feature nets of the Fréchet distances (thesis §2.4): pytorch-fid's InceptionV3
(:class:`InceptionFeatures`, the real FID) and the offline attribute classifier
(:class:`AttributeCNN` inside :class:`ClassifierFeatures`, the FCD), built by name with
:func:`load_feature_extractor`.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from waelib.utils import resolve_device

from .images import to_float_images

#: The committed offline classifier (``waelib/assets/synthfaces_classifier.pt``).
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
SYNTHFACES_CLASSIFIER_PATH = ASSETS_DIR / "synthfaces_classifier.pt"
#: The committed feature net of the ``mnist5k`` data set (the landscape study's second scale).
MNIST5K_CLASSIFIER_PATH = ASSETS_DIR / "mnist5k_classifier.pt"
#: The committed feature nets: their file and the options of ``scripts/train_feature_classifier.py``
#: that made it (the command a missing file's message gives).
COMMITTED_CLASSIFIERS = {
    "synthfaces_classifier": (SYNTHFACES_CLASSIFIER_PATH, "--dataset synthfaces"),
    "mnist5k_classifier": (MNIST5K_CLASSIFIER_PATH,
                           "--dataset mnist5k --image-size 32 --n-train 4000 --n-heldout 1000 --epochs 15"),
}
INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                         + INCEPTION_WEIGHTS_FILE)
EXTRACTOR_NAMES: Tuple[str, ...] = ("inception", "synthfaces_classifier", "celeba_classifier", "mnist5k_classifier")


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
        # deferred: torchvision and pytorch-fid are slow to import; only the Inception network needs them
        import torchvision
        from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2

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
        x = nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
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
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
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
            ``"mnist5k_classifier"`` (the committed ``waelib/assets/mnist5k_classifier.pt``),
            ``"celeba_classifier"`` (``path``, default ``<root>/celeba_classifier.pt``).
        device: where to put the module (default: leave on CPU).

    Raises:
        ValueError: unknown name (the message lists the choices).
        FileNotFoundError: a weights file is missing (the message says how to get it).
    """
    if name == "inception":
        ext: FeatureExtractor = InceptionFeatures(path, random_weights=random_weights)
    elif name in COMMITTED_CLASSIFIERS:
        default, options = COMMITTED_CLASSIFIERS[name]
        p = Path(path) if path is not None else default
        if not p.is_file():
            raise FileNotFoundError(
                f"The {name.split('_')[0]} feature classifier {p} is missing. Regenerate it with: "
                f"python scripts/train_feature_classifier.py {options} --out {p}")
        ext = ClassifierFeatures.load(p, name=name)
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
