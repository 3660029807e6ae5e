"""Tests for waelib.data (thesis §4.2): splits, the embedded synthfaces renderer, the
CelebA loader and cache on a fake CelebA tree, digits, and the uint8 fast paths."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from waelib import data, utils
from waelib.config import CELEBA_N_IMAGES, CELEBA_N_TEST, CELEBA_N_TRAIN
from waelib.course import profiles
from waelib.data import synthfaces_render as render


# ---------------------------------------------------------------------------------------
# splits and argument checking
# ---------------------------------------------------------------------------------------
def test_thesis_split_sizes_disjoint_and_covering():
    tr, te = data.thesis_split()
    assert (len(tr), len(te)) == (CELEBA_N_TRAIN, CELEBA_N_TEST) == (162_079, 40_520)
    assert tr.dtype == np.int64 and te.dtype == np.int64
    assert len(np.intersect1d(tr, te)) == 0
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(CELEBA_N_IMAGES))
    tr2, te2 = data.thesis_split()
    assert np.array_equal(tr, tr2) and np.array_equal(te, te2)
    tr3, _ = data.thesis_split(seed=1)
    assert not np.array_equal(tr, tr3)
    # it is a random split, not a prefix: both halves span the whole index range
    assert te.min() < 1000 and te.max() > CELEBA_N_IMAGES - 1000
    perm = np.random.default_rng(0).permutation(CELEBA_N_IMAGES)
    assert np.array_equal(tr, np.sort(perm[:CELEBA_N_TRAIN]))


def test_thesis_split_scaled_and_invalid():
    assert data.thesis_n_train(CELEBA_N_IMAGES) == CELEBA_N_TRAIN
    assert data.thesis_n_train(1000) == 800
    tr, te = data.thesis_split(10, 8)
    assert len(tr) == 8 and len(te) == 2 and set(tr) | set(te) == set(range(10))
    with pytest.raises(ValueError):
        data.thesis_split(10, 11)


def test_load_dataset_rejects_bad_arguments_with_choices():
    with pytest.raises(ValueError, match="synthfaces.*celeba.*digits"):
        data.load_dataset("mnist")
    with pytest.raises(ValueError, match=r"\(32, 64, 128\)"):
        data.load_dataset("synthfaces", image_size=16)
    with pytest.raises(ValueError, match=r"\(32, 64, 128\)"):
        data.load_dataset("digits", image_size=64.0)
    with pytest.raises(ValueError, match="thesis_train.*valid"):
        data.load_dataset("celeba", split="validation")
    with pytest.raises(ValueError, match="valid choices: train, test, all"):
        data.load_dataset("digits", split="valid")
    with pytest.raises(TypeError, match="crop"):
        data.load_dataset("synthfaces", crop=140)


def test_validate_images_messages():
    x = torch.rand(2, 3, 32, 32)
    assert data.validate_images(x, image_size=32) is x
    with pytest.raises(ValueError, match=r"train batch: expected images of shape \(B, 3, 64, 64\), "
                                         r"got \(2, 3, 32, 32\)"):
        data.validate_images(x, image_size=64, where="train batch")
    with pytest.raises(ValueError, match=r"\(B, 1, 32, 32\)"):
        data.check_image_batch(x, image_size=32, channels=1)
    with pytest.raises(ValueError, match="uint8"):
        data.validate_images(x.mul(255).to(torch.uint8), image_size=32)
    with pytest.raises(ValueError, match="got \\(3, 32, 32\\)"):
        data.validate_images(x[0], image_size=32)


def test_image_shape_rule_is_shared_by_the_data_set_and_the_batch_checks():
    data.check_image_shape((3, 32, 32), 32, "wae_gan")       # fine: returns None
    with pytest.raises(ValueError, match=r"expects \(channels, height, width\) = \(3, 32, 32\)"):
        data.check_image_shape((32, 32), 32, "wae_gan")
    with pytest.raises(ValueError, match="1-channel images.*Convert the images to RGB"):
        data.check_image_shape((1, 32, 32), 32, "wae_gan", "digits")
    with pytest.raises(ValueError, match=r"pass image_size=64 \(--image-size 64\)"):
        data.check_image_shape((3, 64, 64), 32, "wae_gan")
    for shape in [(3, 32, 32), (1, 32, 32), (3, 64, 64), (32, 32, 3)]:
        batch_ok = data.common._image_shape_mismatch(shape, 32) is None
        try:
            data.validate_images(torch.zeros((2,) + shape), image_size=32)
            assert batch_ok
        except ValueError:
            assert not batch_ok


def test_one_source_for_names_splits_and_choices():
    assert profiles.DATASET_NAMES is data.DATASET_NAMES == data.DATASETS
    assert profiles.DATASET_CHOICES == data.DATASET_NAMES + ("auto",)
    assert data.thesis_split is data.thesis_split_indices
    assert data.thesis_splits is data.thesis_split_names
    assert profiles.check_choice is utils.check_choice
    with pytest.raises(ValueError, match="unknown data set 'mnist'; valid choices: synthfaces, "
                                         "celeba, digits"):
        data.thesis_split_names("mnist")


def test_celeba_available_looks_for_the_image_folder_load_dataset_reads(tmp_path):
    """Only <root>/celeba/img_align_celeba counts: <root>/img_align_celeba is a folder
    load_dataset("celeba", root=...) does not read (issue 11, item 14)."""
    assert not data.celeba_available(tmp_path)
    (tmp_path / "a" / "celeba" / "img_align_celeba").mkdir(parents=True)
    (tmp_path / "b" / "img_align_celeba").mkdir(parents=True)
    assert data.celeba_available(tmp_path / "a") and not data.celeba_available(tmp_path / "b")
    assert profiles.celeba_available is data.celeba_available


def test_channels_last_images_get_the_permute_hint():
    """An (N, H, W, 3) tensor used to be reported as 32-channel images with the hint to repeat
    a grey channel; the fix is a permute (issue 11, item 11)."""
    for shape, fix in [((32, 32, 3), "x.permute(0, 3, 1, 2)"),
                       ((32, 32, 1), "x.permute(0, 3, 1, 2).repeat(1, 3, 1, 1)")]:
        with pytest.raises(ValueError) as e:
            data.check_image_shape(shape, 32, "wae_gan")
        msg = str(e.value)
        assert "channels-last" in msg and fix in msg and "grey" not in msg
    with pytest.raises(ValueError, match=r"permute with x\.permute\(0, 3, 1, 2\)"):
        data.validate_images(torch.zeros(2, 32, 32, 3), image_size=32)
    with pytest.raises(ValueError, match="grey"):            # really one channel, channels-first
        data.check_image_shape((1, 32, 32), 32, "wae_gan")


def test_float_images_outside_0_1_are_refused_naming_the_fix():
    x = torch.rand(4, 3, 8, 8)
    data.check_image_range(x)                                 # fine
    data.check_image_range((x * 255).to(torch.uint8))         # uint8: not checked
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    data.check_image_range(nan)                               # NaN pixels: the NaN guard's job
    with pytest.raises(ValueError, match=r"my set .*values in \[[\d.]+, 25[\d.]+\].*divide by 255.*uint8"):
        data.check_image_range(x * 255, "my set")
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        data.check_image_range(x * 2 - 1)
    with pytest.raises(ValueError, match="image 1 of the data set"):   # item by item
        data.to_uint8_tensor([(x[0], 0), (x[1] * 255, 0)])
    assert data.to_uint8_tensor([x[0], x[1]]).shape == (2, 3, 8, 8)   # bare images work too


def test_progress_bars_are_compact_without_a_terminal(monkeypatch):
    """tqdm.auto printed hundreds of text bars in executed notebooks ("IProgress not found"):
    with ipywidgets a kernel gets the widget bar; headless output refreshes once a minute."""
    bar = data.progress_bar(range(3), disable=False)           # pytest: stderr is not a TTY
    assert utils._progress_mode() == "headless" and bar.mininterval >= 60
    bar.close()

    class Kernel:
        config = {"IPKernelApp": {}}
    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    assert utils._progress_mode() == "widget"


# ---------------------------------------------------------------------------------------
# synthfaces
# ---------------------------------------------------------------------------------------
def test_synthfaces_splits_and_attributes():
    full_tr = data.load_dataset("synthfaces", split="train", image_size=32)
    full_te = data.load_dataset("synthfaces", split="thesis_test", image_size=32)
    assert (len(full_tr), len(full_te)) == (162_079, 40_520)
    assert np.array_equal(full_tr.indices, data.thesis_split()[0])
    small = {s: data.load_dataset("synthfaces", split=s, image_size=32, n=1000)
             for s in ("train", "thesis_train", "test", "all")}
    assert len(small["train"]) == 800 and len(small["test"]) == 200 and len(small["all"]) == 1000
    assert np.array_equal(small["train"].indices, small["thesis_train"].indices)
    assert not set(small["train"].indices) & set(small["test"].indices)
    ds = small["all"]
    assert ds.name == "synthfaces" and ds.image_size == 32
    assert len(ds.attr_names) >= 8 and len(ds.factor_names) >= 6
    for a in ("Smiling", "Eyeglasses", "Black_Hair", "Blond_Hair", "Bangs", "Wearing_Hat", "Male",
              "Wearing_Lipstick", "Pale_Skin", "Mouth_Slightly_Open"):
        assert a in ds.attr_names
    for f in ("pos_x", "pos_y", "scale", "tilt", "skin_tone", "bg_hue"):
        assert f in ds.factor_names
    lab = ds.labels(np.arange(1000))
    assert lab["attr"].dtype == torch.long and lab["attr"].shape == (1000, len(ds.attr_names))
    assert lab["factors"].dtype == torch.float32 and lab["factors"].shape == (1000, len(ds.factor_names))
    freq = lab["attr"].float().mean(0)
    assert ((freq > 0.02) & (freq < 0.98)).all(), dict(zip(ds.attr_names, freq.tolist()))
    hair = lab["attr"][:, [ds.attr_names.index(k) for k in
                           ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")]]
    assert hair.sum(1).max() <= 1  # exclusive hair colours
    f = dict(zip(ds.factor_names, lab["factors"].T))
    assert f["scale"].min() > 0.6 and f["scale"].max() < 0.8 and f["tilt"].abs().max() <= 0.15 + 1e-6
    assert 0 <= f["bg_hue"].min() and f["bg_hue"].max() < 1 and f["bg_hue"].std() > 0.2


def test_synthfaces_items_collate_and_range():
    ds = data.load_dataset("synthfaces", split="test", image_size=64, n=200)
    x, t = ds[3]
    assert x.dtype == torch.float32 and x.shape == (3, 64, 64)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05
    assert set(t) == {"attr", "factors"} and t["attr"].shape == (len(ds.attr_names),)
    xb, tb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 64, 64) and tb["attr"].shape == (4, len(ds.attr_names))
    assert torch.equal(xb[3], x) and torch.equal(tb["factors"][3], t["factors"])


@pytest.mark.parametrize("size", [32, 64, 128, 48])
def test_synthfaces_batch_equals_single_and_depends_only_on_seed_and_index(size):
    ids = np.array([0, 5, 17, 123_456, 202_598])
    batch = data.render_synthfaces(ids, size, seed=3)
    assert batch.dtype == torch.uint8 and batch.shape == (5, 3, size, size)
    for j, i in enumerate(ids):
        assert torch.equal(data.render_synthfaces([i], size, seed=3)[0], batch[j])
    # other batch companions, other order: same pixels
    other = data.render_synthfaces(np.array([202_598, 99, 17]), size, seed=3)
    assert torch.equal(other[2], batch[2]) and torch.equal(other[0], batch[4])
    # a different seed gives a different image; the image does not depend on n or split
    assert not torch.equal(data.render_synthfaces([17], size, seed=4)[0], batch[2])
    small = data.SynthFaces("all", size, n=200, seed=3)
    assert torch.equal(small.render_batch([17])[0], batch[2])
    assert torch.equal((small[5][0] * 255).round().to(torch.uint8), batch[1])
    # images of different ids differ
    assert (batch[0].float() - batch[1].float()).abs().mean() > 5


def _extreme_params(ids):
    """Parameters at the edges of every pose range with every optional layer on."""
    p = data.synthfaces_params(ids)
    n = len(ids)
    corners = np.array([[sx, sy, ss, st] for sx in (-1, 1) for sy in (0, 1) for ss in (0, 1)
                        for st in (-1, 1)], dtype=float)[np.arange(n) % 16]
    p["pos_x"] = corners[:, 0] * render.POS_X_MAX
    p["pos_y"] = np.where(corners[:, 1] > 0, render.POS_Y_RANGE[1], render.POS_Y_RANGE[0])
    p["scale"] = np.where(corners[:, 2] > 0, render.SCALE_RANGE[1], render.SCALE_RANGE[0])
    p["tilt"] = corners[:, 3] * render.TILT_MAX
    for k in ("Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Heavy_Makeup", "Wearing_Lipstick"):
        p[k] = np.ones(n)
    for k in list(p):
        if k.startswith("u_"):
            p[k] = np.where(np.arange(n) % 2 == 0, 0.0, 0.999)
    return p


@pytest.mark.parametrize("size", [32, 64, 128])
def test_feature_window_never_clips_a_feature(size):
    """The renderer draws eyes/brows/nose/mouth/glasses only inside a fixed window (for
    speed); at the extremes of every pose range the result must equal a full render."""
    p = _extreme_params(np.arange(16))
    rnd = data.synthfaces_params(np.arange(1000, 1016))
    p = {k: np.concatenate([v, rnd[k]]) for k, v in p.items()}
    r = {k: torch.as_tensor(np.ascontiguousarray(v, dtype=np.float32))
         for k, v in render.synthfaces_render_inputs(p).items()}
    tex = render.noise_texture(torch.device("cpu"))
    with render.single_threaded(torch.device("cpu")), torch.inference_mode():
        win = render.render_chunk(r, size, tex, window=True)
        full = render.render_chunk(r, size, tex, window=False)
    assert torch.equal(win, full)
    r0, r1, c0, c1 = render._feature_window(size)
    assert (r1 - r0) * (c1 - c0) < size * size  # the window really is smaller


def _region_mask(size, u_range, v_range, cx=0.0, cy=0.1, scale=0.72, margin=2):
    """Pixels whose face coordinates (u, v) lie in the box (upright face), grown by margin px."""
    t = (torch.arange(size) + 0.5) * 2.0 / size - 1.0
    pw = 2.0 / size
    x = t.view(1, -1)
    y = t.view(-1, 1)
    m = margin * pw
    return ((x >= cx + scale * u_range[0] - m) & (x <= cx + scale * u_range[1] + m)
            & (y >= cy + scale * v_range[0] - m) & (y <= cy + scale * v_range[1] + m))


# attribute -> (face-local box it may change: u range, v range; v = -1 top of face, 1 chin)
_ATTR_REGIONS = {
    "Eyeglasses": ((-0.95, 0.95), (-0.33, 0.12)),
    "Smiling": ((-0.5, 0.5), (-0.25, 0.7)),  # mouth, and the eyes narrow
    "Mouth_Slightly_Open": ((-0.3, 0.3), (0.35, 0.65)),
    "Wearing_Lipstick": ((-0.3, 0.3), (0.35, 0.65)),
    "Heavy_Makeup": ((-0.65, 0.65), (-0.35, 0.45)),
    "Bangs": ((-1.0, 1.0), (-1.3, -0.25)),
    "Wearing_Hat": ((-1.15, 1.15), (-1.3, -0.35)),
    "No_Beard": ((-0.9, 0.9), (-0.2, 1.05)),
    "Pale_Skin": ((-1.0, 1.0), (-1.1, 1.5)),
}


@pytest.mark.parametrize("attr", sorted(_ATTR_REGIONS) + ["Black_Hair", "Blond_Hair", "Male"])
def test_attribute_flip_changes_pixels_in_expected_region(attr):
    size = 64
    p = data.synthfaces_params(np.arange(4))
    # an upright, centred face: the expected region is then a box in pixels
    p.update(pos_x=np.zeros(4), pos_y=np.full(4, 0.1), scale=np.full(4, 0.72), tilt=np.zeros(4))
    for k in data.SYNTHFACES_ATTR_NAMES:
        p[k] = np.zeros(4)
    p["No_Beard"] = np.ones(4)
    p["Male"] = np.array([0.0, 0.0, 1.0, 1.0])
    p["hair_length"] = np.where(p["Male"] > 0, 0.1, 0.8)
    q = {k: v.copy() for k, v in p.items()}
    if attr == "No_Beard":
        q["No_Beard"] = 1.0 - p["Male"]  # the males get a beard
    elif attr == "Male":
        q["Male"] = 1.0 - p["Male"]
    else:
        q[attr] = np.ones(4)
    a = data.render_synthfaces_params(p, size).int()
    b = data.render_synthfaces_params(q, size).int()
    changed = (a - b).abs().amax(1) > 2  # (B, H, W)
    rows = [2, 3] if attr == "No_Beard" else list(range(4))  # only males grow a beard
    assert changed[rows].flatten(1).sum(1).min() > 10, f"{attr} barely changes the image"
    # the background corners never change
    for corner in (changed[:, :4, :4], changed[:, :4, -4:]):
        assert not corner.any()
    if attr in _ATTR_REGIONS:
        u_range, v_range = _ATTR_REGIONS[attr]
        inside = _region_mask(size, u_range, v_range)
        outside = changed & ~inside
        assert outside.sum() == 0, f"{attr} changed {int(outside.sum())} pixels outside its region"


def test_factors_move_the_face_and_recolour_background():
    p = data.synthfaces_params(np.arange(2))
    p.update(pos_x=np.zeros(2), tilt=np.zeros(2))
    q = {k: v.copy() for k, v in p.items()}
    q["pos_x"] = np.full(2, render.POS_X_MAX)
    a, b = (data.render_synthfaces_params(d, 64).float() for d in (p, q))
    # the face moved right: the left-right brightness profile of the centre rows shifts
    prof_a = a[:, :, 20:50].mean((1, 2))
    prof_b = b[:, :, 20:50].mean((1, 2))
    shift = [int(np.argmax([torch.dot(pa - pa.mean(), torch.roll(pb, -k) - pb.mean()).item()
                            for k in range(0, 6)])) for pa, pb in zip(prof_a, prof_b)]
    assert all(k >= 2 for k in shift)  # 0.08 image units = 2.6 px at 64 px
    q = {k: v.copy() for k, v in p.items()}
    q["bg_hue"] = (p["bg_hue"] + 0.5) % 1.0
    c = data.render_synthfaces_params(q, 64).float()
    a = data.render_synthfaces_params(p, 64).float()
    assert (c[:, :, :6, :6] - a[:, :, :6, :6]).abs().mean() > 5


def test_synthfaces_render_speed_floor():
    """>= 500 images/s at 64x64 on one thread. Measured on an AMD EPYC core: ~3,000 idle and
    2,300-3,000 while another pytest worker kept both cores busy. CPU time of this process is
    used, so other processes sharing the machine do not count (only their pressure on the shared
    caches, ~1.3x); the floor leaves ~2.5x for a CPU twice as slow (the Intel Xeon CI machine)
    under such load, and still fails a renderer 6x slower than today's. Best of three batches
    of 1,000."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = data.SynthFaces("all", 64, n=4000)
        ds.render_batch(np.arange(64))  # warm-up
        best = 0.0
        for rep in range(3):
            pos = np.arange(rep * 1000, rep * 1000 + 1000)
            t0 = time.process_time()
            ds.render_batch(pos)
            best = max(best, 1000 / max(time.process_time() - t0, 1e-9))
            if best >= 500:
                break
    finally:
        torch.set_num_threads(threads)
    assert best >= 500, f"synthfaces renders only {best:.0f} img/s at 64 px"


