"""The course notebooks: each a jupytext pair (``NN_name.py`` py:percent + ``NN_name.ipynb``) in
sync, committed stripped, with one ``parameters`` cell, no function or class definitions and
no code pasted between notebooks; and every one runs headless through papermill with the
``smoke`` profile and writes its expected outputs.

Adding a notebook: write ``notebooks/NN_name.py`` (or the .ipynb in JupyterLab with jupytext),
run ``make notebooks`` (pairs and strips it), put its expected outputs in
:data:`EXPECTED_OUTPUTS` (the test fails for a notebook that is not listed there) and, if its
smoke run needs more than ``-p profile smoke -p figures_dir ... -p out_dir ...``, its extra
parameters in :data:`SMOKE_PARAMETERS`.
"""
from __future__ import annotations

import ast
import importlib.util
import itertools
import json
import os
import re
from pathlib import Path
from typing import Optional

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

from waelib.course import profiles

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p for p in NB_DIR.glob("*.ipynb") if not p.name.startswith("."))
NB_IDS = [p.stem for p in NOTEBOOKS]
#: The course, in order (README.md's table).
COURSE = ("01_elbo", "02_wae_objective", "02b_resnet_degradation", "03_vae", "04_wae_resnet",
          "05_thesis_results", "06_beyond_the_thesis", "07_landscape")
#: The shortest code cell that may not appear in two notebooks (lines, blank lines excluded).
PASTED_MIN_LINES = 4

#: Files each notebook must write during its smoke run: ``figures`` under ``figures_dir``,
#: ``out`` under ``out_dir``. Extend this for 03_vae, 04_wae_resnet, 05_thesis_results.
EXPECTED_OUTPUTS = {
    "01_elbo": {
        "figures": ["nb01_elbo_gap.png", "nb01_elbo_gap.pdf"],
        "out": ["01_elbo_checks.json"],
    },
    "02_wae_objective": {
        "figures": ["nb02_ot_1d.png", "nb02_vae_vs_wae_regularisers.png", "nb02_mmd_unbiased.png"],
        "out": ["02_wae_objective_checks.json"],
    },
    "02b_resnet_degradation": {
        "figures": ["fig2_1_degradation.png", "fig2_1_degradation.pdf",
                    "fig2_1_degradation_errors.csv", "fig2_1_degradation_errors.md",
                    "fig2_1_degradation_errors.json",
                    "fig2_2_relu.png", "fig2_3_selu.png",
                    "fig3_1_encoder.png", "fig3_1_encoder.pdf",
                    "fig3_2_identity_block.png", "fig3_3_conv_block.png"],
        "out": ["02b_resnet_degradation.json"],
    },
    "03_vae": {
        "figures": ["nb03_vae_training_curves.png", "nb03_vae_samples.png"],
        "out": [f"{m}/{f}" for m in ("vae", "vae_resnet")
                for f in ("config.json", "log.jsonl", "checkpoint.pt", "eval.json")],
    },
    "04_wae_resnet": {
        "figures": ["nb04_wae_training_curves.png", "nb04_wae_samples.png"],
        "out": [f"{m}/{f}" for m in ("wae_gan", "wae_mmd", "wae_resnet")
                for f in ("config.json", "log.jsonl", "checkpoint.pt", "eval.json")],
    },
    "05_thesis_results": {
        "figures": [f"{t}.{ext}" for t in ("table4_1_hardware", "table4_2_dataset",
                                          "table4_3_interpolation_sharpness",
                                          "table4_4_random_samples", "table4_5_reconstructions")
                    for ext in ("csv", "md", "json")]
                   + [f"{f}.png" for f in ("fig4_1_interpolations", "fig4_2_random_samples",
                                           "fig4_3_reconstructions")] + ["README.md", "runs.json"],
    },
    "06_beyond_the_thesis": {
        "figures": [f"{t}.{ext}" for t in ("beyond_models", "beyond_samplers", "beyond_latent",
                                          "beyond_nac") for ext in ("csv", "md", "json")]
                   + ["beyond_latent.png", "beyond_samples.png"],
        "out": ["beyond_results/synthfaces/intro_vae/seed0/eval.json",
                "beyond_results/synthfaces_n8/mask_aae_m8/seed0/run.json"],
    },
    "07_landscape": {
        "figures": [f"{t}.{ext}" for t in ("landscape_primary", "landscape_orderings", "landscape_ordering_parts",
                                          "landscape_table5", "landscape_attributes") for ext in ("csv", "md", "json")]
                   + ["landscape_fcd_primary.png", "nb07_landscape_fcd.png", "landscape_attributes.png"],
        "out": ["landscape_results/primary/flexae/seed0/run.json",
                "landscape_results/primary/flexae_c6/seed0/eval.json"],
    },
}

