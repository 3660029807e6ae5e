"""Quoted numbers: looked up in the committed files, said with their provenance, and re-derived
from the committed files for every executed notebook (a committed value that changed without the
notebooks being run again fails here)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from waelib.course import show
from waelib.utils import repo_root

ROOT = repo_root()
EXECUTED = ROOT / "notebooks" / "executed"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.py"))


@pytest.fixture
def table_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"columns": ["model", "scale", "fid"],
                                "rows": [["WAE", "primary", 129.04], ["WAE-ResNet", "primary", 189.5],
                                         ["WAE", "second", 80.0]],
                                "meta": {"design": {"steps": 2000}}}))
    return path


def test_lookup_by_field_path_index_and_row_selector(table_file):
    assert show.lookup(table_file, "meta.design.steps") == 2000
    assert show.lookup(table_file, "rows[1].fid") == 189.5
    assert show.lookup(table_file, "rows[model=WAE,scale=second].fid") == 80.0


def test_records_are_the_rows_by_column_name_in_order(table_file):
    rows = show.records(table_file)
    assert rows == [{"model": "WAE", "scale": "primary", "fid": 129.04},
                    {"model": "WAE-ResNet", "scale": "primary", "fid": 189.5},
                    {"model": "WAE", "scale": "second", "fid": 80.0}]
    rows[0]["fid"] = 0.0                                   # a copy: the next call reads the file again
    assert show.records(table_file)[0]["fid"] == 129.04


def test_lookup_names_what_is_missing_or_ambiguous(table_file):
    with pytest.raises(KeyError, match="no 'desgn'"):
        show.lookup(table_file, "meta.desgn.steps")
    with pytest.raises(KeyError, match="2 rows of 'rows' match"):
        show.lookup(table_file, "rows[model=WAE].fid")


def test_say_fills_the_text_and_records_each_quote(table_file, monkeypatch):
    shown = []
    monkeypatch.setattr(show, "_display_markdown", lambda text, meta: shown.append((text, meta)))
    q = show.quote(table_file, "rows[model=WAE-ResNet].fid", "{:.0f}")
    assert show.say("WAE-ResNet's sample FCD is {fid}.", fid=q) is None     # shown once, not echoed
    assert shown[0][0] == "WAE-ResNet's sample FCD is 190." and str(q) == "190"
    assert shown[0][1][show.QUOTE_METADATA_KEY] == [q.as_dict()]


def _recorded_quotes(nb_path: Path):
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            for q in out.get("metadata", {}).get(show.QUOTE_METADATA_KEY, []):
                yield q


def test_every_notebook_has_an_executed_copy():
    """A reader on GitHub sees outputs: each notebook's executed copy is committed."""
    missing = [n for n in NOTEBOOKS if not (EXECUTED / f"{n}.ipynb").is_file()]
    assert not missing, f"run `make figures` to write notebooks/executed/: {missing}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_quoted_numbers_of_the_executed_notebooks_are_the_committed_values(name):
    path = EXECUTED / f"{name}.ipynb"
    if not path.is_file():
        pytest.skip("no executed copy (test_every_notebook_has_an_executed_copy fails)")
    stale = []
    for q in _recorded_quotes(path):
        now = show.quote(q["source"], q["key"], q["fmt"]).text
        if now != q["text"]:
            stale.append(f"{q['source']}:{q['key']} says {q['text']!r}, the file now {now!r}")
    assert not stale, f"{name}: re-run `make figures` (the prose quotes stale values): {stale}"


def test_a_missing_value_reads_n_a_whatever_its_format(tmp_path):
    """A 95 % half-width over one seed is None in the tables; its quote must not crash a notebook."""
    (tmp_path / "t.json").write_text('{"rows": [{"key": "a", "ci": null, "mean": 1.25}]}')
    assert str(show.quote(tmp_path / "t.json", "rows[key=a].ci", "{:.1f}")) == "n/a"
    assert str(show.quote(tmp_path / "t.json", "rows[key=a].mean", "{:.1f}")) == "1.2"
