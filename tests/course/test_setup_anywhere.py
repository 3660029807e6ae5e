"""The setup path a student meets outside the repository (Colab, a fresh environment): the first
cell of a notebook installs waelib where it is not importable, and the notebook then runs.

A fresh virtual environment outside the checkout sees the repository environment's packages
(torch, papermill, ...) through a ``.pth`` line but not waelib (whose editable install is a
finder that a plain path line does not run). Notebook 01, copied outside the repository, runs
on the smoke profile there; its setup cell installs waelib from the local checkout
(``WAELIB_SOURCE``, what Colab gets from the repository's URL), without its dependencies
(pip builds it in an isolated environment, as on Colab).
Every notebook opens with the same setup cell, and its Colab badge points at the repository
named in pyproject.toml.
"""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys

import nbformat
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from waelib.utils import repo_root

ROOT = repo_root()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def _setup_cell(nb):
    cells = [c for c in nb.cells if "setup" in c.metadata.get("tags", [])]
    return cells[0] if len(cells) == 1 else None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_has_the_setup_cell_and_the_colab_badge(path):
    nb = nbformat.read(str(path), as_version=4)
    cell = _setup_cell(nb)
    assert cell is not None, f"{path.name}: one code cell tagged 'setup'"
    assert 'find_spec("waelib") is None' in cell.source and f"git+{REPOSITORY}" in cell.source
    assert f'profiles.setup(globals(), "{path.stem}")' in cell.source
    badge = (f"https://colab.research.google.com/github/{REPOSITORY.removeprefix('https://github.com/')}"
             f"/blob/main/notebooks/{path.name}")
    assert badge in nb.cells[0].source, f"{path.name}: the title cell has the Open in Colab badge"
    assert badge in (ROOT / "README.md").read_text(), f"README: Colab badge of {path.name}"


def test_notebook_01_installs_waelib_from_its_first_cell_in_a_fresh_environment(tmp_path):
    nb_path = ROOT / "notebooks" / "01_elbo.ipynb"
    if _setup_cell(nbformat.read(str(nb_path), as_version=4)) is None:
        pytest.fail("notebook 01 has no setup cell")
    venv = tmp_path / "fresh"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    fresh_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                check=True, capture_output=True, text=True).stdout.strip()
    # the repository environment's packages, but not waelib: a plain path line runs no finder
    with open(os.path.join(fresh_site, "repo_env.pth"), "w") as f:
        f.write("\n".join(site.getsitepackages()) + "\n")
    probe = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('waelib'))"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.stdout.strip() == "None", "waelib must not be importable before the setup cell"
    subprocess.run([str(py), "-m", "ipykernel", "install", "--prefix", str(venv), "--name", "fresh"],
                   check=True, capture_output=True)
    work = tmp_path / "student"
    work.mkdir()
    env = dict(os.environ, WAELIB_SOURCE=f"--no-deps {ROOT}", MPLBACKEND="Agg")   # build isolation: setuptools>=77
    env.pop("PYTHONPATH", None)
    res = subprocess.run([str(py), "-m", "papermill", str(nb_path), str(work / "out.ipynb"), "-k", "fresh",
                          "-p", "profile", "smoke", "--cwd", str(work)],
                         capture_output=True, text=True, env=env, cwd=work, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    installed = subprocess.run([str(py), "-c", "import waelib, json; print(json.dumps(waelib.__file__))"],
                               capture_output=True, text=True, cwd=tmp_path)
    assert json.loads(installed.stdout).startswith(fresh_site), "installed into the fresh environment"
    assert not (ROOT / "runs" / "smoke" / "out.ipynb").exists()
