"""``celeba``: the real CelebA aligned faces (thesis §4.2), for a user who has the files.

Reading ``<root>/celeba/`` (:func:`celeba_instructions` says how to get it), the
annotation parsers, the centre crop + antialiased resize preprocessing, the one-time
uint8 cache (:func:`build_celeba_cache`) with its errors (:class:`CorruptImageError`),
and the :class:`CelebA` data set with the thesis' random 80/20 split and the official
partitions.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from waelib.config import CELEBA_CROP, SPLIT_SEED
from waelib.utils import atomic_path, atomic_write_json, check_choice, progress_bar

from .common import PathLike, check_image_size, thesis_or_all

CELEBA_SPLITS: Tuple[str, ...] = ("thesis_train", "thesis_test", "train", "valid", "test", "all")

CELEBA_ATTR_NAMES: Tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young")


class CorruptImageError(ValueError):
    """An image file exists but cannot be decoded (truncated download, bad unzip, ...)."""


CELEBA_IMAGE_DIR = "img_align_celeba"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_CACHE_FORMAT = 1


def celeba_instructions(root: PathLike) -> str:
    """How to obtain CelebA and where to put it (used in every 'not found' message)."""
    base = Path(root) / "celeba"
    return (
        "How to get CelebA: download 'Align&Cropped Images' (img_align_celeba.zip) and the "
        f"annotation files '{CELEBA_PARTITION_FILE}' (Eval) and '{CELEBA_ATTR_FILE}' (Anno) "
        "from the official site https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (its Google "
        f"Drive folder), unzip so that '{base / CELEBA_IMAGE_DIR / '000001.jpg'}' exists and "
        f"put the two txt files beside the folder, in '{base}' (the data root is the folder "
        f"that contains 'celeba/': '{Path(root)}'). Alternatively pass download=True "
        "(python -m waelib.train: --download; torchvision's downloader needs internet and the "
        "gdown package, and Google Drive often refuses with a quota error). Without CelebA, use "
        "the embedded data set: load_dataset('synthfaces', ...) (python -m waelib.train: "
        "--dataset synthfaces).")


def celeba_available(root: PathLike = "data") -> bool:
    """Whether CelebA's image folder ``<root>/celeba/img_align_celeba`` exists: what
    ``dataset="auto"`` (:func:`waelib.course.profiles.validate_params`) uses to choose CelebA over
    synthfaces.

    The path is the one ``load_dataset("celeba", root=root)`` reads (both use
    ``_celeba_paths``), so "auto" never picks a CelebA that loading cannot find. Only the
    image folder is looked for; :class:`CelebA` then names any missing annotation file
    (:func:`celeba_instructions`)."""
    return _celeba_paths(root)["images"].is_dir()


def _celeba_paths(root: PathLike) -> Dict[str, Path]:
    """Where CelebA's files are under a data root: the one rule of :func:`celeba_available`
    and of the loader (:func:`check_celeba_files`)."""
    base = Path(root) / "celeba"
    return {"base": base, "images": base / CELEBA_IMAGE_DIR,
            "partition": base / CELEBA_PARTITION_FILE, "attr": base / CELEBA_ATTR_FILE}


def check_celeba_files(root: PathLike) -> Dict[str, Path]:
    paths = _celeba_paths(root)
    missing = []
    if not paths["images"].is_dir():
        missing.append(f"the image folder '{paths['images']}'")
    for key in ("partition", "attr"):
        if not paths[key].is_file():
            missing.append(f"the file '{paths[key]}'")
    if missing:
        raise FileNotFoundError(f"CelebA not found: missing {' and '.join(missing)}. "
                                + celeba_instructions(root))
    return paths


def read_celeba_partition(path: PathLike) -> Tuple[List[str], np.ndarray]:
    """Parse ``list_eval_partition.txt`` (lines ``000001.jpg 0``; 0 train, 1 valid, 2 test).

    Returns ``(filenames, partition)`` with ``partition`` int64 ``(N,)``."""
    names, parts = [], []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ValueError(f"{path}:{lineno}: expected '<image>.jpg <0|1|2>', got {line.strip()!r}")
            names.append(fields[0])
            parts.append(int(fields[1]))
    return names, np.asarray(parts, dtype=np.int64)


def read_celeba_attributes(path: PathLike) -> Tuple[List[str], List[str], np.ndarray]:
    """Parse ``list_attr_celeba.txt``: a count line, a line of 40 attribute names, then
    ``000001.jpg -1 1 ...`` rows.  Returns ``(attr_names, filenames, attr)`` with ``attr``
    int64 ``(N, 40)`` mapped from {-1, 1} to {0, 1} (as torchvision does)."""
    with open(path) as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a count line and a header line of attribute names")
    attr_names = lines[1].split()
    names, rows = [], []
    for lineno, line in enumerate(lines[2:], 3):
        fields = line.split()
        if len(fields) != len(attr_names) + 1:
            raise ValueError(f"{path}:{lineno}: expected a file name and {len(attr_names)} values "
                             f"of -1/1, got {len(fields) - 1} values")
        names.append(fields[0])
        rows.append([int(v) for v in fields[1:]])
    attr = np.asarray(rows, dtype=np.int64).reshape(-1, len(attr_names))
    if not np.isin(attr, (-1, 1)).all():
        raise ValueError(f"{path}: attribute values must be -1 or 1")
    try:
        declared = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise ValueError(f"{path}: the first line must be the number of images") from None
    if declared != len(names):
        raise ValueError(f"{path}: the first line says {declared} images but {len(names)} rows follow")
    return attr_names, names, (attr + 1) // 2


def _celeba_transform(image_size: int, crop: Optional[int]):
    # deferred: torchvision is slow to import and only this function needs it
    from torchvision import transforms
    steps = [] if crop is None else [transforms.CenterCrop(crop)]
    steps += [transforms.Resize((image_size, image_size), interpolation=transforms.InterpolationMode.BILINEAR,
                       antialias=True), transforms.PILToTensor()]
    return transforms.Compose(steps)


def _load_celeba_uint8(path: Path, transform) -> torch.Tensor:
    """Decode, crop and resize one image to uint8 ``(3, S, S)``; errors name the file."""
    from PIL import Image, UnidentifiedImageError  # deferred: Pillow only to decode CelebA's files
    if not path.is_file():
        raise FileNotFoundError(f"CelebA image '{path}' is listed in {CELEBA_PARTITION_FILE} but "
                                "missing (incomplete unzip?). " + celeba_instructions(path.parent.parent.parent))
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.load()
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        raise CorruptImageError(f"cannot decode CelebA image '{path}': {exc}. Re-extract it from "
                                "img_align_celeba.zip.") from exc
    return transform(im)


def _check_crop(crop: Optional[int]) -> Optional[int]:
    if crop is None:
        return None
    if not isinstance(crop, (int, np.integer)) or not 1 <= int(crop) <= 178:
        raise ValueError(f"crop must be None or an integer in [1, 178] (aligned CelebA images "
                         f"are 178x218), got {crop!r}")
    return int(crop)


def celeba_cache_path(root: PathLike, image_size: int, crop: Optional[int]) -> Path:
    """``<root>/cache/celeba_{size}_crop{crop}.npy`` (``cropnone`` without a crop)."""
    return Path(root) / "cache" / f"celeba_{int(image_size)}_crop{crop if crop is not None else 'none'}.npy"


def _cache_meta(image_size: int, crop: Optional[int], filenames: List[str]) -> Dict[str, Any]:
    digest = hashlib.sha1("\n".join(filenames).encode()).hexdigest()
    return {"format": CELEBA_CACHE_FORMAT, "dataset": "celeba", "image_size": int(image_size),
            "crop": crop, "n_images": len(filenames), "filenames_sha1": digest,
            "order": CELEBA_PARTITION_FILE, "dtype": "uint8",
            "shape": [len(filenames), 3, int(image_size), int(image_size)],
            "preprocessing": "PIL RGB, centre crop, antialiased bilinear resize (torchvision)"}


def _cache_is_valid(npy: Path, meta: Dict[str, Any]) -> bool:
    side = npy.with_suffix(".json")
    if not (npy.is_file() and side.is_file()):
        return False
    try:
        if json.loads(side.read_text()) != json.loads(json.dumps(meta)):
            return False
        arr = np.load(npy, mmap_mode="r")
        return arr.dtype == np.uint8 and list(arr.shape) == meta["shape"]
    except (OSError, ValueError):
        return False


class _CelebAFiles(Dataset):
    """Decode helper for the cache builder: returns ``(index, uint8 or None, error)``."""

    def __init__(self, folder: Path, filenames: List[str], transform) -> None:
        self.folder, self.filenames, self.transform = folder, filenames, transform

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, i: int):
        try:
            return i, _load_celeba_uint8(self.folder / self.filenames[i], self.transform), None
        except CorruptImageError as exc:
            return i, None, ("corrupt", str(exc))
        except FileNotFoundError as exc:
            return i, None, ("missing", str(exc))


def build_celeba_cache(root: PathLike = "data", image_size: int = 128, crop: Optional[int] = CELEBA_CROP,
                       *, force: bool = False, progress: bool = True, num_workers: int = 0,
                       batch_size: int = 256) -> Path:
    """Decode, crop and resize every CelebA image once into a uint8 ``.npy`` (§4.2).

    Writes ``<root>/cache/celeba_{image_size}_crop{crop}.npy``, shape
    ``(N, 3, image_size, image_size)`` in the order of ``list_eval_partition.txt``, plus a
    JSON sidecar with the settings.  Both are written atomically; an existing cache is
    reused when its sidecar matches (size, crop, file list, format) and rebuilt otherwise
    (or with ``force=True``).  A corrupt or missing image does not stop the run: all of
    them are collected and reported at the end in one :class:`CorruptImageError` (or
    :class:`FileNotFoundError` if files are only missing), and no cache is written.
    ``num_workers > 0`` decodes in parallel worker processes.  Returns the ``.npy`` path.
    """
    image_size, crop = check_image_size(image_size), _check_crop(crop)
    paths = check_celeba_files(root)
    filenames, _ = read_celeba_partition(paths["partition"])
    npy = celeba_cache_path(root, image_size, crop)
    meta = _cache_meta(image_size, crop, filenames)
    if not force and _cache_is_valid(npy, meta):
        return npy
    files = _CelebAFiles(paths["images"], filenames, _celeba_transform(image_size, crop))
    loader = torch.utils.data.DataLoader(files, batch_size=batch_size, num_workers=num_workers,
                                         collate_fn=list, shuffle=False)
    problems: Dict[str, List[str]] = {"corrupt": [], "missing": []}
    side = npy.with_suffix(".json")
    if side.exists():
        side.unlink()  # a half-finished rebuild must never look valid
    with atomic_path(npy) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(meta["shape"]))
        bar = progress_bar(total=len(files), desc=f"CelebA cache {image_size}px crop {crop}",
                           unit="img", disable=not progress)
        for batch in loader:
            for i, img, err in batch:
                if err is None:
                    arr[i] = img.numpy()
                else:
                    problems[err[0]].append(filenames[i])
            bar.update(len(batch))
        bar.close()
        arr.flush()
        del arr
        if problems["corrupt"] or problems["missing"]:
            msg = []
            if problems["corrupt"]:
                msg.append(f"{len(problems['corrupt'])} corrupt image(s) that cannot be decoded: "
                           + ", ".join(problems["corrupt"]))
            if problems["missing"]:
                msg.append(f"{len(problems['missing'])} image(s) listed in {CELEBA_PARTITION_FILE} "
                           "but missing: " + ", ".join(problems["missing"]))
            text = (f"CelebA cache not written ({npy}); in '{paths['images']}' there are "
                    + "; and ".join(msg) + ". Re-extract them from img_align_celeba.zip and run again.")
            raise (CorruptImageError(text) if problems["corrupt"] else FileNotFoundError(text))
    atomic_write_json(side, meta)
    return npy


class CelebA(Dataset):
    """CelebA aligned faces (thesis §4.2), read from ``<root>/celeba/``.

    Needs ``img_align_celeba/*.jpg``, ``list_eval_partition.txt`` and
    ``list_attr_celeba.txt`` (:func:`celeba_instructions`); a missing one raises
    :class:`FileNotFoundError` naming the exact path.  Splits: ``"thesis_train"`` /
    ``"thesis_test"`` (the thesis' random 80/20 split, :func:`thesis_split_indices` over every
    listed image: 162,079 / 40,520), or the official partitions ``"train"``, ``"valid"``,
    ``"test"`` and ``"all"``.  Preprocessing: centre crop ``crop`` (default
    :data:`~waelib.config.CELEBA_CROP` = 140, the official WAE code's choice; ``None``
    for none) then antialiased bilinear resize to ``image_size``.  With ``cache=True``
    the images come from :func:`build_celeba_cache` (built on first use).

    Items: ``(float32 (3, S, S) in [0, 1], {"attr": LongTensor(40) of 0/1})``.
    """

    name = "celeba"

    def __init__(self, root: PathLike = "data", split: str = "thesis_train", image_size: int = 128, *,
                 crop: Optional[int] = CELEBA_CROP, cache: bool = False, download: bool = False,
                 split_seed: int = SPLIT_SEED, progress: bool = True) -> None:
        check_choice(split, CELEBA_SPLITS, "celeba split")
        self.root, self.split = Path(root), split
        self.image_size, self.crop = check_image_size(image_size), _check_crop(crop)
        if download:
            self._download()
        paths = check_celeba_files(root)
        self.image_dir = paths["images"]
        self.filenames, self.partition = read_celeba_partition(paths["partition"])
        names, attr_files, attr = read_celeba_attributes(paths["attr"])
        self.attr_names: List[str] = names
        self.factor_names = None
        row = {f: i for i, f in enumerate(attr_files)}
        missing = [f for f in self.filenames if f not in row]
        if missing:
            raise ValueError(f"{paths['attr']} has no attributes for {len(missing)} image(s) listed "
                             f"in {paths['partition']}, e.g. {missing[:3]}")
        self.attr = torch.from_numpy(attr[[row[f] for f in self.filenames]])
        n = len(self.filenames)
        if split in ("thesis_train", "thesis_test", "all"):
            self.indices = thesis_or_all(split, n, split_seed)
        else:
            code = {"train": 0, "valid": 1, "test": 2}[split]
            self.indices = np.flatnonzero(self.partition == code).astype(np.int64)
        self.transform = _celeba_transform(self.image_size, self.crop)
        self._cache: Optional[np.ndarray] = None
        self.cache_path: Optional[Path] = None
        if cache:
            self.cache_path = build_celeba_cache(root, self.image_size, self.crop, progress=progress)
            self._cache = np.load(self.cache_path, mmap_mode="r")

    def _download(self) -> None:
        import torchvision  # deferred: torchvision is slow to import and only this function needs it
        try:
            torchvision.datasets.CelebA(str(self.root), split="all", target_type=[], download=True)
        except Exception as exc:  # network, quota, missing gdown: explain what to do instead
            raise RuntimeError(f"CelebA download failed ({type(exc).__name__}: {exc}). "
                               + celeba_instructions(self.root)) from exc

    def __len__(self) -> int:
        return len(self.indices)

    def uint8_batch(self, positions: np.ndarray) -> torch.Tensor:
        """uint8 ``(B, 3, S, S)`` of these positions (from the cache when there is one)."""
        g = self.indices[np.asarray(positions, dtype=np.int64)]
        if self._cache is not None:
            return torch.from_numpy(np.ascontiguousarray(self._cache[np.sort(g)][np.argsort(np.argsort(g))]))
        return torch.stack([self._load(int(i)) for i in g]) if len(g) else \
            torch.empty((0, 3, self.image_size, self.image_size), dtype=torch.uint8)

    def _load(self, g: int) -> torch.Tensor:
        if self._cache is not None:
            return torch.from_numpy(np.array(self._cache[g]))
        return _load_celeba_uint8(self.image_dir / self.filenames[g], self.transform)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        g = int(self.indices[index])
        return self._load(g).float().div_(255.0), {"attr": self.attr[g].clone()}

    def __repr__(self) -> str:
        return (f"CelebA(root={str(self.root)!r}, split={self.split!r}, image_size={self.image_size}, "
                f"crop={self.crop}, cached={self._cache is not None}, len={len(self)})")
