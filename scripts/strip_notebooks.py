#!/usr/bin/env python
"""Strip notebooks before committing: outputs, execution counts and metadata noise.

    .venv/bin/python scripts/strip_notebooks.py                 # every notebooks/*.ipynb
    .venv/bin/python scripts/strip_notebooks.py a.ipynb b.ipynb
    .venv/bin/python scripts/strip_notebooks.py --check         # exit 1 if any would change

Keeps: cell sources, cell tags (the ``parameters`` tag matters), the kernelspec and
language_info name. Removes: outputs, execution counts, papermill/execution/collapsed/scrolled
cell metadata, widget state and any other notebook-level metadata. Files are written
atomically and only when they change.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from waelib.utils import atomic_write_text  # noqa: E402

KEEP_CELL_META = ("tags",)


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        meta = {k: cell.metadata[k] for k in KEEP_CELL_META if cell.metadata.get(k)}
        if "tags" in meta:
            meta["tags"] = list(meta["tags"])
        cell.metadata = nbformat.NotebookNode(meta)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    ks = nb.metadata.get("kernelspec") or {"name": "python3", "display_name": "Python 3",
                                            "language": "python"}
    nb.metadata = nbformat.NotebookNode({
        "kernelspec": nbformat.NotebookNode(ks),
        "language_info": nbformat.NotebookNode({"name": "python"}),
    })
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + ("" if nbformat.writes(nb).endswith("\n") else "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--check", action="store_true", help="report, change nothing; exit 1 if dirty")
    args = ap.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        new = render(strip(nb))
        if new != text:
            dirty.append(path)
            if not args.check:
                atomic_write_text(path, new)
    verb = "would strip" if args.check else "stripped"
    for p in dirty:
        print(f"{verb} {p}")
    if not dirty:
        print(f"{len(paths)} notebook(s) already clean")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    raise SystemExit(main())
