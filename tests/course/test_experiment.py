"""The notebook pipeline (waelib.course.experiment) and profile path resolution."""
from pathlib import Path

import pytest
import torch

from waelib import expost, metrics
from waelib.course import experiment, profiles
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)


def smoke(tmp_path, **kw):
    return profiles.resolve_params("smoke", {"out_dir": str(tmp_path / "runs"), **kw})


def test_load_data_sizes_and_disjoint_halves(tmp_path):
    params = smoke(tmp_path, n_train=40, n_test=10)
    data = experiment.load_data(params)
    assert len(data.train) == 40 and data.test.shape == (10, 3, 32, 32)
    assert data.test.dtype == torch.uint8
    assert len(data.reference_images) + len(data.eval_images) == 10
    # train and held-out images are different images
    train0 = (data.train[0][0] * 255).round().to(torch.uint8)
    assert not any(torch.equal(train0, t) for t in data.test)


def test_feature_extractor_auto_falls_back_to_the_offline_classifier(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "inception_weights_path", lambda *a, **k: tmp_path / "absent.pth")
    ext = experiment.feature_extractor(smoke(tmp_path))
    assert ext.name == "synthfaces_classifier"
    with pytest.raises(ValueError, match="valid choices: auto, inception"):
        experiment.feature_extractor(smoke(tmp_path, fid_features="vgg"))


def test_missing_runs_name_the_producing_notebook(tmp_path):
    params = smoke(tmp_path)
    miss = experiment.missing_runs(params)
    assert miss["vae"] == "notebooks/03_vae.ipynb" and miss["wae_resnet"] == "notebooks/04_wae_resnet.ipynb"
    assert experiment.collect_evaluations(params) == {}
    with pytest.raises(FileNotFoundError, match="04_wae_resnet.ipynb"):
        experiment.load_trained(params, "wae_gan")


def test_train_evaluate_and_reload(tmp_path):
    params = smoke(tmp_path, n_train=32, n_test=16)
    data = experiment.load_data(params)
    run = experiment.train_model("wae_mmd", data, params, progress=False)
    assert run.step == params.steps and (experiment.run_dir(params, "wae_mmd") / "checkpoint.pt").is_file()
    ext = metrics.ClassifierFeatures(metrics.AttributeCNN(n_attr=2, feature_dim=8), name="tiny")
    ref = experiment.reference_stats(data, ext)
    ev = experiment.evaluate_run(run.model, data, params, extractor=ext, reference=ref)
    assert experiment.collect_evaluations(params)["wae_mmd"]["result"]["samples"]["n"] == ev["samples"]["n"]
    back = experiment.load_trained(params, "wae_mmd")
    for (k, a), b in zip(run.model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a.cpu(), b), k
    # A second call resumes the finished run instead of training again.
    again = experiment.train_model("wae_mmd", data, params, progress=False)
    assert again.step == run.step


@pytest.mark.parametrize("cwd", ["root", "notebooks", "elsewhere"])
def test_profile_paths_do_not_depend_on_the_working_directory(cwd, tmp_path, monkeypatch):
    monkeypatch.chdir({"root": ROOT, "notebooks": ROOT / "notebooks", "elsewhere": tmp_path}[cwd])
    params = profiles.resolve_params("default", {})
    assert Path(params.figures_dir) == (ROOT / "runs" / "default" / "figures").resolve()   # scratch by default
    assert Path(params.data_root) == (ROOT / "data").resolve()
    assert Path(params.out_dir) == (ROOT / "runs" / "default").resolve()
    abs_dir = str(tmp_path / "x")
    assert profiles.resolve_params("default", {"out_dir": abs_dir}).out_dir == abs_dir


def test_figures_readme_from_run_records(tmp_path):
    params = smoke(tmp_path, n_train=32, n_test=16)
    data = experiment.load_data(params)
    run = experiment.train_model("wae_gan", data, params, progress=False)
    ext = metrics.ClassifierFeatures(metrics.AttributeCNN(n_attr=2, feature_dim=8), name="tiny")
    experiment.evaluate_run(run.model, data, params, extractor=ext, reference=experiment.reference_stats(data, ext))
    records = experiment.run_records(params)
    assert list(records) == ["wae_gan"] and records["wae_gan"]["train"]["total_steps"] == params.steps
    from waelib.utils import run_metadata
    text = experiment.figures_readme(params, records, data, run_metadata())
    row = next(line for line in text.splitlines() if line.startswith("| WAE |"))
    assert f"| {params.steps} |" in row and records["wae_gan"]["train"]["metadata"]["date_utc"] in row
    assert "FCD with `tiny`" in text and "fig3_1_encoder" in text