@pytest.mark.gpu
def test_synthfaces_renders_on_gpu_like_on_cpu():
    ds = data.SynthFaces("all", 64, n=100)
    cpu = ds.render_batch(np.arange(50)).int()
    gpu = ds.render_batch(np.arange(50), device="cuda")
    assert gpu.device.type == "cuda" and gpu.dtype == torch.uint8
    diff = (gpu.cpu().int() - cpu).abs()
    assert diff.float().mean() < 0.05 and (diff > 8).float().mean() < 1e-3
    resident = data.to_uint8_tensor(Subset(ds, range(50)), device="cuda", batch_size=16)
    assert resident.device.type == "cuda" and torch.equal(resident, gpu)


# ---------------------------------------------------------------------------------------
# to_uint8_tensor and TensorImageDataset
# ---------------------------------------------------------------------------------------
def test_to_uint8_tensor_uses_batch_rendering(monkeypatch):
    ds = data.SynthFaces("test", 32, n=300)

    def no_items(self, i):
        raise AssertionError("to_uint8_tensor must not render item by item")

    monkeypatch.setattr(data.SynthFaces, "__getitem__", no_items)
    x = data.to_uint8_tensor(ds, batch_size=16)
    assert x.dtype == torch.uint8 and x.shape == (60, 3, 32, 32)
    assert torch.equal(x, data.render_synthfaces(ds.indices, 32))
    sub = Subset(Subset(ds, list(range(10, 40))), [5, 0, 7])
    assert torch.equal(data.to_uint8_tensor(sub), x[[15, 10, 17]])


