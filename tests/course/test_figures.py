"""waelib.course.figures: byte-reproducible figures and tables with provenance (the architecture
diagrams are tested in test_diagrams.py)."""
from __future__ import annotations

import hashlib
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from waelib.course import figures  # noqa: E402


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_fig():
    figures.use_style()
    fig, ax = plt.subplots(figsize=(4, 3))
    x = torch.linspace(-3, 3, 101)
    ax.plot(x, torch.relu(x), label="ReLU")
    ax.plot(x, torch.nn.functional.selu(x), label="SELU")
    ax.set_title("same bytes twice")
    ax.legend()
    return fig


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_save_figure_is_byte_reproducible(tmp_path, fmt):
    fig = _make_fig()
    (p1,) = figures.save_figure(fig, "a", tmp_path / "one", formats=(fmt,))
    (p2,) = figures.save_figure(fig, "a", tmp_path / "two", formats=(fmt,))
    plt.close(fig)
    fig2 = _make_fig()                          # a fresh figure with the same content
    (p3,) = figures.save_figure(fig2, "a", tmp_path / "three", formats=(fmt,), close=True)
    assert p1.name == f"a.{fmt}" and p1.stat().st_size > 0
    assert _sha(p1) == _sha(p2) == _sha(p3)


def test_save_figure_has_no_volatile_metadata(tmp_path):
    fig = _make_fig()
    png, pdf = figures.save_figure(fig, "m", tmp_path, close=True)
    assert b"Software" not in png.read_bytes()
    data = pdf.read_bytes()
    assert b"CreationDate" not in data and b"Producer" not in data
    # no leftover temporary files from the atomic writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pdf", "m.png"]


def test_save_figure_rejects_unknown_format(tmp_path):
    fig = _make_fig()
    with pytest.raises(ValueError, match="png, pdf, svg"):
        figures.save_figure(fig, "x", tmp_path, formats=("jpg",), close=True)


def test_save_table_writes_csv_md_json(tmp_path):
    rows = [{"model": "WAE", "thesis FID": 5.756, "our FID": 12.3456789},
            {"model": "WAE-ResNet", "thesis FID": 5.693, "our FID": None}]
    paths = figures.save_table(rows, "table_x", tmp_path, caption="FID of 10k samples.",
                               meta={"seed": 3, "fid_features": "inception"},
                               notes=["FID: pytorch-fid Inception"])
    assert set(paths) == {"csv", "md", "json"}
    cols, body = figures.read_table(paths["csv"])
    assert cols == ["model", "thesis FID", "our FID"]
    assert body == [["WAE", "5.756", "12.35"], ["WAE-ResNet", "5.693", ""]]
    md = paths["md"].read_text()
    assert "FID of 10k samples." in md
    assert "| model | thesis FID | our FID |" in md and "| WAE | 5.756 | 12.35 |" in md
    assert "- FID: pytorch-fid Inception" in md
    side = json.loads(paths["json"].read_text())
    assert side["meta"] == {"seed": 3, "fid_features": "inception"}
    assert side["rows"][0][2] == pytest.approx(12.3456789)       # full precision kept
    for key in ("date_utc", "hardware", "versions", "git_commit"):
        assert key in side["run"]
    # sequences need columns; the CSV is byte-identical for identical data
    with pytest.raises(ValueError, match="columns"):
        figures.save_table([[1, 2]], "bad", tmp_path)
    p2 = figures.save_table([["WAE", 5.756, 12.3456789], ["WAE-ResNet", 5.693, None]], "table_y",
                            tmp_path, columns=["model", "thesis FID", "our FID"], provenance=False)
    assert p2["csv"].read_bytes() == paths["csv"].read_bytes()
    assert "run" not in json.loads(p2["json"].read_text())


def test_markdown_escapes_pipes():
    md = figures.markdown_table(["a"], [["x|y"]])
    assert "x\\|y" in md


def test_image_grid_shape_and_range():
    imgs = torch.rand(6, 3, 8, 8) * 2 - 0.5
    grid = figures.image_grid(imgs, nrow=3, padding=2)
    assert grid.shape == (2 * 8 + 3 * 2, 3 * 8 + 4 * 2, 3)
    assert grid.min() >= 0 and grid.max() <= 1
    grey = figures.image_grid(torch.rand(4, 1, 5, 5), nrow=2)
    assert grey.shape[-1] == 3
    with pytest.raises(ValueError):
        figures.image_grid(torch.rand(5))
