"""Notebook parameter profiles, their validation, and the guard against unknown parameters.

Every notebook has one cell tagged ``parameters`` whose values may be ``None`` ("take it from
the profile"); the chosen ``profile`` fills in the rest:

=========  ==================================================================================
profile    meaning
=========  ==================================================================================
smoke      tiny, for the tests: every notebook runs in seconds; writes under ``runs/smoke``
default    a fresh CPU machine on the embedded ``synthfaces`` data (``make demo`` runs
           notebook 04 with it); writes under ``runs/default``
colab      a free Colab GPU (a T4, about an hour for the training notebooks; a projection
           from FLOP counts until measured, ``results/course/colab_projection.json``)
thesis     the thesis configuration: 128 px, full width, 100 epochs, batch 100, CelebA when
           its files are present (else synthfaces), on the GPU when there is one
=========  ==================================================================================

Scratch by default: a notebook writes its runs and figures under ``runs/<profile>/``. Only
``make figures`` (``scripts/run_notebooks.py --figures-dir figures``) or an explicit
``figures_dir`` writes the committed ``figures/``.

Three tables, one per kind of notebook: :data:`PROFILES` (the training notebooks 03-05),
:data:`TOY_PROFILES` (the derivation notebooks 01, 02) and :data:`DEGRADATION_PROFILES`
(02b, thesis Figure 2.1).

The notebook-side pattern (two lines around the ``parameters`` cell)::

    # first code cell
    from waelib.course import profiles
    _guard = profiles.ParameterGuard(globals())

    # the cell tagged "parameters"
    profile = "default"
    seed = None
    epochs = None
    figures_dir = None

    # (papermill injects its cell here)

    # the next cell
    params = profiles.notebook_params(globals(), _guard, table=profiles.PROFILES)

:class:`ParameterGuard` watches the cells that run after it (an IPython ``post_run_cell``
hook that parses each cell's source): the first one is the ``parameters`` cell, whose
assigned names are the notebook's parameters; any later cell before
:func:`notebook_params` -- i.e. papermill's injected cell -- may only assign those names.
``papermill -p typo 3`` therefore fails in the first cells with the list of valid names
(papermill itself only logs a warning), as does an unknown profile, data set or model name.
"""
from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, MutableMapping, Optional, Set, Union

from .. import config, registry
from ..data import DATASET_NAMES, celeba_available  # single sources: waelib.data
from ..utils import check_choice, repo_root
from .show import run_times

#: ``dataset="auto"``: CelebA when its files are present, otherwise synthfaces.
DATASET_CHOICES = DATASET_NAMES + ("auto",)
PROFILE_NAMES = ("smoke", "default", "colab", "thesis")
#: ``fid_features``: "auto" (Inception when its weights are present, else the data set's
#: offline classifier) or a name of :func:`waelib.metrics.load_feature_extractor`
#: (:data:`waelib.metrics.EXTRACTOR_NAMES`, repeated here so that the parameters cell does
#: not import the metrics; tests/course/test_profiles.py checks that the two lists agree).
FID_FEATURE_CHOICES = ("auto", "inception", "synthfaces_classifier", "celeba_classifier", "mnist5k_classifier")

