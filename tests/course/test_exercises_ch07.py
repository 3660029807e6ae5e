"""The checks of notebook 07's exercises: each passes the right answer, computed another way
(scikit-learn, the library's own functions, torch), and fails the usual wrong ones, chosen well
outside each check's documented tolerance."""
from __future__ import annotations

import json
import math

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from waelib.course.exercises import ch07
from waelib.objectives.vae_vamp import vamp_log_prior
from waelib.studies.landscape_eval import memorisation


def test_log_ratio_fitted_by_logistic_regression_passes():
    z, y = ch07.ratio_samples()
    fit = LogisticRegression(C=1e6).fit(z, y)
    assert ch07.check_log_ratio(fit.coef_[0, 0], fit.intercept_[0])
    assert not ch07.check_log_ratio(0.5, -0.5)           # a halved slope
    assert not ch07.check_log_ratio(1.0, 0.0)            # the -m^2/2 forgotten


def test_vamp_log_prior_matches_the_library():
    e = ch07.VAMP_EXERCISE
    mu = torch.tensor(e["means"], dtype=torch.float64)[:, None]
    logvar = torch.tensor(e["variances"], dtype=torch.float64).log()[:, None]
    library = vamp_log_prior(torch.tensor([[e["z"]]], dtype=torch.float64), mu, logvar)
    assert ch07.check_vamp_log_prior(float(library.reshape(-1)[0]))
    # the mean of the two log-densities (log inside the average) is a usual slip
    wrong = np.mean([-0.5 * (math.log(2 * math.pi * v) + (e["z"] - m) ** 2 / v)
                     for m, v in zip(e["means"], e["variances"])])
    assert not ch07.check_vamp_log_prior(wrong)


def test_gmm_gain_reads_the_eval_files(tmp_path):
    for seed, (prior, gmm) in enumerate(((50.0, 30.0), (40.0, 35.0))):
        d = tmp_path / "primary" / "rae" / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({"status": "done"}))
        (d / "eval.json").write_text(json.dumps({"result": {"samples": {"fid": {"value": prior}},
                                                             "samples_gmm": {"fid": {"value": gmm}}}}))
    assert ch07.gmm_gain_by_seed(tmp_path) == {0: -20.0, 1: -5.0}
    assert ch07.check_gmm_gain(-12.5, tmp_path)
    assert not ch07.check_gmm_gain(12.5, tmp_path)       # the sign: prior minus GMM
    assert not ch07.check_gmm_gain(-12.5, tmp_path / "none")


def test_memorisation_check_agrees_with_the_study_measure():
    sets = ch07.memorisation_sets()
    m = memorisation(sets["samples"], sets["test"], sets["train"])
    assert ch07.check_memorisation(m["median_difference"])
    assert m["median_difference"] < 0                     # half the samples are near-copies
    assert not ch07.check_memorisation(-m["median_difference"])
