"""Small shared helpers: atomic file writes, seeding, device choice, run metadata and the
``unknown ...; valid choices: ...`` check.

Everything that writes a checkpoint, a result table or a cache goes through the
``atomic_*`` functions here: they write to a temporary file in the same folder and
then ``os.replace`` it onto the target, so a run killed mid-write never leaves a
corrupt file behind (the old file, if any, survives intact).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np
import torch
from tqdm import tqdm

PathLike = Union[str, os.PathLike]
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)   # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def check_choice(value: Any, choices: Iterable[Any], what: str) -> Any:
    """Raise ``ValueError("unknown <what> ...; valid choices: ...")`` unless value in choices.

    The one argument check behind data set, split, model, image-size and profile-value
    errors (:mod:`waelib.data`, :mod:`waelib.course.profiles`); returns ``value``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; valid choices: {', '.join(map(str, choices))}")
    return value


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run a block with ``module`` and its children in eval mode (BatchNorm uses and keeps its
    running statistics, dropout is off), restoring each child's own flag after."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a seeded CPU generator."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(device: Optional[str] = "auto") -> torch.device:
    """Map ``"auto"``/``None`` to CUDA when available, else CPU; validate anything else."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but no CUDA device is available; "
                         "use device='cpu' or 'auto'.")
    return dev


def repo_root() -> Path:
    """The repository the default ``results/``, ``figures/``, ``runs/`` and ``notebooks/`` paths
    hang from: ``$WAELIB_ROOT`` when set; else the checkout this package lives in (the folder
    above ``waelib/``, recognised by its ``pyproject.toml``: an editable install); else (an
    installed package, whose folder is site-packages) the current working directory. Every
    runner takes its folders as parameters too; this is only their default."""
    env = os.environ.get("WAELIB_ROOT")
    if env:
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "waelib").is_dir():
        return checkout
    return Path.cwd().resolve()


def display_path(path: PathLike) -> str:
    """``path`` relative to :func:`repo_root` when it lies inside it (for tables and records
    that are committed), else the absolute path."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(repo_root()))
    except ValueError:
        return str(p)


def git_commit(repo: Optional[PathLike] = None) -> Optional[str]:
    """The current git commit of ``repo`` (default: this package's checkout), or None.

    ``-dirty`` is appended when tracked files other than the generated ``figures/`` and
    ``results/`` differ from the commit.
    """
    repo = Path(repo) if repo else repo_root()
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                             text=True, timeout=5)
        if out.returncode != 0:
            return None
        # Generated outputs (figures/, results/) do not make the code "dirty".
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)figures", ":(exclude)results"],
                               cwd=repo, capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def hardware_info(device: Optional[torch.device] = None) -> dict:
    """Describe the machine a run used: CPU, core count, GPU name and memory."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        idx = device.index if (device is not None and device.type == "cuda" and device.index is not None) else 0
        props = torch.cuda.get_device_properties(idx)
        info.update(gpu_name=props.name, gpu_memory_bytes=props.total_memory,
                    gpu_count=torch.cuda.device_count())
    return info


#: Libraries whose versions a result records: key -> distribution name for importlib.metadata.
VERSIONED_DISTRIBUTIONS = {"torchvision": "torchvision", "scipy": "scipy", "sklearn": "scikit-learn",
                           "torchmetrics": "torchmetrics", "pytorch_fid": "pytorch-fid",
                           "matplotlib": "matplotlib"}


def library_versions() -> dict:
    """Versions of the libraries that affect numbers.

    Read from the installed distributions' metadata (:func:`importlib.metadata.version`), so
    that recording them imports none of the libraries (importing torchvision, scipy, sklearn,
    torchmetrics, pytorch_fid and matplotlib costs seconds at the start of every run)."""
    versions = {"python": platform.python_version(), "torch": str(torch.__version__),
                "numpy": str(np.__version__)}
    for key, dist in VERSIONED_DISTRIBUTIONS.items():
        mod = sys.modules.get(key)   # already imported: its own __version__ (keeps "+cu..." tags)
        if mod is not None and getattr(mod, "__version__", None):
            versions[key] = str(mod.__version__)
            continue
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover - optional
            versions[key] = None
    return versions


def run_metadata(device: Optional[torch.device] = None) -> dict:
    """Hardware, library versions, git commit and UTC date, to be saved next to a result."""
    hardware = hardware_info(device)
    hardware.setdefault("cpu_name", cpu_name())
    hardware.setdefault("cpu_capability", _cpu_capability())
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware,
        "versions": library_versions(),
        "git_commit": git_commit(),
    }


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine()


def _cpu_capability() -> Optional[str]:
    """The SIMD level torch's CPU kernels use here (e.g. ``"AVX512"``), or None."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover - old torch
        return None


# --------------------------------------------------------------------------------------
# Progress bars
# --------------------------------------------------------------------------------------
def progress_bar(iterable: Any = None, **kwargs: Any):
    """A tqdm progress bar that stays compact wherever it is shown.

    - In a Jupyter kernel with ``ipywidgets`` installed: ``tqdm.notebook``'s widget (one
      output per bar, also in papermill's executed notebooks);
    - on a terminal (stderr is a TTY): the usual text bar;
    - otherwise (headless: a log file, a pipe, a kernel without ``ipywidgets``): a text bar
      refreshed at most once a minute (``mininterval=60``) instead of ten times a second, so
      a log holds a few lines per bar rather than hundreds.

    ``kwargs`` go to tqdm (an explicit ``mininterval`` wins)."""
    mode = _progress_mode()
    if mode == "widget":
        from tqdm.notebook import tqdm as bar  # deferred: imports ipywidgets, only in a kernel
    else:
        bar = tqdm
        if mode == "headless":
            kwargs.setdefault("mininterval", 60.0)
            kwargs.setdefault("file", sys.stderr)
    return bar(iterable, **kwargs)


def _progress_mode() -> str:
    """``"widget"`` (Jupyter kernel with ipywidgets), ``"tty"`` or ``"headless"``."""
    try:
        from IPython import get_ipython  # deferred: optional, only to detect a kernel
        ip = get_ipython()
    except Exception:  # pragma: no cover - IPython absent
        ip = None
    if ip is not None and "IPKernelApp" in getattr(ip, "config", {}):
        try:
            import ipywidgets  # noqa: F401 - deferred: whether the widget bar can be shown
            return "widget"
        except ImportError:
            return "headless"
    try:
        return "tty" if sys.stderr.isatty() else "headless"
    except (AttributeError, ValueError):
        return "headless"