# --------------------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------------------
#: Training notebooks (03_vae, 04_wae_resnet, 05_thesis_results). Relative paths are relative
#: to ``notebooks/`` whatever the working directory (:func:`resolve_paths`).
PROFILES: Dict[str, Dict[str, Any]] = {
    "smoke": dict(
        seed=0, dataset="synthfaces", data_root="../data", image_size=32, width=0.0625,
        latent_dim=None, epochs=None, steps=2, batch_size=8, device="cpu",
        n_train=32, n_test=16, n_samples=32, n_recon=16, n_fid=8, n_interp=2, interp_steps=5,
        fid_features="auto", out_dir="../runs/smoke", figures_dir="../runs/smoke/figures", jobs=1),
    "default": dict(
        seed=0, dataset="synthfaces", data_root="../data", image_size=32, width=0.125,
        latent_dim=None, epochs=None, steps=2000, batch_size=64, device="auto",
        n_train=8192, n_test=2048, n_samples=2048, n_recon=1024, n_fid=1024,
        n_interp=config.N_INTERPOLATION_PAIRS, interp_steps=10,
        fid_features="auto", out_dir="../runs/default", figures_dir="../runs/default/figures", jobs=None),
    # A free Colab T4, about an hour for 03 and 04: steps from results/course/colab_projection.json
    # (a projection from FLOP counts, benchmarks/colab_projection.py; tests check the two agree).
    "colab": dict(
        seed=0, dataset="synthfaces", data_root="../data", image_size=64, width=0.5,
        latent_dim=None, epochs=None, steps=4900, batch_size=100, device="auto",
        n_train=16384, n_test=4096, n_samples=2048, n_recon=2048, n_fid=2048,
        n_interp=config.N_INTERPOLATION_PAIRS, interp_steps=10,
        fid_features="auto", out_dir="../runs/colab", figures_dir="../runs/colab/figures", jobs=1),
    "thesis": dict(
        seed=0, dataset="auto", data_root="../data", image_size=config.IMAGE_SIZE, width=1.0,
        latent_dim=None, epochs=config.EPOCHS, steps=None, batch_size=config.BATCH_SIZE, device="auto",
        n_train=None, n_test=None, n_samples=config.N_RANDOM_SAMPLES, n_recon=config.N_RECONSTRUCTIONS,
        n_fid=config.N_RANDOM_SAMPLES, n_interp=config.N_INTERPOLATION_PAIRS,
        interp_steps=config.N_INTERPOLATION_STEPS, fid_features="auto",
        out_dir="../runs/thesis", figures_dir="../runs/thesis/figures", jobs=None),
}

#: Derivation notebooks 01_elbo and 02_wae_objective (closed-form and Monte Carlo checks).
TOY_PROFILES: Dict[str, Dict[str, Any]] = {
    "smoke": dict(seed=0, n_mc=20_000, n_repeats=200, n_points=400, device="cpu",
                  out_dir="../runs/smoke", figures_dir="../runs/smoke/figures"),
    "default": dict(seed=0, n_mc=200_000, n_repeats=1000, n_points=2000, device="cpu",
                    out_dir="../runs/default", figures_dir="../runs/default/figures"),
    "colab": dict(seed=0, n_mc=200_000, n_repeats=1000, n_points=2000, device="cpu",
                  out_dir="../runs/colab", figures_dir="../runs/colab/figures"),
    "thesis": dict(seed=0, n_mc=1_000_000, n_repeats=4000, n_points=4000, device="cpu",
                   out_dir="../runs/thesis", figures_dir="../runs/thesis/figures"),
}

#: 02b_resnet_degradation (thesis Figure 2.1 on scikit-learn digits) and the figures of the
#: building blocks (ReLU, SELU, Figures 3.1-3.3 from the live modules).
DEGRADATION_PROFILES: Dict[str, Dict[str, Any]] = {
    "smoke": dict(seed=0, depths=[8, 14], base_width=4, iterations=6, batch_size=32, lr=0.05,
                  eval_every=3, batch_norm=True, device="cpu", arch_image_size=32,
                  arch_width=0.125, out_dir="../runs/smoke", figures_dir="../runs/smoke/figures"),
    "default": dict(seed=0, depths=[20, 56], base_width=16, iterations=300, batch_size=64,
                    lr=0.05, eval_every=15, batch_norm=True, device="cpu",
                    arch_image_size=config.IMAGE_SIZE, arch_width=1.0, out_dir="../runs/default",
                    figures_dir="../runs/default/figures"),
    "colab": dict(seed=0, depths=[20, 56], base_width=16, iterations=3000, batch_size=128,
                  lr=0.05, eval_every=50, batch_norm=True, device="auto",
                  arch_image_size=config.IMAGE_SIZE, arch_width=1.0, out_dir="../runs/colab",
                  figures_dir="../runs/colab/figures"),
    "thesis": dict(seed=0, depths=[20, 56], base_width=16, iterations=3000, batch_size=128,
                   lr=0.05, eval_every=50, batch_norm=True, device="auto",
                   arch_image_size=config.IMAGE_SIZE, arch_width=1.0, out_dir="../runs/thesis",
                   figures_dir="../runs/thesis/figures"),
}

