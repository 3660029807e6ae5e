"""Deterministic writers for the course's figures and tables.

Everything the notebooks put under ``figures/`` goes through this module:

- :func:`save_figure` -- PNG/PDF/SVG with fixed metadata (no software version, no creation
  date, a fixed SVG hash salt, a fixed dpi), so that the same run regenerates the same bytes.
- :func:`save_table` -- ``name.csv`` + ``name.md`` (rendered Markdown with a caption) +
  ``name.json`` (provenance: :func:`waelib.utils.run_metadata` plus whatever the caller passes),
  written atomically with :mod:`waelib.utils`. No pandas needed (the csv module is used;
  a DataFrame is accepted if pandas happens to be installed).
- :func:`image_grid` / :func:`show_images` -- a grid of images (torchvision's ``make_grid``),
  ready for ``imshow``.

The architecture diagrams (Figures 3.1-3.3) are drawn by :mod:`waelib.course.diagrams`, with
:func:`save_figure` from here.

Call :func:`use_style` once (the notebooks do) so that every figure has the same look.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import matplotlib
import torch

from ..utils import atomic_write_bytes, atomic_write_json, atomic_write_text, run_metadata

PathLike = Union[str, os.PathLike]

#: Resolution of every raster figure.
DPI: int = 150
#: Salt of the SVG element ids (otherwise random per process).
SVG_HASHSALT: str = "waelib"

#: The course's matplotlib style: fixed fonts and sizes, so that a figure looks the same on
#: every machine that has the bundled DejaVu fonts (matplotlib ships them).
STYLE: Dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.interpolation": "nearest",
    "svg.hashsalt": SVG_HASHSALT,
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "pdf.compression": 6,
    "path.simplify": True,
}

_PNG_METADATA = {"Software": None}
_PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}
_SVG_METADATA = {"Date": None, "Creator": None}


def use_style() -> None:
    """Apply :data:`STYLE` to ``matplotlib.rcParams`` (call once, before making figures)."""
    matplotlib.rcParams.update(STYLE)


def save_figure(fig, name: str, out_dir: PathLike = "figures",
                formats: Sequence[str] = ("png", "pdf"), *, dpi: int = DPI,
                close: bool = False) -> List[Path]:
    """Save ``fig`` as ``out_dir/name.<fmt>`` for each format, byte-reproducibly.

    Fixed metadata: PNG without the "Software" tag; PDF without Creator, Producer and dates;
    SVG without a date and with a fixed hash salt. Files are rendered in memory and written
    atomically (temporary file + rename), so a killed run never leaves half a figure.

    Args:
        fig: a matplotlib Figure.
        name: file stem, e.g. ``"fig2_2_relu"``.
        out_dir: target folder (created if missing).
        formats: any of ``"png"``, ``"pdf"``, ``"svg"``.
        dpi: raster resolution (PNG).
        close: close the figure after saving (frees memory in long notebooks).
    Returns:
        the written paths, in the order of ``formats``.
    """
    out_dir = Path(out_dir)
    paths = []
    meta = {"png": _PNG_METADATA, "pdf": _PDF_METADATA, "svg": _SVG_METADATA}
    for fmt in formats:
        fmt = fmt.lower().lstrip(".")
        if fmt not in meta:
            raise ValueError(f"unsupported figure format {fmt!r}; valid choices: png, pdf, svg")
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "path",
                                    "pdf.compression": 6}):
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=dict(meta[fmt]), bbox_inches="tight",
                        pad_inches=0.05, facecolor="white")
        paths.append(atomic_write_bytes(out_dir / f"{name}.{fmt}", buf.getvalue()))
    if close:
        import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn
        plt.close(fig)
    return paths


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------
def _rows_from(data: Any, columns: Optional[Sequence[str]]) -> Tuple[List[str], List[List[Any]]]:
    """Normalise a DataFrame, a list of dicts or a list of sequences to (columns, rows)."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):      # a pandas DataFrame
        cols = [str(c) for c in data.columns]
        return cols, [list(r) for r in data.itertuples(index=False, name=None)]
    rows = list(data)
    if rows and isinstance(rows[0], Mapping):
        cols = list(columns) if columns else []
        if not cols:
            for r in rows:
                for k in r:
                    if k not in cols:
                        cols.append(k)
        return [str(c) for c in cols], [[r.get(c, "") for c in cols] for r in rows]
    if columns is None:
        raise ValueError("rows given as sequences need `columns`")
    cols = [str(c) for c in columns]
    for r in rows:
        if len(r) != len(cols):
            raise ValueError(f"row {r!r} has {len(r)} values for {len(cols)} columns")
    return cols, [list(r) for r in rows]


