#!/usr/bin/env python
"""Time a whole command (``make demo``, ``make test``, ``make figures``) and record it with the
machine, the date and the commit in ``results/bench/command_times.json``, so that the times the
README and the Makefile quote are measured ones, each with the CPU that measured it.

    .venv/bin/python benchmarks/command_times.py --name "make demo" --cwd /tmp/clone -- make demo

The record keeps one entry per (command name, CPU kind): a new measurement on the same kind of CPU
replaces the old one, another kind is added beside it. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def disk_bytes(folder: Path) -> int:
    """Bytes ``folder`` occupies on disk (allocated blocks, as ``du`` counts them; every hard-linked
    file once; symbolic links not followed)."""
    seen, total = set(), 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="what the README calls it, e.g. 'make demo'")
    ap.add_argument("--cwd", default=str(ROOT), help="where to run it (e.g. a fresh clone)")
    ap.add_argument("--note", default="", help="what was measured, e.g. 'fresh clone, venv built'")
    ap.add_argument("--json", default=str(ROOT / "results" / "bench" / "command_times.json"))
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("give the command after --")
    from waelib.train.fastpath import cpu_kind
    from waelib.utils import atomic_write_json, git_commit, run_metadata

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=a.cwd)
    wall = time.perf_counter() - t0
    path = Path(a.json)
    data = json.loads(path.read_text()) if path.is_file() else {"entries": []}
    entry = {"name": a.name, "command": cmd, "note": a.note, "exit_status": rc,
             "wall_seconds": round(wall, 1), "cpu_kind": cpu_kind(),
             "load_average_1min_before": round(load_before, 2), "commit": git_commit(a.cwd),
             "metadata": run_metadata()}
    venv = Path(a.cwd) / ".venv"
    if venv.is_dir():                     # the environment the command built or used, after it
        entry["venv_bytes"] = disk_bytes(venv)
    data["entries"] = [e for e in data["entries"]
                       if not (e["name"] == a.name and e["cpu_kind"] == entry["cpu_kind"])] + [entry]
    atomic_write_json(path, data)
    print(f"{a.name}: {wall:.0f} s (exit {rc}) on {entry['metadata']['hardware'].get('cpu_name')}; "
          f"recorded in {path}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