# --------------------------------------------------------------------------------------
# The shared notebook steps: prepare, train_and_evaluate, baseline rows, small helpers
# --------------------------------------------------------------------------------------
def _fake_eval(fid_samples, fid_recon=1.0, sharpness=2.0):
    return {"samples": {"fid": {"value": fid_samples, "metric": "FCD"}, "sharpness": sharpness},
            "reconstructions": {"fid": {"value": fid_recon, "metric": "FCD"}}}


def _fake_results(pairs):
    """ExperimentResults with {model: (trained FID, untrained FID)} and no real runs."""
    return experiment.ExperimentResults(runs={}, evaluations={m: _fake_eval(t) for m, (t, _) in pairs.items()},
                               baselines={m: _fake_eval(u) for m, (_, u) in pairs.items()},
                               extractor=None, reference=None)


def test_baseline_rows_and_check():
    results = _fake_results({"wae_gan": (10.0, 40.0), "wae_resnet": (30.0, 40.0)})
    rows = experiment.baseline_rows(results)
    assert [r["model"] for r in rows] == ["WAE", "WAE-ResNet"]
    assert list(rows[0]) == ["model", "samples", "untrained samples", "trained / untrained",
                             "reconstructions", "sharpness (samples)"]
    assert rows[0]["trained / untrained"] == pytest.approx(0.25)
    assert rows[1]["trained / untrained"] == pytest.approx(0.75)
    assert [r["model"] for r in experiment.baseline_rows(results, ["wae_resnet"])] == ["WAE-ResNet"]
    # WAE-ResNet (0.75) does not beat the untrained model by the required margin
    with pytest.raises(AssertionError, match=r"WAE-ResNet \(0\.75\)") as err:
        experiment.check_beats_baseline(rows, max_ratio=0.7)
    assert "WAE (" not in str(err.value)
    assert "far closer" in experiment.check_beats_baseline(rows, max_ratio=0.8)
    assert "skipped" in experiment.check_beats_baseline(rows, max_ratio=0.7, enforce=False)


def test_markdown_rows():
    text = experiment.markdown_rows([{"model": "WAE", "FCD": 1.234567, "n": 3}, {"model": "VAE", "FCD": None, "n": 4}])
    assert text.splitlines() == ["| model | FCD | n |", "|---|---|---|", "| WAE | 1.235 | 3 |", "| VAE |  | 4 |"]
    assert experiment.markdown_rows([]) == ""


def test_parameter_rows():
    from waelib.models import count_parameters
    from waelib.registry import build_model
    rows = experiment.parameter_rows(["wae_mmd"], image_size=32, width=0.125)
    assert list(rows[0]) == ["model", "thesis size (M)", "this run (M)"]
    assert rows[0]["model"] == "WAE-MMD"
    small = count_parameters(build_model("wae_mmd", image_size=32, width=0.125))
    assert rows[0]["this run (M)"] == pytest.approx(small / 1e6)
    assert rows[0]["thesis size (M)"] > 10 * rows[0]["this run (M)"]


def test_latent_codes_match_encode_in_batches():
    from waelib.registry import build_model
    model = build_model("wae_gan", image_size=32, width=0.125).eval()
    images = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8)
    codes = expost.latent_codes(model, images, batch_size=3)
    assert codes.shape == (7, model.latent_dim) and codes.device.type == "cpu"
    with torch.no_grad():   # batches of 3 vs one of 7: fp32 rounding of the convolutions, ~1e-6
        assert torch.allclose(codes, model.encode(images.float() / 255), atol=1e-5)


def test_prepare_loads_the_data_and_reports(tmp_path, capsys):
    params = smoke(tmp_path, n_train=24, n_test=8)
    data = experiment.prepare(params)
    out = capsys.readouterr().out
    assert "device: cpu" in out or "device: cuda" in out
    assert f"{data.name}: {len(data.train)} training images, {len(data.test)} held-out images, 32x32 px" in out
    again = experiment.prepare(params, verbose=False)
    assert torch.equal(again.test, data.test) and capsys.readouterr().out == ""


