"""The landscape study (seed 004's comparison): its plan, a smoke run through the shared runner
with every measure, resuming, rendering, and the committed results re-rendered."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from waelib.registry import MODEL_NAMES
from waelib.studies import landscape, landscape_plan, landscape_render
from waelib.studies.landscape_claims import ORDERINGS, analyse_orderings

ROOT = Path(__file__).resolve().parents[2]


def test_plan_covers_every_arm_seed_and_scale():
    runs = landscape_plan.plan("default")
    keys = [r.key for r in runs]
    assert len(keys) == len(set(keys))
    n_arms, n_caps = len(landscape_plan.ARMS), len(landscape_plan.CAPACITY_ARMS)
    assert len(runs) == 2 * 3 * n_arms + 3 * n_caps      # two scales, three seeds, Table 5 at the first
    assert n_caps == 6
    for a in {**landscape_plan.ARMS, **landscape_plan.CAPACITY_ARMS}.values():
        assert a.model in MODEL_NAMES
    # every ordering names rows that exist
    for o in ORDERINGS:
        for _, a, b, _ in o.parts:
            assert a in landscape_plan.ROWS and b in landscape_plan.ROWS
    with pytest.raises(ValueError, match="landscape arm"):
        landscape_plan.plan("default", arms=("nope",))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("landscape")
    arms = ("rae", "flexae", "flexae_c1", "flexae_c6")
    recs = landscape.run_all("smoke", scales=("primary",), arms=arms, out_dir=out, jobs=1)
    recs += landscape.run_all("smoke", scales=("second",), arms=("rae",), out_dir=out, jobs=1)
    return out, recs


def test_smoke_run_measures_everything(smoke):
    out, recs = smoke
    assert len(recs) == 5 and all(r["status"] == "done" for r in recs)
    res = landscape_plan.load_results("smoke", out)
    ev = res["primary/rae/seed0"]["eval"]
    for sampler in ("prior", "gmm"):
        pr = ev["pr"][sampler]
        assert 0.0 <= pr["precision"] <= 1.0 and 0.0 <= pr["recall"] <= 1.0
        assert pr["memorisation"]["n_train"] == 256
    assert ev["samples_gmm"]["fid"]["value"] >= 0
    att = ev["attributes"]["attributes"]
    assert set(att) == set(landscape_plan.ATTRIBUTES)
    assert "attributes" not in res["second/rae/seed0"]["eval"]          # digits have no attributes
    run = res["primary/flexae_c1/seed0"]["run"]
    assert run["n_train"] == 256 and run["model_overrides"]              # Table 5: its capacity, its data
    d = out / "landscape_results" / "primary" / "rae" / "seed0"
    for name in ("images.npz", "images_gmm.npz", "neighbours.npz", "attributes.npz", "eval.json", "config.json"):
        assert (d / name).is_file(), name


def test_smoke_run_resumes_without_training(smoke):
    out, _ = smoke
    again = landscape.run_all("smoke", scales=("primary",), arms=("rae",), out_dir=out, jobs=1)
    assert again == []


def test_smoke_render_writes_the_tables(smoke):
    out, _ = smoke
    done = landscape_render.render("smoke", out_dir=out, figures_dir=out / "figures")
    for name in ("landscape_primary", "landscape_second", "landscape_orderings", "landscape_ordering_parts",
                 "landscape_table5", "landscape_attributes"):
        assert (out / "figures" / f"{name}.csv").is_file(), name
    assert (out / "figures" / "landscape_fcd_primary.png").is_file()
    rows = {r["key"]: r for r in done["main"]["primary"]}
    assert {"rae", "rae_gmm", "flexae"} <= set(rows) and "ae" not in rows and "ae_gmm" not in rows
    assert rows["rae_gmm"]["seed004_gen_CELEBA"] == 35.30               # the seed's Table 3, beside ours
    # one seed: nothing can be decided, and L10 compares c* with the ends of the sweep
    parts, ords = analyse_orderings(landscape_plan.load_results("smoke", out), "primary")
    assert all(o["verdict"] in ("inconclusive at this scale", "not testable") for o in ords)
    assert "L10" in {o["ordering"] for o in ords}


def test_readme_block_is_rewritten_between_its_markers(smoke, tmp_path):
    out, _ = smoke
    done = landscape_render.render("smoke", out_dir=out, figures_dir=out / "figures")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{landscape_render.README_START}\nold\n{landscape_render.README_END}\nrest\n")
    landscape_render.update_readme(done, readme)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    assert "| L1 |" in text and f"{done['provenance']['n_runs']} of {len(landscape_plan.plan('smoke'))} runs" in text
    (tmp_path / "other.md").write_text("no markers here\n")
    with pytest.raises(ValueError, match="no landscape-verdicts block"):
        landscape_render.update_readme(done, tmp_path / "other.md")


@pytest.mark.skipif(not (ROOT / "results" / "landscape").is_dir(), reason="no committed landscape results yet")
def test_committed_results_re_render_identically(tmp_path):
    done = landscape_render.render("default", figures_dir=tmp_path)
    block = landscape_render.readme_block(done)
    readme = (ROOT / "README.md").read_text()
    assert f"{landscape_render.README_START}\n{block}\n{landscape_render.README_END}" in readme, \
        "the README's landscape block is stale: run make landscape-render"
    for csv in sorted(tmp_path.glob("landscape_*.csv")):
        committed = ROOT / "figures" / csv.name
        assert committed.is_file(), f"{csv.name} is not committed: run make landscape-render"
        assert csv.read_text() == committed.read_text(), f"{csv.name} differs from figures/: re-render"
    meta = json.loads((ROOT / "figures" / "landscape_primary.json").read_text())["meta"]
    assert meta["n_runs"] >= 1
