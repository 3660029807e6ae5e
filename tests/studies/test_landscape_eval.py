"""The landscape study's own measures (waelib.studies.landscape_eval) against brute force,
scikit-learn and hand-made cases."""
from __future__ import annotations

import math

import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from waelib.studies import landscape_eval as le


def _feats(n, d, seed):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_nearest_distances_and_indices_match_scikit_learn():
    q, r = _feats(37, 5, 0), _feats(50, 5, 1)
    nn = NearestNeighbors(n_neighbors=4).fit(r.double().numpy())
    dist, idx = nn.kneighbors(q.double().numpy())
    # float64 on both sides; cdist and scikit-learn's ball tree agree to ~1e-12 on distances of order 1
    assert torch.allclose(le.nearest_distances(q, r, chunk=8), torch.from_numpy(dist[:, 0]), atol=1e-9)
    assert torch.equal(le.nearest_indices(q, r, k=4), torch.from_numpy(idx))


def test_memorisation_sees_copied_training_images():
    train, test = _feats(200, 4, 2), _feats(100, 4, 3)
    copied = le.memorisation(train[:100], test, train)        # "samples" that are training images
    assert copied["median_sample_to_train"] == 0.0
    assert copied["median_difference"] < 0
    fresh = le.memorisation(_feats(100, 4, 4), test, train)   # new draws of the same distribution
    # two samples of 100 from one distribution: medians differ by a sampling error well under
    # the typical nearest distance (~0.5 here), while copies sit at exactly 0
    assert abs(fresh["median_difference"]) < 0.5 * fresh["median_test_to_train"]


def test_attribute_direction_is_the_difference_of_group_means():
    codes = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 1.0], [2.0, -1.0]])
    has = torch.tensor([True, True, False, False])
    assert torch.equal(le.attribute_direction(codes, has), torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="with and without"):
        le.attribute_direction(codes, torch.ones(4, dtype=torch.bool))


class _Linear(torch.nn.Module):
    """decode(z) = z broadcast to a (1, 1, d) 'image' (so the path's images are its codes)."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def decode(self, z):
        return z[:, None, None, :]


def test_attribute_paths_walk_from_the_code_to_code_plus_direction():
    codes, v = torch.tensor([[0.0, 1.0]]), torch.tensor([1.0, -1.0])
    paths = le.attribute_paths(_Linear(), codes, v, steps=3)
    assert paths.shape == (1, 3, 1, 1, 2)
    assert torch.allclose(paths[0, :, 0, 0], torch.tensor([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]))


def test_attribute_effects_by_hand():
    # 2 paths, 3 steps, 3 attributes; the target (0) rises by 0.6 and 0.4, attribute 2 falls by 0.2
    probs = torch.tensor([[[0.1, 0.5, 0.5], [0.4, 0.5, 0.4], [0.7, 0.5, 0.3]],
                          [[0.2, 0.6, 0.5], [0.4, 0.6, 0.4], [0.6, 0.6, 0.3]]])
    e = le.attribute_effects(probs, 0)
    assert math.isclose(e["target_change"], 0.5, abs_tol=1e-7)   # float32 inputs: 1e-7 is their rounding
    assert math.isclose(e["other_max_change"], 0.2, abs_tol=1e-7) and e["other_max"] == 2
    assert math.isclose(e["target_start"], 0.15, abs_tol=1e-7) and math.isclose(e["target_end"], 0.65, abs_tol=1e-7)