#: Notebooks that share one run folder: 05 reads the runs that 03 and 04 write.
SHARED_RUNS = ("03_vae", "04_wae_resnet", "05_thesis_results")

#: Extra papermill parameters for a notebook's smoke run (besides profile/figures_dir/out_dir).
SMOKE_PARAMETERS: dict = {}

#: Names every parameters cell must define (the smoke run passes them).
REQUIRED_PARAMETERS = ("profile", "figures_dir", "out_dir")


def _load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _parameters_cells(nb):
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


def _execute(nb_path: Path, out_path: Path, parameters: dict):
    import papermill as pm
    os.environ.setdefault("MPLBACKEND", "Agg")
    return pm.execute_notebook(str(nb_path), str(out_path), parameters=parameters,
                               kernel_name="python3", cwd=str(nb_path.parent),
                               progress_bar=False, log_output=False)


def _strip_script():
    spec = importlib.util.spec_from_file_location("strip_notebooks", ROOT / "scripts" / "strip_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _python(source: str) -> str:
    """A code cell's source as Python: IPython magics (``%...``, ``!...``) commented out."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _cells(nb):
    """What a pair must agree on: each cell's type, source and tags."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_notebooks_exist_as_pairs():
    assert tuple(NB_IDS) == COURSE, f"notebooks/ holds {NB_IDS}, the course is {COURSE}"
    pys = sorted(p.stem for p in NB_DIR.glob("*.py") if not p.name.startswith("."))
    assert pys == NB_IDS, ("every notebook is a pair NN_name.py + NN_name.ipynb "
                           f"(run `make notebooks`): .py {pys}, .ipynb {NB_IDS}")
    assert not (ROOT / "scripts" / "build_notebooks.py").exists(), \
        "the notebooks' source is notebooks/*.py; the old generator must not come back"


# --------------------------------------------------------------------------------------
# (1) jupytext pairs in sync, committed stripped, (2) one parameters cell
# --------------------------------------------------------------------------------------
def test_jupytext_pairs_ipynb_with_py_percent():
    """jupytext.toml pairs every notebook with a py:percent file and keeps the .py header-free."""
    config = load_jupytext_config(str(NOTEBOOKS[0]))
    assert config is not None, "no jupytext configuration (jupytext.toml) applies to notebooks/"
    assert "ipynb,py:percent" in config.formats
    assert config.notebook_metadata_filter == "-all"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_py_and_ipynb_are_in_sync(path):
    """Both sides of the pair hold the same cells (type, source, tags), read by jupytext; and the
    .py is exactly what jupytext writes for the .ipynb (no stale formatting, no version header)."""
    py = path.with_suffix(".py")
    from_ipynb, from_py = jupytext.read(str(path)), jupytext.read(str(py))
    a, b = _cells(from_ipynb), _cells(from_py)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    assert a == b, (f"{path.name} and {py.name} differ from cell {first} on "
                    f"({len(a)} vs {len(b)} cells): run `make notebooks` (jupytext --sync)")
    text = py.read_text(encoding="utf-8")
    expected = jupytext.writes(from_ipynb, fmt="py:percent", config=load_jupytext_config(str(path)))
    assert text == expected, f"{py.name} is not what jupytext writes for {path.name}: run `make notebooks`"
    assert "jupytext_version" not in text and text.startswith("# %%")
    assert text.count('# %% tags=["parameters"]\n') == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_committed_notebook_is_stripped(path):
    """No outputs or execution counts; only tags as cell metadata; ids cell-00, cell-01, ...:
    what scripts/strip_notebooks.py writes."""
    text = path.read_text(encoding="utf-8")
    assert _strip_script().stripped_text(text) == text, \
        f"{path.name} is not stripped: run `make notebooks` (or scripts/strip_notebooks.py)"


def test_committed_notebooks_have_no_outputs():
    offenders = []
    for path in NOTEBOOKS:
        nb = _load(path)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if cell.get("outputs"):
                offenders.append(f"{path.name}: cell {i} has outputs")
            if cell.get("execution_count") is not None:
                offenders.append(f"{path.name}: cell {i} has execution_count {cell.execution_count}")
    assert not offenders, ("notebooks must be committed without outputs "
                           "(run scripts/strip_notebooks.py):\n" + "\n".join(offenders))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_one_parameters_cell_with_profile(path):
    nb = _load(path)
    cells = _parameters_cells(nb)
    assert len(cells) == 1, f"{path.name}: expected exactly one cell tagged 'parameters', found {len(cells)}"
    defined = profiles.assigned_names(cells[0].source)
    missing = [n for n in REQUIRED_PARAMETERS if n not in defined]
    assert not missing, f"{path.name}: the parameters cell does not define {missing}"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec"
    # the guard must exist before the parameters cell, and notebook_params come right after it
    idx = nb.cells.index(cells[0])
    before = "\n".join(c.source for c in nb.cells[:idx] if c.cell_type == "code")
    after = next(c.source for c in nb.cells[idx + 1:] if c.cell_type == "code")
    assert "ParameterGuard(globals())" in before or "profiles.setup(globals()" in before, \
        f"{path.name}: no ParameterGuard (profiles.setup) before the parameters cell"
    assert "notebook_params(globals()" in after, f"{path.name}: notebook_params must follow the parameters cell"


# --------------------------------------------------------------------------------------
# (3) every notebook runs with the smoke profile and writes its outputs
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory):
    """One run folder for 03, 04 and 05 (in that order: 05 needs the runs of 03 and 04). Session
    scope, so that nothing a test runner runs in between (another module's tests on the same
    pytest-xdist worker) ends it and makes 05 train 03 and 04 again. (`make test` keeps this file
    on one worker: --dist loadfile.)"""
    return tmp_path_factory.mktemp("shared_runs")


