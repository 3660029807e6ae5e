"""The executed notebooks a reader sees on GitHub: compact copies, and their measured run times.

``make figures`` runs every notebook (``scripts/run_notebooks.py``) and keeps, for each, a
compact executed copy in ``notebooks/executed/`` (committed; the stripped ``notebooks/*.ipynb``
stay the editable sources):

- :func:`compact` drops what a static viewer cannot show or what only churns the diff: widget
  outputs (a progress bar's widget shows nothing on GitHub), progress-bar text on stderr, the
  per-cell execution timestamps; it keeps every text, Markdown and image output and each
  output's metadata (the quotes of :func:`waelib.course.show.say`);
- :func:`record_time` adds a notebook's measured wall time for a profile, with the machine, to
  ``results/course/notebook_times.json`` (read by :func:`waelib.course.show.run_times`).
"""
from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any, Dict, Mapping

from ..utils import atomic_write_json, atomic_write_text, cpu_name

__all__ = ["compact", "write_compact", "record_time", "WIDGET_MIME"]

#: The MIME type of a Jupyter widget's output (a tqdm.notebook bar): empty in a static viewer.
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_PROGRESS = re.compile(r"\d+%\|.*\|")          # tqdm's text bar: " 40%|####      | 4/10"


def _keep(output: Mapping[str, Any]) -> bool:
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        text = "".join(output.get("text", ""))
        return not (_PROGRESS.search(text) or "\r" in text)
    data = output.get("data", {})
    if WIDGET_MIME in data:
        return any(k != WIDGET_MIME and k != "text/plain" for k in data)
    return True


def compact(nb: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of the executed notebook ``nb`` (nbformat JSON as a dict) with widget and
    progress-bar outputs removed, per-cell execution metadata and widget state dropped."""
    out = copy.deepcopy(dict(nb))
    out.get("metadata", {}).pop("widgets", None)
    for cell in out.get("cells", []):
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        meta.pop("papermill", None)
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if _keep(o)]
            for o in cell["outputs"]:
                if WIDGET_MIME in o.get("data", {}):
                    o["data"].pop(WIDGET_MIME)
    pm = out.get("metadata", {}).get("papermill")
    if isinstance(pm, dict):      # keep what ran it (parameters, duration), not the clock times
        for k in ("start_time", "end_time", "input_path", "output_path"):
            pm.pop(k, None)
    return out


def write_compact(executed: Path, dest: Path) -> Path:
    """:func:`compact` of the notebook file ``executed``, written atomically to ``dest``."""
    nb = json.loads(Path(executed).read_text())
    return atomic_write_text(dest, json.dumps(compact(nb), indent=1, ensure_ascii=False) + "\n")


def record_time(path: Path, notebook: str, profile: str, seconds: float, *, side_by_side: int = 1) -> Path:
    """Add ``notebook``'s wall time for ``profile`` (this machine, the date, and how many
    notebooks ran side by side on it) to the JSON file ``path``; other entries are kept."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault("what", "wall time of each notebook run by scripts/run_notebooks.py, per profile")
    data["machine"] = f"{cpu_name()} (CPU)"
    entry = data.setdefault("notebooks", {}).setdefault(notebook, {})
    entry[profile] = {"seconds": round(float(seconds), 1), "machine": data["machine"],
                      "side_by_side": int(side_by_side),
                      "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return atomic_write_json(path, data)
