"""What a notebook shows in prose and tables, rendered from the committed results.

A course notebook never types a result. It quotes it from the file that holds it:

>>> from waelib.course import show
>>> show.quote("figures/claims.json", "rows[claim=C1,scale=primary].mean_diff", "{:+.1f}")  # doctest: +SKIP
'+46.8'

and says it with :func:`say`, which renders Markdown and records every quoted value (file, key,
value, text) in the output's metadata. The executed notebooks that are committed
(``notebooks/executed/``) therefore carry, beside each sentence, where its numbers came from;
``tests/course/test_show.py`` re-derives every recorded quote from the committed files and fails
when a committed value changed without the notebook being run again.

- :func:`lookup` / :func:`quote` -- a value of a committed JSON file by a small key path;
- :func:`records` -- a figures table's rows as dicts (column name -> value), e.g. for a figure;
- :func:`say` -- Markdown with ``{name}`` fields filled by quotes, displayed with provenance;
- :func:`table` -- a table (dict rows, a figures table name, or Markdown) displayed as a table,
  not as raw Markdown text;
- :func:`run_times` -- the measured run time of a notebook per profile, for its setup cell.

Key paths: dot-separated fields; ``name[3]`` is an index, ``name[field=value,...]`` the one row of
list ``name`` whose fields match (the figures' tables store rows as lists under ``columns``; they
are matched by column name).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ..utils import display_path, repo_root
from .figures import format_value, markdown_rows, markdown_table

__all__ = ["Quote", "lookup", "records", "quote", "say", "table", "run_times", "QUOTE_METADATA_KEY"]

#: Where :func:`say` records its quotes in an output's metadata.
QUOTE_METADATA_KEY = "waelib_quotes"

_SEGMENT = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<sel>[^\]]+)\])?$")


@dataclass(frozen=True)
class Quote:
    """A value quoted from a committed file: ``source`` (path relative to the repository),
    ``key`` (the key path), ``fmt`` (a ``str.format`` spec) and ``text`` (the formatted value)."""

    source: str
    key: str
    fmt: str
    text: str

    def as_dict(self) -> Dict[str, str]:
        return {"source": self.source, "key": self.key, "fmt": self.fmt, "text": self.text}

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)


def _rows_as_dicts(container: Mapping[str, Any], name: str) -> List[Any]:
    rows = container[name]
    cols = container.get("columns") if name == "rows" else None
    if cols and rows and isinstance(rows[0], list):
        return [dict(zip(cols, r)) for r in rows]
    return list(rows)


def _matches(row: Any, selector: str) -> bool:
    for cond in selector.split(","):
        field, _, want = cond.partition("=")
        if str(row.get(field.strip()) if isinstance(row, Mapping) else None) != want.strip():
            return False
    return True


def lookup(source: Union[str, Path], key: str, *, root: Optional[Path] = None) -> Any:
    """The value at ``key`` (see the module docstring) in the JSON file ``source`` (relative to
    the repository, :func:`waelib.utils.repo_root`, unless absolute).

    Raises:
        KeyError: naming the segment that is missing and what is there instead.
    """
    path = Path(source) if Path(source).is_absolute() else Path(root or repo_root()) / source
    value: Any = json.loads(path.read_text())
    for seg in key.split("."):
        m = _SEGMENT.match(seg)
        if m is None:
            raise KeyError(f"bad key segment {seg!r} in {key!r}")
        name, sel = m.group("name"), m.group("sel")
        if sel is None:
            if not isinstance(value, Mapping) or name not in value:
                raise KeyError(f"{source}: no {name!r} in {key!r} (there: "
                               f"{sorted(value)[:12] if isinstance(value, Mapping) else type(value).__name__})")
            value = value[name]
            continue
        rows = _rows_as_dicts(value, name)
        if sel.lstrip("-").isdigit():
            value = rows[int(sel)]
            continue
        hits = [r for r in rows if _matches(r, sel)]
        if len(hits) != 1:
            raise KeyError(f"{source}: {len(hits)} rows of {name!r} match [{sel}] in {key!r}")
        value = hits[0]
    return value


def records(source: Union[str, Path], *, root: Optional[Path] = None) -> List[Dict[str, Any]]:
    """The rows of the table file ``source`` (``{"columns": [...], "rows": [[...], ...]}``, as the
    figures helper writes it; relative to the repository unless absolute), each as a dict from
    column name to value, in the file's order."""
    path = Path(source) if Path(source).is_absolute() else Path(root or repo_root()) / source
    return [dict(r) for r in _rows_as_dicts(json.loads(path.read_text()), "rows")]


