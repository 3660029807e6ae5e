"""A damaged run folder gets one named error line and loses nothing (issue: portable and fast,
item 5), tried as a new user would with ``python -m waelib.train``: a truncated checkpoint, a
corrupt config.json, a resume that asks for fewer steps than were done, a missing config.json,
and a ``kill -9`` during training (the checkpoint left behind is valid and resumes)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from waelib.train import RunFolderError, TrainConfig, fit, load_run, main, read_log
from waelib.utils import repo_root

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)
SMALL = ["--image-size", "32", "--width", "0.0625", "--batch-size", "8", "--no-progress",
         "--device", "cpu"]


def _data_file(tmp_path: Path, n: int = 32) -> str:
    g = torch.Generator().manual_seed(0)
    path = tmp_path / "imgs.pt"
    torch.save(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8), path)
    return str(path)


def _trained(tmp_path: Path, steps: int = 3) -> Path:
    out = tmp_path / "run"
    assert main(["--model", "wae_mmd", "--dataset", _data_file(tmp_path), "--steps", str(steps),
                 "--out", str(out), *SMALL]) == 0
    return out


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file()}


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not ln.startswith("[waelib.train]")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_truncated_checkpoint_is_one_error_line_naming_the_file_and_nothing_changes(tmp_path, capsys):
    out = _trained(tmp_path)
    ckpt = out / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])     # a copy cut halfway
    before = _digest(out)
    capsys.readouterr()
    assert main(["--out", str(out), "--resume", "--steps", "5", "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(ckpt) in line and "damaged or truncated" in line and "mv " in line
    assert "PytorchStreamReader" not in line or "cannot be read" in line
    assert _digest(out) == before                                         # nothing was written
    with pytest.raises(RunFolderError, match="damaged or truncated"):
        load_run(out)                                                     # the Python side too


def test_corrupt_config_json_is_one_error_line_and_the_checkpoint_copy_is_the_way_out(tmp_path, capsys):
    out = _trained(tmp_path)
    cfg = out / "config.json"
    cfg.write_text(cfg.read_text()[:40])                                  # cut mid-object
    before = _digest(out)
    capsys.readouterr()
    assert main(["--out", str(out), "--resume", "--steps", "5", "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(cfg) in line and "not valid JSON" in line and ": line " in line
    assert _digest(out) == before
    # the way out the message gives: move it aside and resume; the checkpoint's settings are used
    cfg.rename(out / "config.json.damaged")
    assert main(["--out", str(out), "--resume", "--steps", "5", "--no-progress"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 5
    assert json.loads(cfg.read_text())["config"]["model"] == "wae_mmd"


def test_resume_with_fewer_steps_than_done_says_nothing_was_trained(tmp_path, capsys):
    out = _trained(tmp_path, steps=4)
    before = _digest(out)
    capsys.readouterr()
    assert main(["--out", str(out), "--resume", "--steps", "2", "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "already at step 4" in line and "nothing was trained" in line and "--steps N" in line
    assert _digest(out) == before
    # the same length again is not an error, and the message says that nothing was trained
    assert main(["--out", str(out), "--resume", "--steps", "4", "--no-progress"]) == 0
    assert "nothing to train" in capsys.readouterr().err


def test_python_api_names_the_same_problems(tmp_path):
    data = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8)
    kw = dict(image_size=32, width=0.0625, batch_size=8, device="cpu", progress=False)
    fit("vae", data, TrainConfig(steps=3, out=str(tmp_path), **kw))
    with pytest.raises(RunFolderError, match="already at step 3"):
        fit("vae", data, TrainConfig(steps=2, out=str(tmp_path), resume=True, **kw))
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        fit("vae", data, TrainConfig(steps=5, out=str(tmp_path), resume=True, **kw))


def test_kill_9_during_training_leaves_a_checkpoint_that_resumes(tmp_path):
    """SIGKILL gives the process no chance to clean up: the checkpoint on disk must be a whole
    one (written atomically), and the resume must continue from it to the end."""
    out, data = tmp_path / "run", _data_file(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "waelib.train", "--model", "vae", "--dataset", data,
                             "--steps", "100000", "--checkpoint-every", "2", "--log-every", "1",
                             "--out", str(out), *SMALL], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not ((out / "checkpoint.pt").exists() and len(read_log(out)) >= 6):
        assert proc.poll() is None, "the run exited early"
        assert time.monotonic() - t0 < 120, "timed out waiting for checkpoints"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    ck = torch.load(out / "checkpoint.pt", weights_only=False)          # a whole checkpoint
    done = int(ck["step"])
    assert done >= 2 and not ck["finished"]
    assert main(["--out", str(out), "--resume", "--steps", str(done + 3), "--no-progress"]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == done + 3 and ck["finished"]
    steps = [r["step"] for r in read_log(out)]
    assert steps == list(range(1, done + 4))       # the log was cut back to the checkpoint