for _t in (PROFILES, TOY_PROFILES, DEGRADATION_PROFILES):
    assert tuple(_t) == PROFILE_NAMES


class Params(dict):
    """A dict whose keys are also attributes: ``params.epochs`` or ``params["epochs"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; parameters: {', '.join(sorted(self))}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __repr__(self) -> str:
        return "Params(" + ", ".join(f"{k}={v!r}" for k, v in self.items()) + ")"


# --------------------------------------------------------------------------------------
# Paths: relative to notebooks/, whatever the working directory
# --------------------------------------------------------------------------------------
PATH_KEYS = ("data_root", "out_dir", "figures_dir")


def notebooks_dir() -> Path:
    """The folder that relative notebook paths (``../data``, ``../figures``) are relative to.

    JupyterLab runs a notebook in its own folder, ``papermill notebooks/04_wae_resnet.ipynb
    out.ipynb`` in the caller's. Either way the profiles' paths must point at the same place:
    the repository's ``notebooks/`` folder (found from the working directory, else from this
    package's location), so ``../runs`` is always the repository's ``runs/``.
    """
    cwd = Path.cwd()
    if (cwd / "notebooks").is_dir() and (cwd / "waelib").is_dir():
        return cwd / "notebooks"
    if cwd.name == "notebooks" and (cwd.parent / "waelib").is_dir():
        return cwd
    repo_nb = repo_root() / "notebooks"
    return repo_nb if repo_nb.is_dir() else cwd


def resolve_paths(p: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Make the relative paths of :data:`PATH_KEYS` absolute, relative to :func:`notebooks_dir`."""
    base = notebooks_dir()
    for k in PATH_KEYS:
        v = p.get(k)
        if v is not None and not Path(str(v)).is_absolute():
            p[k] = str((base / str(v)).resolve())
    return p


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
def validate_params(p: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Check the values every notebook shares (in place); resolve ``dataset="auto"``.

    Data set names (synthfaces, celeba, digits, auto; "auto" is CelebA exactly when
    :func:`waelib.data.celeba_available` finds ``<data_root>/celeba/img_align_celeba``, the
    folder ``load_dataset("celeba", root=data_root)`` reads), model names
    (:data:`waelib.registry.MODEL_NAMES`, keys ``model``/``models``), image sizes, the FID
    feature extractor (:data:`FID_FEATURE_CHOICES`), devices and the positivity of counts.
    """
    if "dataset" in p and p["dataset"] is not None:
        check_choice(p["dataset"], DATASET_CHOICES, "dataset")
        if p["dataset"] == "auto":
            p["dataset"] = "celeba" if celeba_available(p.get("data_root") or "data") else "synthfaces"
    if p.get("model") is not None:
        check_choice(p["model"], registry.MODEL_NAMES, "model name")
    if p.get("models") is not None:
        models = p["models"]
        if isinstance(models, str):
            models = [m.strip() for m in models.split(",") if m.strip()]
        for m in models:
            check_choice(m, registry.MODEL_NAMES, "model name")
        p["models"] = list(models)
    if p.get("image_size") is not None:
        check_choice(int(p["image_size"]), config.SUPPORTED_IMAGE_SIZES, "image_size")
    if p.get("fid_features") is not None:
        check_choice(p["fid_features"], FID_FEATURE_CHOICES, "fid_features")
    if p.get("device") is not None:
        dev = str(p["device"])
        if not (dev in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", dev)):
            raise ValueError(f"unknown device {dev!r}; valid choices: auto, cpu, cuda, cuda:N, mps")
    for k in ("epochs", "steps", "batch_size", "iterations", "n_mc", "n_repeats", "n_points",
              "n_train", "n_test", "n_samples", "n_recon", "n_fid", "n_interp", "eval_every", "jobs"):
        v = p.get(k)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ValueError(f"{k} must be a positive integer or None, got {v!r}")
    if p.get("epochs") is not None and p.get("steps") is not None:
        raise ValueError("give either epochs or steps, not both (set the other to None)")
    return p


def resolve_params(profile: str, overrides: Optional[Mapping[str, Any]] = None,
                   allowed: Optional[Iterable[str]] = None,
                   table: Mapping[str, Mapping[str, Any]] = PROFILES) -> Params:
    """The parameters of a run: ``table[profile]`` overridden by the non-None ``overrides``.

    Raises:
        ValueError: for an unknown profile (listing the valid profiles), an override name not
            in ``allowed`` (default: the profile's keys; listing the valid names), an unknown
            data set or model name, or an invalid value (see :func:`validate_params`).

    ``epochs`` and ``steps`` are exclusive: overriding one clears the profile's other.
    """
    if profile not in table:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(table)}")
    overrides = dict(overrides or {})
    overrides.pop("profile", None)
    allowed = set(allowed) if allowed is not None else set(table[profile])
    allowed.discard("profile")
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ValueError(f"unknown parameter name(s) {', '.join(unknown)}; valid names: "
                         f"profile, {', '.join(sorted(allowed))}")
    p = Params(copy.deepcopy(dict(table[profile])))
    given = {k: v for k, v in overrides.items() if v is not None}
    if "epochs" in given and "steps" not in given and "steps" in p:
        p["steps"] = None
    if "steps" in given and "epochs" not in given and "epochs" in p:
        p["epochs"] = None
    for k, v in overrides.items():
        if v is not None or k not in p:
            p[k] = v
    p["profile"] = profile
    resolve_paths(p)
    validate_params(p)
    return p


# --------------------------------------------------------------------------------------
# The notebook guard
# --------------------------------------------------------------------------------------
def assigned_names(source: str) -> Set[str]:
    """Names bound at the top level of a cell's source (``a = 1``, ``a: int = 1``, ``a, b = ...``)."""
    names: Set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:     # IPython magics etc.: fall back to a simple pattern
        return set(re.findall(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)", source, flags=re.M))

    def add(t):
        if isinstance(t, ast.Name):
            names.add(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                add(e)
        elif isinstance(t, ast.Starred):
            add(t.value)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                add(t)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
    return names


def _ipython():
    try:
        from IPython import get_ipython  # deferred: optional, only to detect a notebook kernel
        return get_ipython()
    except Exception:  # pragma: no cover - IPython absent
        return None


class ParameterGuard:
    """Records the names assigned by the cells that run after it (see the module docstring).

    The first recorded cell is taken as the ``parameters`` cell; names assigned by any later
    cell (papermill's injected cell) before :func:`notebook_params` must be among them.
    Outside IPython it falls back to "every name defined since the guard is a parameter".
    """

    def __init__(self, namespace: MutableMapping[str, Any]):
        self.namespace = namespace
        self.snapshot = set(namespace)
        self.cells: List[Set[str]] = []
        self._declared: Optional[Set[str]] = None
        self._injected: Set[str] = set()
        self._ip = _ipython()
        # A cell is recorded only if its pre_run_cell event was seen: the cell creating the
        # guard started before the hooks existed, so it is never recorded itself.
        self._armed = False
        if self._ip is not None:
            self._ip.events.register("pre_run_cell", self._pre_run_cell)
            self._ip.events.register("post_run_cell", self._post_run_cell)

    def _pre_run_cell(self, info=None) -> None:
        self._armed = True

    def _post_run_cell(self, result=None) -> None:
        if self._declared is not None or not self._armed:
            return
        self._armed = False
        info = getattr(result, "info", None)
        raw = getattr(info, "raw_cell", None)
        if raw is None:
            return
        self.cells.append(assigned_names(raw))

    def close(self) -> None:
        """Stop watching and freeze the declared and injected names."""
        if self._declared is not None:
            return
        if self.cells:
            self._declared = set(self.cells[0])
            self._injected = set().union(*self.cells[1:]) if len(self.cells) > 1 else set()
        else:
            self._declared = {k for k in set(self.namespace) - self.snapshot
                              if not k.startswith("_")}
            self._injected = set()
        if self._ip is not None:
            for event, fn in (("pre_run_cell", self._pre_run_cell),
                              ("post_run_cell", self._post_run_cell)):
                try:
                    self._ip.events.unregister(event, fn)
                except ValueError:  # pragma: no cover
                    pass

    @property
    def declared(self) -> Set[str]:
        self.close()
        return set(self._declared)

    @property
    def injected(self) -> Set[str]:
        self.close()
        return set(self._injected)


def setup(namespace: MutableMapping[str, Any], notebook: str) -> ParameterGuard:
    """The end of a notebook's setup cell: print what the notebook needs and how long it runs
    (:func:`waelib.course.show.run_times`, measured), and return the :class:`ParameterGuard`
    that lets :func:`notebook_params` check the parameters cell's names."""
    print(f"{notebook}: waelib is importable; {run_times(notebook)}.")
    return ParameterGuard(namespace)


def notebook_params(namespace: MutableMapping[str, Any], guard: Union[ParameterGuard, Set[str]],
                    table: Mapping[str, Mapping[str, Any]] = PROFILES, *, inject: bool = True,
                    show: bool = True) -> Params:
    """Resolve a notebook's parameters (the line right after the ``parameters`` cell).

    Args:
        namespace: ``globals()`` of the notebook.
        guard: the :class:`ParameterGuard` made in the first cell (or, minimal form, a set of
            the names that existed before the parameters cell -- then injected names cannot be
            told apart from declared ones).
        table: the notebook's profile table (:data:`PROFILES`, :data:`TOY_PROFILES`,
            :data:`DEGRADATION_PROFILES`).
        inject: write the resolved values of the declared parameters back into ``namespace``
            (so ``epochs`` holds the profile's value rather than None).
        show: print the resolved parameters.
    Raises:
        ValueError: an unknown profile, parameter name, data set or model name -- with the
            valid choices -- or an invalid value.
    """
    if isinstance(guard, ParameterGuard):
        declared, injected = guard.declared, guard.injected
    else:
        declared = {k for k in set(namespace) - set(guard) if not k.startswith("_")}
        injected = set()
    unknown = sorted(injected - declared)
    if unknown:
        raise ValueError(f"unknown parameter name(s) {', '.join(unknown)}; valid names: "
                         f"{', '.join(sorted(declared))}")
    if "profile" not in declared or "profile" not in namespace:
        raise ValueError("the parameters cell must define `profile`")
    profile = namespace["profile"]
    overrides = {k: namespace[k] for k in declared if k != "profile" and k in namespace}
    p = resolve_params(profile, overrides, allowed=declared, table=table)
    if inject:
        for k in declared:
            if k in p:
                namespace[k] = p[k]
    if show:
        width = max(len(k) for k in p)
        print(f"profile {profile!r}:")
        for k in sorted(p):
            mark = "   (set in the notebook / by papermill)" if overrides.get(k) is not None else ""
            print(f"  {k:<{width}} = {p[k]!r}{mark}")
    return p
