"""Small shared helpers: atomic writes (a failed write leaves the old file intact and no
temporary files behind) and the one choice check."""
import json
import os

import pytest
import torch

from waelib import utils


def test_atomic_write_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "a" / "result.json"
    utils.atomic_write_json(path, {"x": 1})
    utils.atomic_write_json(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]
    assert path.stat().st_mode & 0o044, "atomic files get the usual (umask) permissions, not 0600"


def test_killed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    utils.atomic_torch_save({"step": 1}, path)
    with pytest.raises(RuntimeError):
        with utils.atomic_path(path) as tmp:
            tmp.write_bytes(b"half a checkpoi")
            raise RuntimeError("killed")
    assert torch.load(path)["step"] == 1
    assert os.listdir(tmp_path) == ["checkpoint.pt"]


def test_run_metadata_records_machine_versions_and_date():
    meta = utils.run_metadata()
    assert {"date_utc", "hardware", "versions", "git_commit"} <= set(meta)
    assert meta["hardware"]["cpu_count"] >= 1 and type(meta["versions"]["torch"]) is str


def test_resolve_device_rejects_missing_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="no CUDA device"):
        utils.resolve_device("cuda")
    assert utils.resolve_device("auto").type == "cpu"


def test_generated_outputs_do_not_make_the_code_dirty(tmp_path):
    import subprocess
    repo = tmp_path / "repo"
    (repo / "figures").mkdir(parents=True)
    (repo / "code.py").write_text("a = 1\n")
    (repo / "figures" / "t.json").write_text("{}\n")
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    run("init", "-q"); run("add", "."); run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    (repo / "figures" / "t.json").write_text('{"date": 1}\n')
    assert not utils.git_commit(repo).endswith("-dirty")
    (repo / "code.py").write_text("a = 2\n")
    assert utils.git_commit(repo).endswith("-dirty")


def test_display_path_is_relative_inside_the_repository(tmp_path):
    assert utils.display_path(utils.repo_root() / "runs" / "x") == "runs/x"
    assert utils.display_path(tmp_path) == str(tmp_path.resolve())


def test_check_choice_names_every_valid_choice():
    assert utils.check_choice("celeba", ("synthfaces", "celeba"), "data set") == "celeba"
    assert utils.check_choice(64, iter((32, 64, 128)), "image_size") == 64  # any iterable
    with pytest.raises(ValueError, match=r"^unknown digits split 'valid'; valid choices: train, "
                                         r"test, all$"):
        utils.check_choice("valid", ("train", "test", "all"), "digits split")


def test_repo_root_is_the_checkout_or_the_override_or_the_working_directory(tmp_path, monkeypatch):
    """The runners' default folders hang from the checkout; an installed package (no
    pyproject.toml beside waelib/) uses the working directory; $WAELIB_ROOT wins."""
    monkeypatch.delenv("WAELIB_ROOT", raising=False)
    assert (utils.repo_root() / "pyproject.toml").is_file() and (utils.repo_root() / "waelib").is_dir()
    site = tmp_path / "site-packages" / "waelib"
    site.mkdir(parents=True)
    monkeypatch.setattr(utils, "__file__", str(site / "utils.py"))
    monkeypatch.chdir(tmp_path)
    assert utils.repo_root() == tmp_path.resolve()
    monkeypatch.setenv("WAELIB_ROOT", str(tmp_path / "elsewhere"))
    assert utils.repo_root() == (tmp_path / "elsewhere").resolve()