def test_train_and_evaluate(tmp_path, capsys):
    params = smoke(tmp_path, n_train=32, n_test=16, n_samples=4, n_recon=4)
    data = experiment.load_data(params)
    ext = metrics.ClassifierFeatures(metrics.AttributeCNN(n_attr=2, feature_dim=8), name="tiny")
    results = experiment.train_and_evaluate(data, params, models=["wae_mmd"], extractor=ext, progress=False)
    out = capsys.readouterr().out
    assert "FID features: tiny (FCD" in out and "--- WAE-MMD (wae_mmd) ---" in out
    assert f"{params.steps} steps in " in out
    assert list(results.runs) == list(results.evaluations) == list(results.baselines) == ["wae_mmd"]
    assert results.extractor is ext and results.reference.n == len(data.reference_images)
    assert results.models["wae_mmd"] is results.runs["wae_mmd"].model
    assert len(results.histories["wae_mmd"]) == params.steps
    # the evaluation is saved beside the run (what notebook 05 reads), the baseline is not
    saved = experiment.collect_evaluations(params)["wae_mmd"]["result"]
    assert saved["samples"]["fid"]["value"] == pytest.approx(results.evaluations["wae_mmd"]["samples"]["fid"]["value"])
    assert results.baselines["wae_mmd"]["samples"]["fid"]["value"] > 0
    rows = experiment.baseline_rows(results)
    assert rows[0]["trained / untrained"] == pytest.approx(
        results.evaluations["wae_mmd"]["samples"]["fid"]["value"]
        / results.baselines["wae_mmd"]["samples"]["fid"]["value"])
    with pytest.raises(ValueError, match="vqvae"):
        experiment.train_and_evaluate(data, params, models=["vqvae"], extractor=ext)


def test_reusing_a_run_with_other_settings_names_the_way_out(tmp_path, capsys):
    """Issue #11 item 10: a changed width, or fewer steps than the saved run, is refused with
    retrain=True / another out_dir named; a first run prints no "resume requested" noise."""
    params = smoke(tmp_path, n_train=32, n_test=16, steps=4)
    data = experiment.load_data(params)
    experiment.train_model("wae_mmd", data, params, progress=False)
    assert "resume requested" not in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"width=0\.0625 there, 0\.125 now.*retrain=True.*out_dir"):
        experiment.train_model("wae_mmd", data, smoke(tmp_path, n_train=32, n_test=16, steps=4, width=0.125))
    with pytest.raises(ValueError, match="steps=4 there, 2 now"):
        experiment.train_model("wae_mmd", data, smoke(tmp_path, n_train=32, n_test=16, steps=2))
    run = experiment.train_model("wae_mmd", data, smoke(tmp_path, n_train=32, n_test=16, steps=2),
                        retrain=True, progress=False)
    assert run.step == 2


def test_synthfaces_size_gives_both_split_sizes():
    from waelib.data import thesis_n_train
    for n_train, n_test in [(16384, 8192), (8192, 4096), (32, 64), (40, 10)]:
        n = experiment.synthfaces_size(n_train, n_test)
        assert thesis_n_train(n) >= n_train and n - thesis_n_train(n) >= n_test


def test_one_n_for_every_frechet_distance(tmp_path):
    params = smoke(tmp_path, n_train=32, n_test=16)
    data = experiment.load_data(params)
    assert experiment.fid_sample_count(params, data) == min(params.n_fid, len(data.eval_images))


def test_auto_features_stay_fcd_when_too_few_images_for_inception(tmp_path, monkeypatch):
    """With the Inception weights present but n_fid below its 2048 feature dimensions, "auto"
    keeps the 128-d classifier: a table must not silently turn into sample-size bias."""
    weights = tmp_path / "pt_inception.pth"
    weights.write_bytes(b"present")
    monkeypatch.setattr(metrics, "inception_weights_path", lambda *a, **k: weights)
    assert experiment.feature_extractor(smoke(tmp_path, n_fid=1024)).name == "synthfaces_classifier"
    loaded = []
    monkeypatch.setattr(metrics, "load_feature_extractor", lambda name, **k: loaded.append(name) or name)
    assert experiment.feature_extractor(smoke(tmp_path, n_fid=4096)) == "inception" and loaded == ["inception"]