def format_value(v: Any, float_format: str = "{:.4g}") -> str:
    """How a cell is written: floats with ``float_format``, None as an empty cell."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if v != v:  # NaN
            return "nan"
        return float_format.format(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return format_value(v.item(), float_format)
    if hasattr(v, "item") and getattr(v, "shape", None) == ():   # numpy scalar
        return format_value(v.item(), float_format)
    return str(v)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]],
                   float_format: str = "{:.4g}") -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    def cell(v):
        return format_value(v, float_format).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"



def markdown_rows(rows: Sequence[Mapping[str, Any]], columns: Optional[Sequence[str]] = None) -> str:
    """A Markdown table of dict rows (``columns``, default the keys of the first row), with the
    number format of :func:`format_value`; "" for no rows."""
    if not rows:
        return ""
    cols = list(columns or rows[0])
    return markdown_table(cols, [[r.get(c) for c in cols] for r in rows])

def save_table(data: Any, name: str, out_dir: PathLike = "figures", *, caption: str = "",
               meta: Optional[Mapping[str, Any]] = None, columns: Optional[Sequence[str]] = None,
               float_format: str = "{:.4g}", notes: Sequence[str] = (),
               provenance: bool = True) -> Dict[str, Path]:
    """Write ``name.csv``, ``name.md`` and ``name.json`` into ``out_dir``, atomically.

    Args:
        data: a list of dicts (columns = union of keys in order of appearance, or ``columns``),
            a list of sequences (then ``columns`` is required), or a pandas DataFrame.
        name: file stem, e.g. ``"table4_4_random_samples"``.
        caption: one line shown above the Markdown table (and stored in the JSON).
        meta: provenance the caller knows (config, seed, run folders, FID feature extractor,
            reference set, sample counts, sharpness definition, ...); stored under ``"meta"``.
        float_format: how floats are written in the CSV and Markdown (full precision stays in
            the JSON's ``rows``).
        notes: extra lines printed under the Markdown table.
        provenance: add :func:`waelib.utils.run_metadata` (hardware, versions, commit, date)
            under ``"run"``. The date makes the JSON differ between runs; the CSV and the
            Markdown are byte-identical for identical data.
    Returns:
        ``{"csv": path, "md": path, "json": path}``.
    """
    cols, rows = _rows_from(data, columns)
    out_dir = Path(out_dir)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(cols)
    for r in rows:
        writer.writerow([format_value(v, float_format) for v in r])
    md = []
    if caption:
        md.append(f"**{name}.** {caption}\n")
    md.append(markdown_table(cols, rows, float_format))
    if notes:
        md.append("")
        md.extend(f"- {n}" for n in notes)
        md.append("")
    sidecar = {
        "name": name,
        "caption": caption,
        "columns": cols,
        "rows": [[_jsonable(v) for v in r] for r in rows],
        "notes": list(notes),
        "meta": _jsonable(dict(meta or {})),
    }
    if provenance:
        sidecar["run"] = run_metadata()
    paths = {
        "csv": atomic_write_text(out_dir / f"{name}.csv", buf.getvalue()),
        "md": atomic_write_text(out_dir / f"{name}.md", "\n".join(md)),
        "json": atomic_write_json(out_dir / f"{name}.json", sidecar),
    }
    return paths


def read_table(path: PathLike) -> Tuple[List[str], List[List[str]]]:
    """Read a CSV written by :func:`save_table` back as (columns, rows of strings)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return v.tolist()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return str(v)


# --------------------------------------------------------------------------------------
# Image grids
# --------------------------------------------------------------------------------------
def image_grid(images: torch.Tensor, nrow: int = 8, *, padding: int = 2,
               pad_value: float = 1.0) -> torch.Tensor:
    """Tile images (N, C, H, W) in [0, 1] into one (H', W', C) array for ``imshow``.

    Uses :func:`torchvision.utils.make_grid`; values are clamped to [0, 1]; one-channel images
    are shown as grey RGB. Returns a CPU float tensor in (H', W', 3) layout.
    """
    # deferred: torchvision is slow to import and only this function needs it
    from torchvision.utils import make_grid
    images = torch.as_tensor(images).detach().float().cpu()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"image_grid expects (N, C, H, W), got shape {tuple(images.shape)}")
    grid = make_grid(images.clamp(0, 1), nrow=nrow, padding=padding, pad_value=pad_value)
    return grid.permute(1, 2, 0)


def show_images(ax, images: torch.Tensor, nrow: int = 8, title: Optional[str] = None, **kw):
    """``ax.imshow(image_grid(images, nrow))`` without ticks; returns the AxesImage."""
    im = ax.imshow(image_grid(images, nrow, **kw).numpy())
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title)
    return im