def _ensure_prerequisites(out_dir: Path, tmp_path: Path) -> None:
    """Run the smoke 03 and 04 into ``out_dir`` when they have not run yet (e.g. ``-k 05``)."""
    for name in SHARED_RUNS[:-1]:
        if not all((out_dir / f).is_file() for f in EXPECTED_OUTPUTS[name]["out"]):
            _execute(NB_DIR / f"{name}.ipynb", tmp_path / f"{name}.pre.ipynb",
                     {"profile": "smoke", "figures_dir": str(tmp_path / "prefigs"), "out_dir": str(out_dir)})


#: The smoke runs of the notebooks that share no runs live in tests/test_notebooks_smoke.py: a file
#: of its own, so that pytest-xdist (``--dist loadfile``) can put them on the other worker.
SHARED_PATHS = [p for p in NOTEBOOKS if p.stem in SHARED_RUNS]
INDEPENDENT_PATHS = [p for p in NOTEBOOKS if p.stem not in SHARED_RUNS]


@pytest.mark.parametrize("path", SHARED_PATHS, ids=[p.stem for p in SHARED_PATHS])
def test_notebook_runs_with_smoke_profile(path, tmp_path, shared_runs):
    smoke_run(path, tmp_path, shared_runs)


def smoke_run(path: Path, tmp_path: Path, shared_runs: Optional[Path]) -> None:
    """Run notebook ``path`` on the smoke profile and check the files it must write; the notebooks of
    :data:`SHARED_RUNS` write into (and read from) ``shared_runs``."""
    name = path.stem
    assert name in EXPECTED_OUTPUTS, (f"{name}.ipynb has no entry in EXPECTED_OUTPUTS of "
                                      "tests/test_notebooks.py: list the files its smoke run writes")
    figures_dir, out_dir = tmp_path / "figures", tmp_path / "out"
    if name in SHARED_RUNS:
        out_dir = shared_runs
        if name == SHARED_RUNS[-1]:
            _ensure_prerequisites(out_dir, tmp_path)
    params = {"profile": "smoke", "figures_dir": str(figures_dir), "out_dir": str(out_dir)}
    params.update(SMOKE_PARAMETERS.get(name, {}))
    _execute(path, tmp_path / f"{name}.out.ipynb", params)
    expected = EXPECTED_OUTPUTS[name]
    missing = [f"figures/{f}" for f in expected.get("figures", []) if not (figures_dir / f).is_file()]
    missing += [f"out/{f}" for f in expected.get("out", []) if not (out_dir / f).is_file()]
    assert not missing, f"{name}: expected outputs missing after the smoke run: {missing}"