def test_to_uint8_tensor_fallback_and_tensor_dataset():
    class Plain(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.full((3, 8, 8), i / 4.0), {}

    x = data.to_uint8_tensor(Plain())
    assert x.dtype == torch.uint8 and x[:, 0, 0, 0].tolist() == [0, 64, 128]
    labels = torch.arange(3)
    tds = data.TensorImageDataset(x, {"label": labels}, name="plain")
    img, t = tds[2]
    assert img.dtype == torch.float32 and torch.allclose(img, torch.full((3, 8, 8), 128 / 255))
    assert t["label"].item() == 2 and tds.image_size == 8 and tds.name == "plain"
    assert tds.attr_names is None and data.TensorImageDataset(x)[0][1] == {}
    assert torch.equal(data.to_uint8_tensor(tds), x)
    with pytest.raises(ValueError, match="uint8"):
        data.TensorImageDataset(x.float())
    with pytest.raises(ValueError, match="rows"):
        data.TensorImageDataset(x, {"label": torch.arange(4)})


# ---------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------
def test_digits():
    tr = data.load_dataset("digits", split="train", image_size=32)
    te = data.load_dataset("digits", split="test", image_size=32)
    assert (len(tr), len(te)) == (1438, 359)
    assert not set(tr.indices) & set(te.indices)
    x, t = te[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2]) and x.max() > 0.9
    assert t["label"].dtype == torch.long and t["label"].dim() == 0
    assert tr.attr_names is None and tr.name == "digits"
    labels = torch.stack([tr[i][1]["label"] for i in range(len(tr))])
    assert set(labels.tolist()) == set(range(10))
    u = data.to_uint8_tensor(te)
    assert u.shape == (359, 3, 32, 32) and torch.equal(u[0].float() / 255, x)


