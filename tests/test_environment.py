"""Repository hygiene: environment files agree, the two set-up commands exist, CI calls make test."""
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_deps():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {_name(r) for r in data["project"]["dependencies"]}


def environment_yml_deps():
    """The pip section of environment.yml (parsed by hand: no YAML dependency needed)."""
    deps, in_pip = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if re.match(r"^\s*- pip:\s*$", stripped):
            in_pip = True
            continue
        if in_pip:
            m = re.match(r"^\s{6,}- (.+)$", stripped)
            if m:
                deps.add(_name(m.group(1)))
            elif stripped.strip():
                in_pip = False
    return deps


def test_environment_yml_agrees_with_pyproject():
    py, env = pyproject_deps(), environment_yml_deps()
    assert py, "no dependencies parsed from pyproject.toml"
    assert py == env, f"only in pyproject: {sorted(py - env)}; only in environment.yml: {sorted(env - py)}"


def test_required_dependencies_are_listed():
    need = {"torch", "torchvision", "jupyterlab", "nbconvert", "papermill", "ipykernel", "matplotlib",
            "scipy", "scikit-learn", "tqdm", "pytest", "pytorch-fid", "torchmetrics", "pytorch-msssim"}
    assert need <= pyproject_deps()


def test_readme_has_exactly_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\s*(make \w+)\s*$", setup, flags=re.M)
    assert commands == ["make demo", "make test"], commands
    assert "docs/deviations.md" in readme


def test_ci_runs_make_test_and_make_handles_no_tests():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "-eq 5" in makefile, "make test must turn pytest's exit code 5 (no tests) into a failure"


def test_top_level_layout():
    for p in ("notebooks", "waelib", "data", "figures", "tests", "environment.yml", "pyproject.toml",
              "Makefile", "README.md", ".ci/run"):
        assert (ROOT / p).exists(), p


def test_ruff_is_clean():
    """`make lint`: ruff, configured in pyproject.toml, finds nothing in the library, the tests,
    the scripts and the notebooks' py:percent sources."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    out = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