# --------------------------------------------------------------------------------------
# Failing runs share one kernel: each papermill run starts a kernel and imports waelib and
# torch afresh (3-9 s on 2 cores); the error tests below need a kernel (the parameter guard
# watches IPython's cell events) but not a fresh one each. papermill's own parameter
# injection is used, then the cells run in one kernel whose namespace is reset first
# (``%reset -f``), as in a fresh kernel. The smoke runs above keep a papermill kernel each.
# --------------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _SharedKernel:
    def __init__(self):
        from jupyter_client.manager import KernelManager
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(NB_DIR), env=dict(os.environ, MPLBACKEND="Agg"))

    def run(self, nb_path: Path, parameters: dict) -> None:
        """Run ``nb_path`` with papermill's injected ``parameters``; CellExecutionError on error."""
        from nbclient import NotebookClient
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook
        nb = parameterize_notebook(load_notebook_node(str(nb_path)), parameters, kernel_name="python3",
                                   language="python")
        nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
        NotebookClient(nb, km=self.km, kernel_name="python3", timeout=600).execute()

    def close(self):
        self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="session")
def kernel():
    k = _SharedKernel()
    yield k
    k.close()


def _expect_failure(kernel, params, *fragments, nb=None):
    from nbclient.exceptions import CellExecutionError
    with pytest.raises(CellExecutionError) as err:
        kernel.run(nb or _first_notebook(), params)
    text = _ANSI.sub("", str(err.value))
    for frag in fragments:
        assert frag in text, f"{frag!r} not in the error:\n{text}"
    return text


def test_results_notebook_names_the_notebooks_that_produce_missing_runs(tmp_path, kernel):
    _expect_failure(kernel, {"profile": "smoke", "figures_dir": str(tmp_path / "f"),
                             "out_dir": str(tmp_path / "empty")},
                    "03_vae.ipynb", "04_wae_resnet.ipynb", nb=NB_DIR / "05_thesis_results.ipynb")


# --------------------------------------------------------------------------------------
# (4) unknown profile / parameter / data set / model fail with the valid choices
# --------------------------------------------------------------------------------------
def _first_notebook() -> Path:
    return NB_DIR / "01_elbo.ipynb"


def test_unknown_profile_fails_with_valid_choices(tmp_path, kernel):
    _expect_failure(kernel, {"profile": "huge", "out_dir": str(tmp_path)},
                    "unknown profile 'huge'", "valid profiles: smoke, default, colab, thesis")


def test_unknown_parameter_fails_with_valid_names(tmp_path, kernel):
    _expect_failure(kernel, {"profile": "smoke", "n_mcc": 5, "out_dir": str(tmp_path)},
                    "unknown parameter name(s) n_mcc", "valid names:", "figures_dir", "n_mc")


GUARD_NB_CELLS = [
    ("code", "from waelib.course import profiles\n_guard = profiles.ParameterGuard(globals())", None),
    ("code", 'profile = "smoke"\ndataset = None\nmodels = ["wae_gan", "wae_resnet"]\n'
             'epochs = None\nsteps = None\nout_dir = None\nfigures_dir = None', ["parameters"]),
    ("code", "params = profiles.notebook_params(globals(), _guard, table=profiles.PROFILES)", None),
    ("code", "import json, pathlib\npathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)\n"
             "pathlib.Path(out_dir, 'params.json').write_text(json.dumps(dict(params)))", None),
]


@pytest.fixture
def guard_notebook(tmp_path) -> Path:
    """A minimal notebook with the pattern the training notebooks (03-05) use."""
    from nbformat.v4 import new_code_cell, new_notebook
    cells = []
    for _, src, tags in GUARD_NB_CELLS:
        c = new_code_cell(src)
        if tags:
            c.metadata["tags"] = tags
        cells.append(c)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "guard.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_guard_pattern_resolves_and_overrides(tmp_path, guard_notebook, kernel):
    out = tmp_path / "run"
    kernel.run(guard_notebook, {"epochs": 3, "out_dir": str(out)})
    p = json.loads((out / "params.json").read_text())
    assert p["profile"] == "smoke" and p["epochs"] == 3 and p["steps"] is None
    assert p["models"] == ["wae_gan", "wae_resnet"]
    assert p["batch_size"] == profiles.PROFILES["smoke"]["batch_size"]
    assert p["out_dir"] == str(out)


