"""Atomic writes: a failed write leaves the old file intact and no temporary files behind."""
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
