"""Tests of ``python -m waelib.train`` (issue 11) and of what installing it needs: checks before
any loading, one-line errors with command-line hints, exit statuses of interrupted runs (real
signals to a subprocess), the help text, resuming with a new learning rate, TensorBoard, and the
packaging / dependency lists. Tiny runs (32 px, width 0.125) on a few images."""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from waelib import config
from waelib.train import cli as train_cli
from waelib.train import main, read_log
from waelib.utils import repo_root

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = repo_root()   # the checkout (tests live one folder deeper than before)
SMALL = ["--image-size", "32", "--width", "0.125", "--batch-size", "8", "--no-progress"]


def _images(n=32, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def _data_file(tmp_path, **kw) -> str:
    path = tmp_path / "imgs.pt"
    torch.save(_images(**kw), path)
    return str(path)


def _no_loading(monkeypatch):
    """Make any data loading fail loudly: the checks must come first."""
    import waelib.train.dataset
    import waelib.train.run

    def boom(*a, **k):
        raise AssertionError("data was loaded before the arguments were checked")
    monkeypatch.setattr(waelib.train.dataset, "load_named_dataset", boom)
    monkeypatch.setattr(waelib.train.run, "load_named_dataset", boom)
    monkeypatch.setattr(waelib.train.dataset._data, "load_dataset", boom)


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------------------
# Item 5 and 8: every check before loading; one error line, exit 2, hints in CLI terms
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expect", [
    (["--model", "wae_mmd", "--image-size", "48"], ["48", "32, 64, 128"]),
    (["--model", "wae_mmd", "--dataset", "mnist"], ["mnist", "synthfaces, celeba, digits"]),
    (["--model", "resnet_wae"], ["resnet_wae", "wae_resnet"]),
    (["--model", "wae_mmd", "--split", "validation"], ["validation", "thesis_train"]),
    (["--model", "wae_mmd", "--width", "0"], ["width", "(0, 4]"]),
    (["--model", "wae_mmd", "--dataset", "missing.pt"], ["missing.pt", "does not exist"]),
    (["--model", "wae_mmd", "--download"], ["--download", "celeba"]),
    (["--model", "wae_mmd", "--amp", "fp16"], ["fp16", "bf16"]),
    (["--dataset", "synthfaces"], ["--model is required", "wae_resnet"]),
])
def test_cli_checks_every_choice_before_loading_any_data(args, expect, monkeypatch, capsys):
    _no_loading(monkeypatch)
    with pytest.raises(SystemExit) as e:
        main(args + ["--steps", "1", "--no-progress"])
    assert e.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    for s in expect:
        assert s in line, line


def test_cli_missing_celeba_is_one_line_with_command_line_hints(tmp_path, monkeypatch, capsys):
    _no_loading(monkeypatch)
    with pytest.raises(SystemExit) as e:
        main(["--model", "vae", "--dataset", "celeba", "--data-root", str(tmp_path), *SMALL])
    assert e.value.code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(tmp_path / "celeba" / "img_align_celeba") in line
    assert "--download" in line and "--dataset synthfaces" in line


def test_cli_data_errors_found_while_loading_are_one_line_too(tmp_path, capsys):
    """A .pt file of 64 px images for a 32 px model: the data's shape is known only after
    loading; still one error line, exit 2, and the hint is an option of this command."""
    data = _data_file(tmp_path, size=64)
    assert main(["--model", "vae", "--dataset", data, "--steps", "1", "--out",
                 str(tmp_path / "run"), *SMALL]) == 2
    err = capsys.readouterr().err
    line = _one_error_line("\n".join(ln for ln in err.splitlines()
                                      if not ln.startswith("[waelib.train]")))
    assert "--image-size 64" in line


# ---------------------------------------------------------------------------------------
# Item 9: --help
# ---------------------------------------------------------------------------------------
def test_help_describes_every_option_shows_defaults_and_a_cpu_try(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--image-size 32 --width 0.125 --steps 2000" in out
    assert f"{config.IMAGE_SIZE} px" in out and f"{config.EPOCHS} epochs" in out
    assert "(default: 128)" in out and "(default: synthfaces)" in out and "(default: 10)" in out
    parser = train_cli._parser()
    assert isinstance(parser.formatter_class(prog="x"), argparse.ArgumentDefaultsHelpFormatter)
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help, f"{action.option_strings} has no description"
        assert getattr(action, "shown_default", None) is not None, action.option_strings
    assert "(default: None)" not in out


# ---------------------------------------------------------------------------------------
# Item 1: --resume --lr
# ---------------------------------------------------------------------------------------
def test_cli_resume_with_a_new_learning_rate(tmp_path):
    out, data = tmp_path / "run", _data_file(tmp_path)
    assert main(["--model", "wae_gan", "--dataset", data, "--steps", "2", "--out", str(out),
                 *SMALL]) == 0
    assert main(["--out", str(out), "--resume", "--steps", "3", "--lr", "1e-5", "--disc-lr",
                 "2e-5", "--no-progress"]) == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 3
    assert ck["optimizers"]["ae"]["param_groups"][0]["lr"] == 1e-5
    assert ck["optimizers"]["disc"]["param_groups"][0]["lr"] == 2e-5
    meta = json.loads((out / "config.json").read_text())
    assert meta["resumes"][-1]["changed"]["lr"] == [config.WAE_AE_LR, 1e-5]
    assert meta["resumes"][-1]["changed"]["disc_lr"] == [config.WAE_DISC_LR, 2e-5]


# ---------------------------------------------------------------------------------------
# Section 3: --tensorboard
# ---------------------------------------------------------------------------------------
def test_cli_tensorboard_flag_writes_an_event_file(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--model", "vae", "--dataset", _data_file(tmp_path), "--steps", "2", "--out",
                 str(out), "--tensorboard", *SMALL]) == 0
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((out / "config.json").read_text())["config"]["tensorboard"] is True
    assert f"tensorboard --logdir {out / 'tensorboard'}" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Item 6: exit statuses of interrupted runs (real signals to a subprocess)
