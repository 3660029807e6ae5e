"""Tests of :mod:`waelib.course.profiles` (issue 11): the parameters cell's checks that run before any
work -- the FID feature extractor among them -- and ``dataset="auto"``, which must choose CelebA
exactly when ``load_dataset("celeba", root=data_root)`` can read it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from waelib import data

# ---------------------------------------------------------------------------------------
from waelib.course import profiles


# ---------------------------------------------------------------------------------------
# Item 12: fid_features is checked with the other parameters, "auto" among the choices
# ---------------------------------------------------------------------------------------
def test_fid_features_is_validated_with_the_parameters_and_lists_auto(tmp_path):
    with pytest.raises(ValueError) as e:
        profiles.resolve_params("smoke", {"fid_features": "vgg", "out_dir": str(tmp_path)})
    msg = str(e.value)
    assert "'vgg'" in msg and "fid_features" in msg
    for name in ("auto", "inception", "synthfaces_classifier", "celeba_classifier"):
        assert name in msg
    for name in profiles.FID_FEATURE_CHOICES:
        assert profiles.resolve_params("smoke", {"fid_features": name}).fid_features == name
    with pytest.raises(ValueError, match="auto, inception"):
        profiles.validate_params({"fid_features": "Inception"})


def test_fid_feature_choices_are_auto_and_the_metrics_extractors():
    from waelib.metrics import EXTRACTOR_NAMES
    assert profiles.FID_FEATURE_CHOICES == ("auto",) + tuple(EXTRACTOR_NAMES)
    for table in (profiles.PROFILES,):
        for p in table.values():
            assert p["fid_features"] in profiles.FID_FEATURE_CHOICES


# ---------------------------------------------------------------------------------------
# Item 14: dataset="auto" and load_dataset("celeba") follow one rule
# ---------------------------------------------------------------------------------------
def _fake_celeba(root: Path, n: int = 4) -> Path:
    """A minimal CelebA tree in the real layout: <root>/celeba/{img_align_celeba/, txt files}."""
    from PIL import Image
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for k, name in enumerate(names):
        Image.fromarray(np.full((218, 178, 3), 40 * k, dtype=np.uint8)).save(
            base / "img_align_celeba" / name)
    (base / "list_eval_partition.txt").write_text("".join(f"{f} 0\n" for f in names))
    header = " ".join(data.CELEBA_ATTR_NAMES)
    rows = "".join(f"{f}" + " -1" * len(data.CELEBA_ATTR_NAMES) + "\n" for f in names)
    (base / "list_attr_celeba.txt").write_text(f"{n}\n{header}\n{rows}")
    return root


def _auto(root: Path) -> str:
    return profiles.validate_params({"dataset": "auto", "data_root": str(root)})["dataset"]


def test_auto_picks_celeba_exactly_when_load_dataset_reads_it(tmp_path):
    # <root>/img_align_celeba: not where load_dataset looks, so not CelebA
    flat = tmp_path / "flat"
    (flat / "img_align_celeba").mkdir(parents=True)
    assert _auto(flat) == "synthfaces" and not data.celeba_available(flat)
    with pytest.raises(FileNotFoundError, match="celeba/img_align_celeba"):
        data.load_dataset("celeba", root=flat, split="all", image_size=32)
    # <root>/celeba/...: CelebA, and it loads from the same root
    root = _fake_celeba(tmp_path / "good")
    assert _auto(root) == "celeba" and data.celeba_available(root)
    ds = data.load_dataset("celeba", root=root, split="all", image_size=32)
    assert len(ds) == 4 and ds[0][0].shape == (3, 32, 32)
    # no data root at all: synthfaces
    assert _auto(tmp_path / "nowhere") == "synthfaces"


def test_auto_and_the_loader_share_one_path_rule(tmp_path, monkeypatch):
    """celeba_available follows the loader's path function: move CelebA in that one place and
    both follow."""
    from waelib.data import celeba
    real = celeba._celeba_paths
    moved = lambda root: real(Path(root) / "elsewhere")
    (tmp_path / "elsewhere" / "celeba" / "img_align_celeba").mkdir(parents=True)
    assert not data.celeba_available(tmp_path)
    monkeypatch.setattr(celeba, "_celeba_paths", moved)
    assert data.celeba_available(tmp_path) and _auto(tmp_path) == "celeba"
