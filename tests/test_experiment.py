"""The notebook pipeline (waelib.experiment) and profile path resolution."""
import os
from pathlib import Path

import pytest
import torch

from waelib import experiment as X
from waelib import metrics as M
from waelib import profiles

ROOT = Path(__file__).resolve().parent.parent


def smoke(tmp_path, **kw):
    return profiles.resolve_params("smoke", {"out_dir": str(tmp_path / "runs"), **kw})


def test_load_data_sizes_and_disjoint_halves(tmp_path):
    P = smoke(tmp_path, n_train=40, n_test=10)
    data = X.load_data(P)
    assert len(data.train) == 40 and data.test.shape == (10, 3, 32, 32)
    assert data.test.dtype == torch.uint8
    assert len(data.reference_images) + len(data.eval_images) == 10
    # train and held-out images are different images
    train0 = (data.train[0][0] * 255).round().to(torch.uint8)
    assert not any(torch.equal(train0, t) for t in data.test)


def test_feature_extractor_auto_falls_back_to_the_offline_classifier(tmp_path, monkeypatch):
    monkeypatch.setattr(M, "inception_weights_path", lambda *a, **k: tmp_path / "absent.pth")
    ext = X.feature_extractor(smoke(tmp_path))
    assert ext.name == "synthfaces_classifier"
    with pytest.raises(ValueError, match="choose one of"):
        X.feature_extractor(smoke(tmp_path, fid_features="vgg"))


def test_missing_runs_name_the_producing_notebook(tmp_path):
    P = smoke(tmp_path)
    miss = X.missing_runs(P)
    assert miss["vae"] == "notebooks/03_vae.ipynb" and miss["wae_resnet"] == "notebooks/04_wae_resnet.ipynb"
    assert X.collect_evaluations(P) == {}
    with pytest.raises(FileNotFoundError, match="04_wae_resnet.ipynb"):
        X.load_trained(P, "wae_gan")


def test_train_evaluate_and_reload(tmp_path):
    P = smoke(tmp_path, n_train=32, n_test=16)
    data = X.load_data(P)
    run = X.train_model("wae_mmd", data, P, progress=False)
    assert run.step == P.steps and (X.run_dir(P, "wae_mmd") / "checkpoint.pt").is_file()
    ext = M.ClassifierFeatures(M.AttributeCNN(n_attr=2, feature_dim=8), name="tiny")
    ref = X.reference_stats(data, ext)
    ev = X.evaluate_run(run.model, data, P, extractor=ext, reference=ref)
    assert X.collect_evaluations(P)["wae_mmd"]["result"]["samples"]["n"] == ev["samples"]["n"]
    back = X.load_trained(P, "wae_mmd")
    for (k, a), b in zip(run.model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a.cpu(), b), k
    # A second call resumes the finished run instead of training again.
    again = X.train_model("wae_mmd", data, P, progress=False)
    assert again.step == run.step


@pytest.mark.parametrize("cwd", ["root", "notebooks", "elsewhere"])
def test_profile_paths_do_not_depend_on_the_working_directory(cwd, tmp_path, monkeypatch):
    monkeypatch.chdir({"root": ROOT, "notebooks": ROOT / "notebooks", "elsewhere": tmp_path}[cwd])
    P = profiles.resolve_params("default", {})
    assert Path(P.figures_dir) == (ROOT / "figures").resolve()
    assert Path(P.data_root) == (ROOT / "data").resolve()
    assert Path(P.out_dir) == (ROOT / "runs" / "default").resolve()
    abs_dir = str(tmp_path / "x")
    assert profiles.resolve_params("default", {"out_dir": abs_dir}).out_dir == abs_dir


def test_figures_readme_from_run_records(tmp_path):
    P = smoke(tmp_path, n_train=32, n_test=16)
    data = X.load_data(P)
    run = X.train_model("wae_gan", data, P, progress=False)
    ext = M.ClassifierFeatures(M.AttributeCNN(n_attr=2, feature_dim=8), name="tiny")
    X.evaluate_run(run.model, data, P, extractor=ext, reference=X.reference_stats(data, ext))
    records = X.run_records(P)
    assert list(records) == ["wae_gan"] and records["wae_gan"]["train"]["total_steps"] == P.steps
    from waelib.utils import run_metadata
    text = X.figures_readme(P, records, data, run_metadata())
    row = next(l for l in text.splitlines() if l.startswith("| WAE |"))
    assert f"| {P.steps} |" in row and records["wae_gan"]["train"]["metadata"]["date_utc"] in row
    assert "FCD with `tiny`" in text and "fig3_1_encoder" in text