def test_guard_pattern_rejects_bad_dataset_and_model(guard_notebook, kernel):
    _expect_failure(kernel, {"dataset": "mnist"}, "unknown dataset 'mnist'",
                    "synthfaces, celeba, digits", nb=guard_notebook)
    _expect_failure(kernel, {"models": "wae_gan,vqvae"}, "unknown model name 'vqvae'",
                    "vae, vae_resnet, wae_gan, wae_mmd, wae_resnet", nb=guard_notebook)


# --------------------------------------------------------------------------------------
# waelib.course.profiles without a kernel
# --------------------------------------------------------------------------------------
def test_resolve_params():
    p = profiles.resolve_params("smoke", {"epochs": 2, "seed": None})
    assert p.epochs == 2 and p.steps is None and p.seed == profiles.PROFILES["smoke"]["seed"]
    with pytest.raises(ValueError, match="valid profiles: smoke, default, colab, thesis"):
        profiles.resolve_params("nope", {})
    with pytest.raises(ValueError, match="valid names: profile, .*batch_size"):
        profiles.resolve_params("smoke", {"batchsize": 3})
    with pytest.raises(ValueError, match="valid choices: synthfaces, celeba, digits"):
        profiles.resolve_params("smoke", {"dataset": "cifar"})
    with pytest.raises(ValueError, match="positive integer"):
        profiles.resolve_params("smoke", {"epochs": 0})
    with pytest.raises(ValueError, match="valid choices: auto, cpu"):
        profiles.resolve_params("smoke", {"device": "tpu"})
    t = profiles.resolve_params("thesis", {"data_root": "/nonexistent"})
    assert t.dataset == "synthfaces" and t.image_size == 128 and t.width == 1.0 and t.epochs == 100
    assert t.batch_size == 100 and t.device == "auto"


def test_resolve_params_celeba_auto(tmp_path):
    (tmp_path / "celeba" / "img_align_celeba").mkdir(parents=True)
    assert profiles.resolve_params("thesis", {"data_root": str(tmp_path)}).dataset == "celeba"


def test_profile_tables_are_complete():
    for table in (profiles.PROFILES, profiles.TOY_PROFILES, profiles.DEGRADATION_PROFILES):
        assert tuple(table) == profiles.PROFILE_NAMES
        keys = {frozenset(v) for v in table.values()}
        assert len(keys) == 1, "every profile of a table must have the same keys"
        for values in table.values():
            profiles.validate_params(dict(values))


def test_assigned_names():
    src = "a = 1\nb: int = 2\nc, (d, e) = 1, (2, 3)\nf += 1\nif x:\n    g = 1\nh == 2"
    assert profiles.assigned_names(src) == {"a", "b", "c", "d", "e", "f"}
    # cells with IPython magics are not Python: a line pattern is used instead
    assert profiles.assigned_names("%matplotlib inline\nx = 1\ny: float = 2.0\nz == 1") == {"x", "y"}


def test_guard_without_ipython():
    ns = {"__name__": "x"}
    guard = profiles.ParameterGuard(ns)
    ns.update(profile="smoke", seed=7, n_mc=None, figures_dir=None, out_dir=None, n_repeats=None,
              n_points=None, device=None)
    p = profiles.notebook_params(ns, guard, table=profiles.TOY_PROFILES, show=False)
    assert p.seed == 7 and ns["n_mc"] == profiles.TOY_PROFILES["smoke"]["n_mc"]


# --------------------------------------------------------------------------------------
# (5) notebooks narrate, waelib computes: no definitions, no pasted code, modules by name
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_no_function_or_class_definitions_in_notebooks(path):
    """Functions and classes belong in waelib, where they are tested."""
    offenders = []
    for i, cell in enumerate(_load(path).cells):
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(_python(cell.source))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                offenders.append(f"cell {i}: {type(node).__name__} {node.name!r}")
    assert not offenders, f"{path.name} defines (move it into waelib and test it): {offenders}"