#: How a missing value (None: e.g. an interval over fewer than two seeds) reads in prose.
MISSING = "n/a"


def _format(value: Any, fmt: str) -> str:
    if value is None:
        return MISSING
    if fmt:
        return fmt.format(value)
    return format_value(value) if isinstance(value, float) else str(value)


def quote(source: Union[str, Path], key: str, fmt: str = "", *, root: Optional[Path] = None) -> Quote:
    """:func:`lookup` formatted with ``fmt`` (``"{:.1f}"``; empty: the tables' own number format),
    as a :class:`Quote` whose ``str`` is the text."""
    shown = display_path(source) if Path(source).is_absolute() else str(source)
    return Quote(shown, key, fmt, _format(lookup(source, key, root=root), fmt))


def say(markdown: str, **quotes: Quote) -> None:
    """Display ``markdown`` with each ``{name}`` replaced by the text of ``quotes[name]``, and
    record the quotes in the output's metadata (:data:`QUOTE_METADATA_KEY`). Returns None (so
    that a cell ending in it does not show the text twice)."""
    text = markdown.format(**{k: q.text for k, q in quotes.items()})
    _display_markdown(text, {QUOTE_METADATA_KEY: [q.as_dict() for q in quotes.values()]})


def table(rows: Union[str, Sequence[Mapping[str, Any]]], *, columns: Optional[Sequence[str]] = None,
          caption: Optional[str] = None) -> None:
    """Display a table as a table. ``rows``: dict rows, or the name of a committed figures table
    (``"claims_table4_4_random_samples"``: its ``figures/<name>.json``), or Markdown text.
    Returns None (a cell ending in it shows the table once)."""
    if isinstance(rows, str) and "|" not in rows:
        data = json.loads((repo_root() / "figures" / f"{rows}.json").read_text())
        cols = list(columns or data["columns"])
        body = [[dict(zip(data["columns"], r)).get(c) for c in cols] for r in data["rows"]]
        text = markdown_table(cols, body)
        caption = caption if caption is not None else data.get("caption")
    elif isinstance(rows, str):
        text = rows
    else:
        text = markdown_rows(rows, columns)
    if caption:
        text = f"{text}\n\n*{caption}*"
    _display_markdown(text, {})


def run_times(notebook: str, *, source: str = "results/course/notebook_times.json") -> str:
    """One line for a notebook's setup cell: its measured run time per profile (with the CPU it
    was measured on), or that it was not measured yet."""
    path = repo_root() / source
    if not path.is_file():
        return f"run times of {notebook}: not measured yet ({source} is missing)"
    data = json.loads(path.read_text())
    entry = data.get("notebooks", {}).get(notebook, {})
    if not entry:
        return f"run times of {notebook}: not measured yet"
    parts = []
    for profile, rec in sorted(entry.items()):
        t = f"{rec['seconds'] / 60:.1f} min" if rec["seconds"] >= 90 else f"{rec['seconds']:.0f} s"
        beside = rec.get("side_by_side", 1)
        parts.append(f"{profile} {t}" + (f" ({beside} notebooks side by side)" if beside > 1 else ""))
    where = data.get("machine", "?")
    return f"measured run time of {notebook} on {where}: " + ", ".join(parts) + \
        " (no GPU run was measured: the thesis and colab profiles' times are projections)"


def _display_markdown(text: str, metadata: Mapping[str, Any]) -> None:
    from IPython.display import Markdown, display  # deferred: only in a notebook

    display(Markdown(text), metadata=dict(metadata) or None)
