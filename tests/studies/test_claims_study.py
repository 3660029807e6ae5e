"""The claims-study runner (waelib.studies.claims_study): plan, resumable runs, rendering, and the check that
the committed study tables and figures are what results/claims/ renders to."""
import json
from pathlib import Path

import numpy as np
import pytest

from waelib.studies import claims_design, claims_render, claims_study
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)

TINY = dict(dataset="synthfaces", image_size=32, width=0.0625, batch_size=8, steps=2, epochs=None,
            n_train=32, n_test=64, n_fid=16, n_interp=4, interp_steps=4, default_seeds=range(2),
            seeds={"wae_gan": range(3)}, device="cpu", data_root="data",
            fid_features="synthfaces_classifier")


def test_plan_follows_the_preregistered_design():
    runs = claims_design.plan(["primary"])
    count = {m: sum(1 for _, mm, _ in runs if mm == m) for m in claims_design.MODEL_ORDER}
    assert count == {"wae_gan": 5, "wae_resnet": 5, "vae": 3, "vae_resnet": 3, "wae_mmd": 3}
    assert runs[:2] == [("primary", "wae_gan", 0), ("primary", "wae_resnet", 0)]  # pairs first
    assert len(claims_design.plan(["second"])) == 15
    assert claims_design.SCALES["primary"]["image_size"] == 64 and claims_design.SCALES["second"]["image_size"] == 32


@pytest.mark.slow
def test_runs_write_small_results_resume_and_render(tmp_path, monkeypatch):
    monkeypatch.setitem(claims_design.SCALES, "tiny", TINY)
    res, work, figs = tmp_path / "results", tmp_path / "work", tmp_path / "figures"
    done = claims_study.run_study(["tiny"], models=("wae_gan", "wae_resnet"), results=res, work=work,
                           figures_dir=figs)
    assert [r["status"] for r in done] == ["done"] * 5
    run = res / "tiny" / "wae_gan" / "seed0"
    assert {p.name for p in run.iterdir()} == {"config.json", "log.jsonl", "eval.json", "run.json",
                                               "images.npz"}
    assert not list(res.rglob("*.pt"))                        # never a checkpoint in results/
    ev = json.loads((run / "eval.json").read_text())["result"]
    assert ev["n_fid"] == 16 and ev["samples"]["fid"]["n_fake"] == 16
    real = json.loads((res / "tiny" / "real.json").read_text())["result"]
    assert real["fid"]["n_fake"] == 16
    rec = json.loads((run / "run.json").read_text())
    assert rec["train_seconds"] > 0 and "hardware" in rec["metadata"]
    # Finished runs are skipped: a second call makes none.
    assert claims_study.run_study(["tiny"], models=("wae_gan", "wae_resnet"), results=res, work=work) == []
    rows = {r["claim"]: r for r in claims_render.claims_rows(res, scales=["tiny"])}
    assert rows["C1"]["n_seeds"] == 2 and rows["C1"]["verdict"] in (
        "supported", "contradicted", "inconclusive at this scale")
    names = {p.name for p in figs.iterdir()}
    assert {"claims.csv", "claims.md", "claims.json", "claims_forest.png"} <= names


def _png_pixels(path: Path) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_committed_study_outputs_are_what_the_results_render_to(tmp_path):
    """CI renders the figures: re-render every study table and figure from results/claims/
    (no training) and compare with the committed files (tables byte for byte, figures pixel
    for pixel within a small tolerance for font rasterisation)."""
    results = ROOT / "results" / "claims"
    written = claims_render.render(results, tmp_path) + claims_render.render_sensitivity(
        ROOT / "results" / "lambda_sensitivity", tmp_path)
    committed = sorted(p.name for p in (ROOT / "figures").glob("claims*")) + sorted(
        p.name for p in (ROOT / "figures").glob("lambda_sensitivity*"))
    assert sorted(p.name for p in written) == committed, (
        "the committed figures/claims* differ from what results/claims renders to; run "
        "`python -m waelib.studies.claims_study --render` and commit the result")
    for path in written:
        ref = ROOT / "figures" / path.name
        if path.suffix in (".csv", ".md"):
            assert path.read_text() == ref.read_text(), \
                f"{ref} is stale: run `python -m waelib.studies.claims_study --render`"
        elif path.suffix == ".json":
            a, b = json.loads(path.read_text()), json.loads(ref.read_text())
            assert a["rows"] == b["rows"], f"{ref} is stale"
        elif path.suffix == ".png":
            a, b = _png_pixels(path), _png_pixels(ref)
            assert a.shape == b.shape and np.abs(a - b).mean() < 2.0, f"{ref} is stale"