def _pasted_candidates(path):
    """Code cells of at least PASTED_MIN_LINES non-blank lines (not the parameters cell, which
    papermill needs literally, nor the setup cell, which installs waelib where it is missing and
    so cannot call it), as {normalised source: cell index}."""
    out = {}
    for i, cell in enumerate(_load(path).cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or "parameters" in tags or "setup" in tags:
            continue
        lines = [line.rstrip() for line in cell.source.splitlines() if line.strip()]
        if len(lines) >= PASTED_MIN_LINES:
            out.setdefault("\n".join(lines), i)
    return out


def _shared_cells(paths):
    """``"a cell i == b cell j: <source>"`` for each long code cell that two notebooks share."""
    cells = {p.stem: _pasted_candidates(p) for p in paths}
    shared = []
    for (a, ca), (b, cb) in itertools.combinations(cells.items(), 2):
        for src in sorted(set(ca) & set(cb)):
            shared.append(f"{a} cell {ca[src]} == {b} cell {cb[src]}:\n{src}")
    return shared


def test_no_code_cell_pasted_between_notebooks():
    """A code cell of 4 or more lines that two notebooks share is a library function waiting to
    be written (as waelib.course.plots.training_curves and waelib.course.experiment.train_and_evaluate were)."""
    shared = _shared_cells(NOTEBOOKS)
    assert not shared, "code pasted between notebooks:\n" + "\n\n".join(shared)


def test_pasted_code_check_catches_a_shared_cell(tmp_path):
    """The check above is not vacuous: two notebooks with the same 4-line cell are caught, however
    their blank lines and trailing spaces differ; 3-line cells and parameters cells are not."""
    four, three = "a = 1\nb = 2\nc = a + b\nprint(c)", "x = 1\ny = 2\nprint(x + y)"
    for name, src in (("x", four), ("y", four.replace("\n", "  \n\n"))):
        params = nbformat.v4.new_code_cell(four + "\nd = 4")
        params.metadata["tags"] = ["parameters"]
        nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(three),
                                             nbformat.v4.new_code_cell(src)])
        nbformat.write(nb, str(tmp_path / f"{name}.ipynb"))
    shared = _shared_cells(sorted(tmp_path.glob("*.ipynb")))
    assert [s.splitlines()[0] for s in shared] == ["x cell 2 == y cell 2:"]


#: ``import ... as X`` of a waelib module under a one- or two-letter alias.
_ALIAS = re.compile(r"^\s*(from\s+waelib(\.\w+)*\s+import\s+.*\bas\s+[A-Za-z]{1,2}\b"
                    r"|import\s+waelib(\.\w+)*\s+as\s+[A-Za-z]{1,2}\b)", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_notebooks_import_waelib_modules_by_name(path):
    """``from waelib import losses, experiment``: a reader sees which module computes what."""
    code = "\n".join(c.source for c in _code_cells(_load(path)))
    assert not _ALIAS.findall(code), f"{path.name}: import waelib modules by their names, not " \
        f"aliases: {[m.group(0).strip() for m in _ALIAS.finditer(code)]}"


# --------------------------------------------------------------------------------------
# (5) every notebook ends with exercises (collapsed solutions) and linked references
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_exercises_with_collapsed_solutions_and_linked_references(path):
    """d2l style: 3-5 exercises, each with a starter cell and a hidden solution; a References
    section with links; the related documents named by their authors, not as "seed 00N"."""
    nb = _load(path)
    heading = re.compile(r"^(#+ *|\*\*)Exercise \d", re.M)
    exercises = [c for c in nb.cells if c.cell_type == "markdown" and heading.search(c.source)]
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert 3 <= len(exercises) <= 5, f"{path.name}: {len(exercises)} exercises (want 3-5)"
    assert len(solutions) >= len(exercises), f"{path.name}: {len(solutions)} solution cells"
    hidden = [c.metadata.get("jupyter", {}).get("source_hidden") for c in solutions]
    assert all(hidden), f"{path.name}: every solution cell is collapsed (jupyter.source_hidden)"
    refs = [c for c in nb.cells if c.cell_type == "markdown" and re.search(r"^#+ *References", c.source, re.M)]
    assert refs and re.search(r"\]\(https?://", refs[-1].source), f"{path.name}: a linked References section"
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not re.search(r"\bseeds? 00\d", prose), f"{path.name}: name the related documents by author and title"