# ---------------------------------------------------------------------------------------
# CelebA on a fake tree in the real format
# ---------------------------------------------------------------------------------------
N_FAKE = 10


def _jpeg(path: Path, k: int) -> None:
    from PIL import Image
    rng = np.random.default_rng(k)
    arr = np.zeros((218, 178, 3), dtype=np.uint8)
    arr[:] = rng.integers(0, 255, 3)
    arr[40:180, 19:159] = rng.integers(0, 255, 3)  # the central 140x140 crop differs
    arr[100:120, 80:100] = 255
    Image.fromarray(arr).save(path, quality=95)


def _fake_celeba(root: Path, n: int = N_FAKE) -> Path:
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for k, name in enumerate(names):
        _jpeg(base / "img_align_celeba" / name, k)
    parts = [0] * (n - 4) + [1, 1, 2, 2]
    (base / "list_eval_partition.txt").write_text(
        "".join(f"{f} {p}\n" for f, p in zip(names, parts)))
    rng = np.random.default_rng(0)
    attr = rng.choice([-1, 1], size=(n, 40))
    attr[0, :3] = [1, -1, 1]
    lines = [str(n), " ".join(data.CELEBA_ATTR_NAMES) + " "]
    lines += [f + "".join(f" {v:2d}" for v in row) for f, row in zip(names, attr)]
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def celeba_root(tmp_path):
    return _fake_celeba(tmp_path)


