"""Notebook 06's runner and renderer (issue 10): the plan, resumability, the statistics of
the rendered tables against scipy, the answers' logic, and the committed tables re-render
from the committed results."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from waelib import config
from waelib.studies import beyond, beyond_render
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)


def test_default_plan_covers_both_parts_with_paired_seeds():
    runs = beyond.plan("default")
    params = beyond.PROFILES["default"]
    models = [r for r in runs if r.part == "models"]
    latent = [r for r in runs if r.part == "latent"]
    assert len(models) == len(params["models"]) * len(params["seeds"])
    assert len(latent) == (len(params["latent_seeds"]) * len(params["latent_datasets"])
                           * (len(params["latent_sizes"]) + 1))
    assert len({r.key for r in runs}) == len(runs)
    assert {r.model for r in latent} == {"wae_gan", "mask_aae"}
    assert all(r.latent_dim == params["mask_latent"] for r in latent if r.model == "mask_aae")
    assert params["mask_latent"] == max(params["latent_sizes"])
    # seed-major: every model of seed 0 comes before any run of seed 1
    assert [r.seed for r in models] == sorted(r.seed for r in models)
    with pytest.raises(ValueError, match="smoke, default, thesis, colab"):
        beyond.plan("huge")


def _fake_run(root: Path, key: str, ev: dict):
    d = root / key
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"status": "done", "train_seconds": 1.0,
                                            "metadata": {"date_utc": "2026-01-01", "hardware": {"cpu_count": 2}}}))
    (d / "eval.json").write_text(json.dumps({"result": ev}))


def _ev(sample, gmm, m_active=8, nac=0.1, rec=10.0):
    return {"samples": {"fid": {"value": sample}, "ms_ssim_diversity": 0.3},
            "samples_gmm": {"fid": {"value": gmm}, "ms_ssim_diversity": 0.3},
            "reconstructions": {"fid": {"value": rec}, "rmse": 12.0},
            "reconstructions_train": {"rmse": 11.0},
            "interpolations": {"fid": {"value": 20.0}},
            "latent": {"m_active": m_active, "nac": nac},
            "real": {"fid": {"value": 2.0}}}


def test_rendered_statistics_match_scipy_and_the_answers_follow_the_numbers(tmp_path):
    out = tmp_path / "o"
    root = beyond.results_root("smoke", out)
    prior = {0: 50.0, 1: 54.0, 2: 49.0}
    gmm = {0: 45.0, 1: 47.0, 2: 46.5}
    for s in prior:
        _fake_run(root, f"synthfaces/wae_gan/seed{s}", _ev(prior[s], gmm[s]))
    # latent sizes 4 and 8 on n = 8: m = 8 clearly best; MaskAAE keeps 9 and 7 gates
    for s, (a, b) in enumerate(((90.0, 30.0), (95.0, 31.0))):
        _fake_run(root, f"synthfaces_n8/wae_gan_m4/seed{s}", _ev(a, a))
        _fake_run(root, f"synthfaces_n8/wae_gan_m8/seed{s}", _ev(b, b))
        _fake_run(root, f"synthfaces_n8/mask_aae_m8/seed{s}", _ev(40.0, 40.0, m_active=9 - 2 * s))
    res = beyond_render.render("smoke", out_dir=out, figures_dir=tmp_path / "figs")
    row = next(r for r in res["tables"]["beyond_samplers"] if r["model"] == "WAE")
    d = np.array([gmm[s] - prior[s] for s in prior])
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert row["gmm_minus_prior"] == pytest.approx(d.mean())
    assert (row["diff_lo"], row["diff_hi"]) == pytest.approx((d.mean() - half, d.mean() + half))
    p = np.array(list(prior.values()))
    assert row["prior_fcd_ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * p.std(ddof=1) / np.sqrt(3))
    assert row["seed004_celeba_gen_fid"] == config.SEED004_TABLE3["wae_gan"][1]
    assert res["tables"]["beyond_samplers"][-1]["model"] == "real test images"
    (line,) = res["answers"]
    assert "lowest at m = 8" in line and "[9, 7]" in line
    mrow = next(r for r in res["tables"]["beyond_models"] if r["model"] == "WAE")
    assert mrow["seed003_rmse_test"] == config.SEED003_RMSE["wae_gan"][1]
    for name in ("beyond_models", "beyond_samplers", "beyond_latent", "beyond_nac"):
        for ext in ("md", "csv", "json"):
            assert (tmp_path / "figs" / f"{name}.{ext}").is_file()
    meta = json.loads((tmp_path / "figs" / "beyond_latent.json").read_text())["meta"]
    assert meta["n_runs"] == 9 and meta["hardware"] == ["cpu_count=2"]


def test_runner_skips_finished_runs(tmp_path):
    first = beyond.run_all("smoke", out_dir=tmp_path, limit=1, render_after=False)
    assert len(first) == 1 and first[0]["status"] == "done"
    key = beyond.plan("smoke")[0].key
    res = beyond.results_root("smoke", tmp_path) / key
    assert {"config.json", "log.jsonl", "eval.json", "run.json", "images.npz",
            "images_gmm.npz"} <= {p.name for p in res.iterdir()}
    ev = json.loads((res / "eval.json").read_text())["result"]
    n = beyond.PROFILES["smoke"]["n_fid"]
    # one n for every Fréchet distance of the run, the real row included
    assert {ev[k]["fid"]["n_fake"] for k in ("samples", "samples_gmm", "reconstructions")} == {n}
    assert ev["real"]["n_fid"] == n and ev["gmm"]["n_components"] == beyond.PROFILES["smoke"]["gmm_components"]
    before = (res / "run.json").read_text()
    second = beyond.run_all("smoke", out_dir=tmp_path, limit=1, render_after=False)
    assert second[0] != first[0] and (res / "run.json").read_text() == before


@pytest.mark.skipif(not (ROOT / "results" / "beyond" / "default").is_dir(),
                    reason="no committed notebook-06 results yet")
def test_committed_beyond_tables_rerender_from_the_committed_results(tmp_path):
    beyond_render.render("default", figures_dir=tmp_path)
    for name in ("beyond_models", "beyond_samplers", "beyond_latent", "beyond_nac"):
        for ext in ("md", "csv"):
            committed = ROOT / "figures" / f"{name}.{ext}"
            assert committed.is_file(), f"figures/{name}.{ext} missing: run `make beyond`"
            assert (tmp_path / f"{name}.{ext}").read_text() == committed.read_text(), \
                f"figures/{name}.{ext} is stale: run `python -m waelib.studies.beyond --render`"
