#!/usr/bin/env python
"""Strip the course notebooks before committing: outputs, execution counts, metadata noise.

    .venv/bin/python scripts/strip_notebooks.py                 # every notebooks/*.ipynb
    .venv/bin/python scripts/strip_notebooks.py a.ipynb b.ipynb
    .venv/bin/python scripts/strip_notebooks.py --check         # exit 1 if any would change

This is the project's one output-stripping mechanism (``make notebooks`` runs it after
``jupytext --sync``; the pre-commit hook runs it too). Each notebook ``NN_name.ipynb`` is the
pair of ``NN_name.py`` (jupytext py:percent, see ``jupytext.toml``); jupytext syncs their cells,
this script only cleans the ``.ipynb``.

Keeps: cell types and sources, cell tags (the ``parameters`` tag matters), the kernelspec and
the language name. Removes: outputs, execution counts, every other metadata of cells
(papermill/execution/collapsed/scrolled/jupytext...), widget state and any other notebook-level
metadata. Cell ids become ``cell-00``, ``cell-01``, ... (the same file whoever strips it).
Files are written atomically and only when they change. Needs nbformat only.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
KEEP_CELL_META = ("tags", "jupyter")   # jupyter: the collapsed solutions of the exercises
DEFAULT_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return ``nb`` stripped in place (see the module docstring)."""
    for i, cell in enumerate(nb.cells):
        meta = {k: cell.metadata[k] for k in KEEP_CELL_META if cell.metadata.get(k)}
        if "tags" in meta:
            meta["tags"] = list(meta["tags"])
        cell.metadata = nbformat.NotebookNode(meta)
        cell["id"] = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in [k for k in cell if k not in ("id", "cell_type", "metadata", "source",
                                                  "outputs", "execution_count", "attachments")]:
            del cell[key]
    ks = nb.metadata.get("kernelspec") or DEFAULT_KERNELSPEC
    nb.metadata = nbformat.NotebookNode({
        "kernelspec": nbformat.NotebookNode(ks),
        "language_info": nbformat.NotebookNode({"name": "python"}),
    })
    nb.nbformat, nb.nbformat_minor = 4, max(int(nb.get("nbformat_minor", 5)), 5)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The file text of ``nb``: nbformat's JSON layout, ending with one newline."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def stripped_text(text: str) -> str:
    """The stripped file text of a notebook's file text."""
    return render(strip(nbformat.reads(text, as_version=4)))


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--check", action="store_true", help="report, change nothing; exit 1 if dirty")
    args = ap.parse_args(argv)
    paths = args.paths or sorted(NB_DIR.glob("*.ipynb"))
    dirty = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = stripped_text(text)
        if new != text:
            dirty.append(path)
            if not args.check:
                _atomic_write(path, new)
    verb = "would strip" if args.check else "stripped"
    for p in dirty:
        print(f"{verb} {p}")
    if not dirty:
        print(f"{len(paths)} notebook(s) already clean")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
