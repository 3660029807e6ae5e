#!/usr/bin/env python
"""Run every notebook of the course in order with papermill (``make figures``).

    .venv/bin/python scripts/run_notebooks.py --profile default     # what make figures runs
    .venv/bin/python scripts/run_notebooks.py --profile thesis      # on a GPU machine
    .venv/bin/python scripts/run_notebooks.py --only 01 02b         # a subset, by prefix
    .venv/bin/python scripts/run_notebooks.py -p seed 1             # extra parameters for all

Executed copies go to ``runs/notebooks/<profile>/`` (outside git); the notebooks write their
figures and tables to their profile's ``figures_dir`` (under ``runs/<profile>/``) unless
``--figures-dir`` says otherwise (``make figures``: ``figures/``). ``--executed DIR`` also keeps
a compact copy of each executed notebook (``make figures``: ``notebooks/executed/``, committed,
what a reader sees on GitHub) and ``--times FILE`` records each notebook's wall time.
Notebooks run with ``notebooks/`` as the working directory, the ``python3`` kernel, and
``MPLBACKEND=Agg``. The first failure stops the run (exit code 1) and names the notebook and
its executed copy, whose failing cell shows the error.

``--jobs N`` runs up to N notebooks side by side (``auto``: one per CPU core), each kernel with
the cores divided among them as torch threads (``OMP_NUM_THREADS``) and the training notebooks
told to train their models one after the other (``jobs=1``), so that the cores are shared out
once; a notebook starts when the notebooks it reads have finished (:data:`NEEDS`: 05 reads the
runs of 03 and 04). ``--jobs 1`` runs them in order, and the training notebooks then train their
models side by side themselves (their profile's ``jobs``).

Papermill runs the ``.ipynb`` side of each jupytext pair (``notebooks/NN_name.py`` +
``NN_name.ipynb``); a pair whose cells differ stops the run before anything executes, with the
fix: ``make notebooks``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
PROFILES = ("smoke", "default", "colab", "thesis")
#: Notebook prefix -> the notebooks whose outputs it reads (they must finish first).
NEEDS = {"05": ("03", "04")}
#: The notebooks that train models and take a ``jobs`` parameter.
TRAINING = ("03", "04")


def notebooks(only=None):
    nbs = sorted(p for p in NB_DIR.glob("[0-9]*.ipynb") if not p.name.startswith("."))
    if only:
        nbs = [p for p in nbs if any(p.name.startswith(o) for o in only)]
    return nbs


def out_of_sync(nbs):
    """The notebooks whose paired ``.py`` (jupytext py:percent) holds other cells than the .ipynb."""
    import jupytext

    def cells(path):
        return [(c.cell_type, c.source) for c in jupytext.read(str(path)).cells]

    return [nb for nb in nbs if nb.with_suffix(".py").is_file()
            and cells(nb) != cells(nb.with_suffix(".py"))]


def _value(s: str):
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(s, s)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default", choices=PROFILES)
    ap.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 04")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "notebooks",
                    help="folder for the executed copies (a subfolder per profile)")
    ap.add_argument("--figures-dir", type=Path, default=None,
                    help="override every notebook's figures_dir (default: the profile's, figures/)")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                    metavar=("NAME", "VALUE"), help="extra papermill parameter for every notebook")
    ap.add_argument("--executed", type=Path, default=None,
                    help="also write a compact copy of each executed notebook here (make figures: "
                         "notebooks/executed, what a reader sees on GitHub)")
    ap.add_argument("--times", type=Path, default=None,
                    help="record each notebook's wall time for the profile in this JSON file")
    ap.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    ap.add_argument("--jobs", default="auto", help="notebooks side by side: 'auto' (one per core) or N")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from waelib.parallel import cpu_cores, parse_jobs
    try:
        jobs = parse_jobs(args.jobs)
    except ValueError as e:
        ap.error(str(e))
    jobs = jobs or (1 if args.profile == "thesis" else cpu_cores())

    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    nbs = notebooks(args.only)
    if not nbs:
        print("no notebooks found", file=sys.stderr)
        return 1
    stale = out_of_sync(nbs)
    if stale:
        print("notebook pairs out of sync (the .py and the .ipynb differ): "
              + ", ".join(p.name for p in stale) + "; run `make notebooks` first", file=sys.stderr)
        return 1
    out_dir = args.out / args.profile
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": args.profile}
    if args.figures_dir is not None:
        params["figures_dir"] = str(args.figures_dir.resolve())
    params.update({k: _value(v) for k, v in args.parameter})
    total = time.perf_counter()
    keep = {"executed": args.executed, "times": args.times, "jobs": jobs}
    failed = run_all(nbs, out_dir, params, jobs=jobs, timeout=args.timeout, keep=keep)
    if failed:
        return 1
    print(f"all {len(nbs)} notebooks ran in {time.perf_counter() - total:.0f} s"
          + (f" ({jobs} side by side)" if jobs > 1 else ""))
    return 0


def run_one(nb: Path, out: Path, params: dict, timeout, keep=None) -> bool:
    """Execute one notebook; True on success (a failure is reported with its executed copy)."""
    import papermill as pm
    t0 = time.perf_counter()
    print(f"==> {nb.relative_to(ROOT)}  (profile {params['profile']})", flush=True)
    try:
        pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name="python3",
                            cwd=str(NB_DIR), progress_bar=False, execution_timeout=timeout)
    except Exception as exc:  # papermill.PapermillExecutionError and kernel failures
        print(f"FAILED: {nb.name} after {time.perf_counter() - t0:.0f} s; see {out}\n{exc}",
              file=sys.stderr)
        return False
    seconds = time.perf_counter() - t0
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"    done in {seconds:.0f} s -> {shown}", flush=True)
    keep = keep or {}
    if keep.get("executed") or keep.get("times"):
        from waelib.course import executed
        if keep.get("executed"):
            executed.write_compact(out, Path(keep["executed"]) / nb.name)
        if keep.get("times"):
            executed.record_time(keep["times"], nb.stem, params["profile"], seconds,
                                 side_by_side=keep.get("jobs", 1))
    return True


def run_all(nbs, out_dir: Path, params: dict, *, jobs: int, timeout, keep=None) -> list:
    """Run ``nbs`` (in order with ``jobs=1``; else up to ``jobs`` at once, each after the
    notebooks of :data:`NEEDS`); returns the notebooks that failed (the first failure stops the
    start of further notebooks)."""
    if jobs <= 1:
        for nb in nbs:
            if not run_one(nb, out_dir / nb.name, params, timeout, keep):
                return [nb]
        return []
    import concurrent.futures as cf

    from waelib.parallel import cpu_cores
    os.environ["OMP_NUM_THREADS"] = str(max(1, cpu_cores() // jobs))   # each kernel's torch threads
    prefix = {nb: nb.name.split("_")[0] for nb in nbs}
    waiting, done, failed, running = list(nbs), set(), [], {}
    with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
        while waiting or running:
            for nb in list(waiting):
                if failed or len(running) >= jobs:
                    break
                if all(n in done or n not in prefix.values() for n in NEEDS.get(prefix[nb], ())):
                    extra = {"jobs": 1} if prefix[nb] in TRAINING else {}
                    running[pool.submit(run_one, nb, out_dir / nb.name, dict(params, **extra), timeout,
                                        keep)] = nb
                    waiting.remove(nb)
            if failed and not running:
                break
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for f in finished:
                nb = running.pop(f)
                (done.add(prefix[nb]) if f.result() else failed.append(nb))
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