def test_celeba_splits_items_and_preprocessing(celeba_root):
    from PIL import Image
    sizes = {s: len(data.load_dataset("celeba", root=celeba_root, split=s, image_size=32))
             for s in data.CELEBA_SPLITS}
    assert sizes == {"thesis_train": 8, "thesis_test": 2, "train": 6, "valid": 2, "test": 2, "all": 10}
    tr = data.load_dataset("celeba", root=celeba_root, split="thesis_train", image_size=32)
    te = data.load_dataset("celeba", root=celeba_root, split="thesis_test", image_size=32)
    assert np.array_equal(np.sort(np.concatenate([tr.indices, te.indices])), np.arange(10))
    assert np.array_equal(tr.indices, data.thesis_split(10, 8)[0])
    ds = data.load_dataset("celeba", root=celeba_root, split="all", image_size=32)
    assert ds.name == "celeba" and ds.attr_names == list(data.CELEBA_ATTR_NAMES)
    x, t = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert t["attr"].dtype == torch.long and t["attr"].shape == (40,)
    assert t["attr"][:3].tolist() == [1, 0, 1]
    # centre crop 140 then antialiased bilinear resize, exactly
    im = Image.open(celeba_root / "celeba" / "img_align_celeba" / "000001.jpg").convert("RGB")
    left, top = (178 - 140) // 2, (218 - 140) // 2
    ref = im.crop((left, top, left + 140, top + 140)).resize((32, 32), Image.BILINEAR)
    ref = torch.from_numpy(np.array(ref)).permute(2, 0, 1).float() / 255
    assert (x - ref).abs().max() <= 1.5 / 255
    # the crop is a real parameter: the border colour shows up without a crop
    wide = data.load_dataset("celeba", root=celeba_root, split="all", image_size=32, crop=None)[0][0]
    assert (wide[:, 0, 0] - x[:, 0, 0]).abs().max() > 0.05
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch[0].shape == (5, 3, 32, 32) and batch[1]["attr"].shape == (5, 40)