# ---------------------------------------------------------------------------------------
def _start(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    # A test run started in the background by a non-interactive shell inherits SIGINT ignored,
    # and Python then keeps ignoring it: give the child the default disposition, as a terminal does.
    return subprocess.Popen([sys.executable, "-m", "waelib.train", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(pred, proc, timeout=120.0):
    t0 = time.monotonic()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"exited early ({proc.returncode}): {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the run to start")
        time.sleep(0.1)


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_cli_run_saves_its_checkpoint_then_exits_128_plus_signal(sig, status, tmp_path):
    out = tmp_path / "run"
    proc = _start(["--model", "vae", "--dataset", _data_file(tmp_path), "--steps", "100000",
                   "--log-every", "1", "--out", str(out), "--device", "cpu", *SMALL], tmp_path)
    _wait_for(lambda: len(read_log(out)) >= 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ck["step"] >= 2 and not ck["finished"]
    assert f"stop requested ({sig.name})" in err


def test_ctrl_c_while_preparing_the_data_is_one_line(tmp_path):
    out = tmp_path / "run"
    proc = _start(["--model", "vae", "--dataset", "synthfaces", "--n", "202599", "--steps", "1",
                   "--out", str(out), "--device", "cpu", *SMALL], tmp_path)
    lines = []

    def preparing():
        lines.append(proc.stderr.readline())
        return "preparing data set" in lines[-1]

    _wait_for(preparing, proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    err_lines = [ln for ln in err.splitlines() if ln.strip() and "\r" not in ln]
    assert "Traceback" not in err and len(err_lines) == 1, err
    assert "interrupted (SIGINT) while preparing the data" in err_lines[0]
    assert not (out / "checkpoint.pt").exists()


# ---------------------------------------------------------------------------------------
# Items 7 and 13: dependencies and packaging
# ---------------------------------------------------------------------------------------
def test_ipywidgets_and_tensorboard_are_dependencies_and_installed():
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_environment import environment_yml_deps, pyproject_deps
    finally:
        sys.path.remove(str(ROOT / "tests"))
    for name in ("ipywidgets", "tensorboard"):
        assert name in pyproject_deps() and name in environment_yml_deps(), name
    import ipywidgets  # noqa: F401  (tqdm.auto's notebook bar; no "IProgress not found")
    import tensorboard  # noqa: F401


def _setuptools_packages(conf):
    """The packages setuptools would install, from pyproject's [tool.setuptools]."""
    import setuptools
    packages = conf.get("packages")
    if isinstance(packages, list):
        return set(packages)
    find = dict((packages or {}).get("find", {}))
    finder = (setuptools.find_namespace_packages if find.get("namespaces", True)
              else setuptools.find_packages)
    found = set()
    for where in find.get("where", ["."]):
        found |= set(finder(where=str(ROOT / where), include=find.get("include", ["*"]),
                            exclude=find.get("exclude", ())))
    return found


def test_setuptools_configuration_covers_every_package_folder_and_data_file():
    """pip install -e . warned that waelib.assets was absent from the packages configuration
    (it was `packages = ["waelib"]`): every folder of waelib/ holding .py files or data must be
    a configured package, and every data file matched by a package-data pattern."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = _setuptools_packages(conf)
    pkg_data = conf.get("package-data", {})
    need, data_files = set(), []
    for folder, dirs, files in os.walk(ROOT / "waelib"):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")]
        files = [f for f in files if not f.endswith((".pyc", ".pyo"))]
        if not files:
            continue
        rel = Path(folder).relative_to(ROOT)
        need.add(".".join(rel.parts))
        data_files += [rel / f for f in files if not f.endswith(".py")]
    assert need - found == set(), f"folders missing from the packages configuration: {need - found}"

    def covered(path: Path) -> bool:
        for pkg in found:
            base = Path(*pkg.split("."))
            if base in path.parents:
                sub = path.relative_to(base).as_posix()
                if any(fnmatch.fnmatch(sub, pat) for pat in pkg_data.get(pkg, []) + pkg_data.get("*", [])):
                    return True
        return False
    assert [str(f) for f in data_files if not covered(f)] == []
