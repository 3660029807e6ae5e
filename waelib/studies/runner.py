"""The one resumable runner behind every study: the claims study
(:mod:`waelib.studies.claims_study`) and notebook 06's runs (:mod:`waelib.studies.beyond`).

A study is a list of runs. Each run trains with :func:`waelib.train.fit` into a work folder
(checkpoints, never committed), is evaluated, and writes its small results into a results
folder: ``config.json``, a thinned ``log.jsonl``, ``eval.json`` and last ``run.json`` (status,
wall times, hardware, date). A run whose ``run.json`` exists is done and skipped, so a study
resumes after an interruption, in a later session or on another machine. A run that diverges
is recorded as such and never repeated; an interrupted run raises KeyboardInterrupt once its
checkpoint is safe.

What is shared here, once: the data of a study (:class:`StudyData`, made once per worker
process), the recorded training (:func:`train_recorded`), one run from training to its
``run.json`` (:func:`run_recorded`), the copies of the run's files (:func:`copy_run_files`), the
figure images (:func:`save_figure_images`) and the runs side by side (:func:`run_tasks`).
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .. import evaluate
from ..course import experiment
from ..data import to_uint8_tensor
from ..parallel import longest_first, parse_jobs, run_parallel, split_cores
from ..train import NonFiniteLossError, fit
from ..train.checkpoint import CONFIG_NAME, LOG_NAME
from ..utils import atomic_write_bytes, atomic_write_json, atomic_write_text, display_path, repo_root, run_metadata

__all__ = ["RUN_RECORD_NAME", "LOG_STRIDE", "StudyData", "worker_data", "is_done", "load_run_results",
           "figures_folder", "write_record", "report", "train_recorded", "run_recorded", "copy_run_files",
           "save_figure_images", "run_tasks", "add_parallel_options", "hardware_key", "busy_seconds",
           "run_provenance", "study_parser", "run_cli"]

#: A run's record, written last: its presence means the run is done (finished or diverged).
RUN_RECORD_NAME = "run.json"
#: The committed copy of a run's log keeps every LOG_STRIDE-th step (and the last): the curves
#: stay readable and many runs' logs stay small.
LOG_STRIDE = 10


class StudyData:
    """The images, feature extractor, reference statistics and "real images" row of one data
    set of a study, made once.

    Args:
        params: the study's settings (those of :func:`waelib.course.experiment.load_data` and
            :func:`waelib.course.experiment.feature_extractor`, and ``n_fid``).
        train_u8: also keep the training images as one uint8 tensor (``train_u8``, (N, 3, S, S)).
    """

    def __init__(self, params: Mapping[str, Any], *, train_u8: bool = False):
        self.params = dict(params)
        self.data = experiment.load_data(self.params)
        self.train_u8 = to_uint8_tensor(self.data.train) if train_u8 else None
        self.extractor = experiment.feature_extractor(self.params)
        self.reference = experiment.reference_stats(self.data, self.extractor)
        self.real = evaluate.evaluate_real(self.data.eval_images, extractor=self.extractor,
                                           reference=self.reference, n=self.params["n_fid"])


_WORKER_DATA: Dict[str, StudyData] = {}


def worker_data(key: Any, make: Callable[[], StudyData]) -> StudyData:
    """This process' :class:`StudyData` for ``key`` (any JSON-able description of the data),
    made by ``make()`` the first time; one data set is kept in memory at a time."""
    k = json.dumps(key, sort_keys=True, default=str)
    if k not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[k] = make()
    return _WORKER_DATA[k]


def is_done(res: Path) -> bool:
    """A run is done when its results folder holds its ``run.json``."""
    return (Path(res) / RUN_RECORD_NAME).is_file()


def load_run_results(root: Path, pattern: str = "*/*/seed*") -> Dict[str, Dict[str, Any]]:
    """``{run key: {"run": run.json, "eval": eval.json's result or None}}`` of every run folder
    under ``root`` that matches ``pattern`` and holds a ``run.json`` (the key is its path
    relative to ``root``)."""
    out: Dict[str, Dict[str, Any]] = {}
    for run in sorted(Path(root).glob(f"{pattern}/{RUN_RECORD_NAME}")):
        d = run.parent
        ev = d / evaluate.EVAL_NAME
        out[str(d.relative_to(root))] = {"run": json.loads(run.read_text()),
                                         "eval": json.loads(ev.read_text())["result"] if ev.is_file() else None}
    return out


def figures_folder(profile: str, results: Path, out_dir: Optional[Path] = None,
                   figures_dir: Optional[Path] = None) -> Path:
    """Where a study's renderer writes: ``figures_dir`` if given; ``figures/`` (committed) for the
    ``default`` profile's own results; else the results folder's sibling ``figures``."""
    if figures_dir is not None:
        return Path(figures_dir)
    if profile == "default" and out_dir is None:
        return repo_root() / "figures"
    return Path(results).parent / "figures"


def write_record(res: Path, record: Mapping[str, Any]) -> Path:
    """``run.json`` (the record and this machine's metadata), written atomically, last."""
    return atomic_write_json(Path(res) / RUN_RECORD_NAME, {**record, "metadata": run_metadata()})


def copy_run_files(src: Path, dst: Path) -> None:
    """``config.json`` as is; ``log.jsonl`` thinned to every :data:`LOG_STRIDE`-th step."""
    dst.mkdir(parents=True, exist_ok=True)
    if (src / CONFIG_NAME).is_file():
        shutil.copyfile(src / CONFIG_NAME, dst / CONFIG_NAME)
    if (src / LOG_NAME).is_file():
        lines = (src / LOG_NAME).read_text().splitlines()
        keep = [ln for i, ln in enumerate(lines) if i % LOG_STRIDE == LOG_STRIDE - 1 or i == len(lines) - 1]
        atomic_write_text(dst / LOG_NAME, "\n".join(keep) + ("\n" if keep else ""))


def train_recorded(model: str, train: Any, cfg: Mapping[str, Any], record: Dict[str, Any],
                   out: Path, res: Path, key: str):
    """:func:`waelib.train.fit` with a study run's record keeping.

    Fills ``record`` (status, start time, ``train_seconds``). A run that diverges is recorded as
    such (its files and ``run.json`` written to ``res``) and None is returned: it is kept, never
    repeated. An interrupted run raises KeyboardInterrupt after its checkpoint in ``out`` is safe.
    Returns the :class:`waelib.train.FitResult` otherwise.
    """
    record.update(status="running", started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  threads=int(cfg.get("threads") or torch.get_num_threads()))
    t0 = time.perf_counter()
    try:
        result = fit(model, train, dict(cfg))
    except NonFiniteLossError as err:
        record.update(status="diverged", error=str(err), train_seconds=time.perf_counter() - t0)
        copy_run_files(out, res)
        write_record(res, record)
        return None
    record["train_seconds"] = time.perf_counter() - t0
    if getattr(result, "interrupted", False):
        raise KeyboardInterrupt(f"run {key} was interrupted; its checkpoint is in {out}, "
                                f"and the next call resumes it")
    return result


def run_recorded(record: Dict[str, Any], model: str, train: Any, cfg: Mapping[str, Any], *,
                 out: Path, res: Path, key: str, evaluate_run: Callable[[torch.nn.Module], Dict[str, Any]],
                 eval_config: Mapping[str, Any],
                 after: Optional[Callable[[torch.nn.Module], None]] = None) -> Dict[str, Any]:
    """One run from training to its ``run.json``: :func:`train_recorded`, then
    ``evaluate_run(model)`` (the trained model in eval mode), the run's files, ``eval.json``
    (with ``eval_config``), ``after(model)`` (e.g. figure images) and the record. Returns the
    record (status ``done`` or ``diverged``)."""
    result = train_recorded(model, train, cfg, record, out, res, key)
    if result is None:
        return record
    t1 = time.perf_counter()
    trained = result.model.eval()
    ev = evaluate_run(trained)
    record.update(status="done", eval_seconds=time.perf_counter() - t1,
                  finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    copy_run_files(out, res)
    evaluate.save_evaluation(res, ev, config=dict(eval_config))
    if after is not None:
        after(trained)
    write_record(res, record)
    return record


@torch.no_grad()
def save_figure_images(model, data: StudyData, path: Path, *, seed: int = 0,
                       n_samples: int = 8, n_recon: int = 6, n_rows: int = 3) -> Path:
    """A few uint8 images for Figures 4.1-4.3 (samples, originals + reconstructions,
    interpolation rows), compressed, so that the figures re-render without a checkpoint."""
    def u8(x: torch.Tensor) -> np.ndarray:
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    images = data.data.eval_images
    ia, ib = evaluate.interpolation_pairs(len(images), n_rows, seed=seed)
    buf = io.BytesIO()
    np.savez_compressed(buf, samples=u8(evaluate.generate(model, n_samples, seed=seed)),
                        originals=images[:n_recon].numpy(),
                        reconstructions=u8(evaluate.reconstruct(model, images[:n_recon])),
                        interpolations=u8(evaluate.interpolation_rows(model, images[ia], images[ib],
                                                                      data.params["interp_steps"])))
    return atomic_write_bytes(path, buf.getvalue())


def hardware_key(d: Mapping[str, Any]) -> str:
    """A stable one-line description of a run record's hardware (``k=v, ...`` sorted by key)."""
    return ", ".join(f"{k}={d[k]}" for k in sorted(d))


def _utc(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def busy_seconds(records: Sequence[Mapping[str, Any]]) -> Optional[float]:
    """The wall time during which at least one of ``records`` was running: the length of the
    union of their ``[started, finished]`` intervals (runs side by side overlap; gaps between
    sessions do not count). None when no record has both times. A run resumed from a checkpoint
    counts from its last start only."""
    spans = sorted((_utc(r["started"]), _utc(r["finished"])) for r in records
                   if r.get("started") and r.get("finished"))
    if not spans:
        return None
    total, (lo, hi) = 0.0, spans[0]
    for a, b in spans[1:]:
        if a > hi:
            total, lo, hi = total + hi - lo, a, b
        else:
            hi = max(hi, b)
    return total + hi - lo


def run_provenance(records: Sequence[Mapping[str, Any]], root: Path) -> Dict[str, Any]:
    """What a study's tables come from: the results folder, how many runs (and how many
    diverged), their first and last dates, machines and commits, the training and evaluation
    seconds summed over runs, and the study's busy wall time (:func:`busy_seconds`)."""
    meta = [r.get("metadata", {}) for r in records]
    dates = sorted(m.get("date_utc", "") for m in meta if m.get("date_utc"))
    return {"results": display_path(root), "n_runs": len(records),
            "n_diverged": sum(r.get("status") == "diverged" for r in records),
            "first_run_utc": dates[0] if dates else None, "last_run_utc": dates[-1] if dates else None,
            "hardware": sorted({hardware_key(m.get("hardware", {})) for m in meta}),
            "commits": sorted({m.get("git_commit", "?") for m in meta}),
            "train_seconds_total": sum(r.get("train_seconds", 0) for r in records),
            "eval_seconds_total": sum(r.get("eval_seconds", 0) for r in records),
            "busy_wall_seconds": busy_seconds(records)}


def report(key: str, record: Mapping[str, Any]) -> None:
    """One line per finished run: its key, status and train/eval seconds, with the clock time."""
    print(f"[{time.strftime('%H:%M:%S')}] {key}: {record['status']} (train "
          f"{record.get('train_seconds', 0):.0f} s, eval {record.get('eval_seconds', 0):.0f} s)", flush=True)


def run_tasks(name: str, tasks: Sequence[Any], task: Callable[[Any], Dict[str, Any]], *,
              jobs: Optional[int], threads: Optional[int], device: str,
              cost: Callable[[Any], float], on_result: Callable[[Any, Dict[str, Any]], None]
              ) -> List[Dict[str, Any]]:
    """The runs ``tasks`` of study ``name``, ``jobs`` at a time with ``threads`` torch threads
    each (:func:`waelib.parallel.split_cores`), longest first when side by side (``cost``: a
    task's relative length; the results do not depend on the order); ``on_result(task,
    record)`` after each. Returns the records."""
    jobs, threads = split_cores(len(tasks), jobs, threads, device=device)
    print(f"{name}: {len(tasks)} run(s) to make, {jobs} at a time"
          + (f", {threads} thread(s) each" if threads else ""), flush=True)
    tasks = list(tasks)
    if jobs > 1:
        tasks = longest_first(tasks, cost)
    return [rec for _, rec in run_parallel(tasks, task, jobs=jobs, threads=threads,
                                           on_result=on_result)]


def add_parallel_options(parser: argparse.ArgumentParser) -> None:
    """The runners' ``--jobs`` and ``--threads`` (:func:`run_tasks`)."""
    parser.add_argument("--jobs", default="auto",
                        help="runs side by side: 'auto' (one per core on a CPU, one on a GPU) or a number")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per run (default: the cores divided among the jobs)")


def study_parser(prog: str, doc: str, *, profiles: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """A study's command line: ``--profile`` (when it has ``profiles``), ``--render``, ``--limit``
    and the parallel options (:func:`add_parallel_options`); the study adds its own."""
    p = argparse.ArgumentParser(prog=prog, description=doc.strip().split("\n\n")[0])
    if profiles is not None:
        p.add_argument("--profile", default="default", help=f"one of {', '.join(profiles)} (default: default)")
    p.add_argument("--render", action="store_true", help="only re-render tables and figures")
    p.add_argument("--limit", type=int, default=None, help="make at most this many runs")
    add_parallel_options(p)
    return p


def run_cli(parser: argparse.ArgumentParser, args: argparse.Namespace, body: Callable[[int], None],
            check: Optional[Callable[[], None]] = None) -> int:
    """Run a study's command: ``check()`` and ``--jobs`` are validated first (a ValueError is a
    usage error, exit 2 with argparse's message), then ``body(jobs)``. An interrupt exits 130 after
    the running runs' checkpoints are safe; a bad input (ValueError, FileNotFoundError) exits 2
    with one line naming it; neither prints a traceback."""
    try:
        if check is not None:
            check()
        jobs = parse_jobs(args.jobs)
    except ValueError as e:
        parser.error(str(e))
    try:
        body(jobs)
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}" if str(e) else "interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