def test_celeba_missing_files_explain_where_to_put_them(tmp_path, celeba_root):
    with pytest.raises(FileNotFoundError) as e:
        data.load_dataset("celeba", root=tmp_path / "nowhere", split="all", image_size=32)
    msg = str(e.value)
    assert str(tmp_path / "nowhere" / "celeba" / "img_align_celeba") in msg
    assert "000001.jpg" in msg and "list_eval_partition.txt" in msg and "list_attr_celeba.txt" in msg
    assert "download=True" in msg and "Align&Cropped" in msg
    assert "--download" in msg and "--dataset synthfaces" in msg     # command-line terms too
    (celeba_root / "celeba" / "list_attr_celeba.txt").unlink()
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt"):
        data.CelebA(celeba_root, "all", 32)
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt"):
        data.build_celeba_cache(celeba_root, 32, progress=False)


def test_celeba_download_failure_explains_the_manual_route(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        assert kwargs.get("download") is True
        raise OSError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "CelebA", offline)
    with pytest.raises(RuntimeError, match="no route to host.*img_align_celeba"):
        data.load_dataset("celeba", root=tmp_path, split="all", image_size=32, download=True)


def test_celeba_corrupt_image_in_getitem_names_the_file(celeba_root):
    bad = celeba_root / "celeba" / "img_align_celeba" / "000003.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = data.load_dataset("celeba", root=celeba_root, split="all", image_size=32)
    ds[0]
    with pytest.raises(data.CorruptImageError, match="000003.jpg"):
        ds[2]
    assert issubclass(data.CorruptImageError, ValueError)
    (celeba_root / "celeba" / "img_align_celeba" / "000004.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="000004.jpg"):
        ds[3]


def test_celeba_cache_build_reuse_and_rebuild(celeba_root):
    npy = data.build_celeba_cache(celeba_root, 32, 140, progress=False)
    assert npy == celeba_root / "cache" / "celeba_32_crop140.npy"
    meta = json.loads(npy.with_suffix(".json").read_text())
    assert meta["image_size"] == 32 and meta["crop"] == 140 and meta["n_images"] == 10
    arr = np.load(npy)
    assert arr.dtype == np.uint8 and arr.shape == (10, 3, 32, 32)
    plain = data.load_dataset("celeba", root=celeba_root, split="all", image_size=32)
    assert np.array_equal(arr, data.to_uint8_tensor(plain).numpy())
    # reuse: same settings -> the file is not rewritten
    stamp = npy.stat().st_mtime_ns
    time.sleep(0.01)
    assert data.build_celeba_cache(celeba_root, 32, 140, progress=False) == npy
    assert npy.stat().st_mtime_ns == stamp
    # rebuild when the sidecar does not match (e.g. an older format), or on force
    meta["format"] = -1
    npy.with_suffix(".json").write_text(json.dumps(meta))
    data.build_celeba_cache(celeba_root, 32, 140, progress=False)
    assert npy.stat().st_mtime_ns != stamp
    assert json.loads(npy.with_suffix(".json").read_text())["format"] == data.CELEBA_CACHE_FORMAT
    # other settings live in another file
    other = data.build_celeba_cache(celeba_root, 32, None, progress=False)
    assert other.name == "celeba_32_cropnone.npy" and not np.array_equal(np.load(other), arr)
    # the cached data set gives the same items, and to_uint8_tensor reads the cache
    cached = data.load_dataset("celeba", root=celeba_root, split="thesis_test", image_size=32,
                               cache=True, progress=False)
    ref = data.load_dataset("celeba", root=celeba_root, split="thesis_test", image_size=32)
    assert cached._cache is not None
    assert torch.equal(cached[1][0], ref[1][0]) and torch.equal(cached[1][1]["attr"], ref[1][1]["attr"])
    (celeba_root / "celeba" / "img_align_celeba" / "000001.jpg").unlink()  # cache only now
    assert torch.equal(data.to_uint8_tensor(cached), torch.from_numpy(arr[cached.indices]))


def test_celeba_cache_collects_all_corrupt_images_and_writes_nothing(celeba_root):
    folder = celeba_root / "celeba" / "img_align_celeba"
    (folder / "000002.jpg").write_bytes(b"garbage")
    (folder / "000007.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(data.CorruptImageError) as e:
        data.build_celeba_cache(celeba_root, 32, 140, progress=False)
    msg = str(e.value)
    assert "000002.jpg" in msg and "000007.jpg" in msg and "2 corrupt" in msg
    assert not (celeba_root / "cache" / "celeba_32_crop140.npy").exists()
    assert not (celeba_root / "cache" / "celeba_32_crop140.json").exists()
    assert list((celeba_root / "cache").iterdir()) == []  # no temporary file left behind
    with pytest.raises(data.CorruptImageError):
        data.load_dataset("celeba", root=celeba_root, split="all", image_size=32, cache=True,
                          progress=False)
    # only missing files: a FileNotFoundError listing them
    _jpeg(folder / "000002.jpg", 1)
    _jpeg(folder / "000007.jpg", 6)
    (folder / "000009.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="000009.jpg"):
        data.build_celeba_cache(celeba_root, 32, 140, progress=False)


def test_thesis_splits_name_the_random_80_20_split_of_every_data_set():
    assert data.thesis_splits("celeba") == ("thesis_train", "thesis_test")
    assert data.thesis_splits("synthfaces") == ("train", "test")
    # for synthfaces the plain names are the thesis split itself
    a = data.load_dataset("synthfaces", split="train", image_size=32, n=50)
    b = data.load_dataset("synthfaces", split="thesis_train", image_size=32, n=50)
    assert len(a) == len(b) and torch.equal(a[3][0], b[3][0])
    with pytest.raises(ValueError, match="synthfaces"):
        data.thesis_splits("mnist")
