"""Architecture diagrams drawn from the live module (thesis §3.2, Figures 3.1-3.3).

- :func:`trace` / :func:`trace_shapes` -- run a module once on a dummy input with forward hooks
  and record every submodule call with its input and output shapes (batch dimension dropped).
- :func:`layer_label` -- a short label for a layer: type, kernel, filters, stride.
- :func:`draw_architecture` -- a block diagram drawn FROM THE LIVE MODULE: every box is labelled
  with the layer type, kernel/stride/filters and the output shape that was actually observed.
  Figures 3.1 (ResNet encoder), 3.2 (identity block) and 3.3 (conv block) are drawn with it, so
  they cannot drift from the code. The figure is written with
  :func:`waelib.course.figures.save_figure`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..blocks import ConvBlock, IdentityBlock
from .figures import save_figure

PathLike = Union[str, os.PathLike]

__all__ = ["Call", "trace", "trace_shapes", "shape_str", "layer_label", "Row", "Box", "Diagram",
           "draw_architecture"]


# --------------------------------------------------------------------------------------
# Tracing a live module
# --------------------------------------------------------------------------------------
@dataclass
class Call:
    """One forward call of a submodule, observed by a hook."""

    name: str                       # qualified name, e.g. "features.5.0.conv1"
    module: nn.Module
    in_shape: Tuple[int, ...]       # without the batch dimension
    out_shape: Tuple[int, ...]

    @property
    def depth(self) -> int:
        return 0 if not self.name else self.name.count(".") + 1


def _shape(t: Any) -> Tuple[int, ...]:
    if isinstance(t, (tuple, list)) and t:
        t = t[0]
    if isinstance(t, dict):
        t = next(iter(t.values()))
    return tuple(t.shape[1:]) if isinstance(t, torch.Tensor) else ()


def trace(module: nn.Module, input_shape: Sequence[int], batch: int = 1) -> List[Call]:
    """Run ``module`` once on zeros of shape (batch, *input_shape) and record every call.

    Forward hooks on every submodule (the root included, name ``""``) record the input and
    output shapes, in the order the calls *finish* (children before parents). A module used
    several times (e.g. one shared ReLU) gives several calls. The module is run in eval mode
    under ``torch.no_grad`` and its training flag is restored afterwards.
    """
    calls: List[Call] = []
    handles = []
    for qname, sub in module.named_modules():
        def hook(mod, inp, out, qname=qname):
            calls.append(Call(qname, mod, _shape(inp), _shape(out)))
        handles.append(sub.register_forward_hook(hook))
    was_training = module.training
    try:
        module.eval()
        p = next(module.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
        with torch.no_grad():
            module(torch.zeros(batch, *input_shape, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return calls


def trace_shapes(module: nn.Module, input_shape: Sequence[int]) -> Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]]:
    """``{qualified name: (input shape, output shape)}`` of the first call of every submodule."""
    out: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]] = {}
    for c in trace(module, input_shape):
        out.setdefault(c.name, (c.in_shape, c.out_shape))
    return out


def _pair(v) -> Tuple[int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _k(v) -> str:
    a, b = _pair(v)
    return f"{a}×{b}"


def _s(v) -> int:
    return _pair(v)[0]


def shape_str(shape: Sequence[int]) -> str:
    """(C, H, W) -> 'C×H×W'."""
    return "×".join(str(s) for s in shape)


def layer_label(m: nn.Module) -> str:
    """A short, human label for a layer: type, kernel, filters, stride."""
    if isinstance(m, nn.ConvTranspose2d):
        return f"ConvT {_k(m.kernel_size)}, {m.out_channels}, stride {_s(m.stride)}"
    if isinstance(m, nn.Conv2d):
        return f"Conv {_k(m.kernel_size)}, {m.out_channels}, stride {_s(m.stride)}"
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "BatchNorm"
    if isinstance(m, nn.LeakyReLU):
        return f"LeakyReLU({m.negative_slope:g})"
    if isinstance(m, (nn.ReLU, nn.SELU, nn.Sigmoid, nn.Tanh, nn.ELU)):
        return type(m).__name__
    if isinstance(m, nn.MaxPool2d):
        return f"MaxPool {_k(m.kernel_size)}, stride {_s(m.stride)}"
    if isinstance(m, nn.AvgPool2d):
        return f"AvgPool {_k(m.kernel_size)}"
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return "GlobalAvgPool"
    if isinstance(m, nn.ZeroPad2d):
        p = m.padding
        return f"ZeroPad {p[0] if isinstance(p, (tuple, list)) else p}"
    if isinstance(m, nn.Flatten):
        return "Flatten"
    if isinstance(m, nn.Linear):
        return f"Dense {m.out_features}"
    if isinstance(m, (IdentityBlock, ConvBlock)):
        f = [m.conv1.out_channels, m.conv2.out_channels, m.conv3.out_channels]
        k = _k(m.conv2.kernel_size)
        if isinstance(m, ConvBlock):
            return f"ConvBlock [{', '.join(map(str, f))}], f={k}, stride {_s(m.conv1.stride)}"
        return f"IdentityBlock [{', '.join(map(str, f))}], f={k}"
    return type(m).__name__


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------
@dataclass
class Row:
    label: str
    shape: Tuple[int, ...]
    count: int = 1
    names: List[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return (f"{self.count} × " if self.count > 1 else "") + self.label


@dataclass
class Box:
    """One box of a diagram: a title and rows (layer label, output shape)."""

    title: str
    rows: List[Row]
    role: str = "main"                # "io", "main", "shortcut", "add"

    @property
    def labels(self) -> List[str]:
        return [r.text for r in self.rows]


@dataclass
class Diagram:
    """What :func:`draw_architecture` drew: the figure, the boxes, and the trace it came from."""

    fig: Any
    boxes: List[Box]
    calls: List[Call]
    layout: str
    paths: List[Path] = field(default_factory=list)

    @property
    def labels(self) -> List[str]:
        return [lab for b in self.boxes for lab in b.labels]


def _is_leaf(m: nn.Module) -> bool:
    return isinstance(m, (IdentityBlock, ConvBlock)) or len(list(m.children())) == 0


def _summarise(calls: Sequence[Call]) -> List[Row]:
    """Rows for a run of calls, merging consecutive identical layers ('3 × IdentityBlock')."""
    rows: List[Row] = []
    for c in calls:
        lab = layer_label(c.module)
        if rows and rows[-1].label == lab and rows[-1].shape == c.out_shape and \
                "Block" in lab:
            rows[-1].count += 1
            rows[-1].names.append(c.name)
        else:
            rows.append(Row(lab, c.out_shape, 1, [c.name]))
    return rows


def _top_calls(calls: Sequence[Call], prefix: str) -> List[Call]:
    """Calls of the direct children of the module named ``prefix`` (in call order)."""
    depth = 0 if not prefix else prefix.count(".") + 1
    out = []
    for c in calls:
        if not c.name or c.name.count(".") != depth:
            continue
        if prefix and not c.name.startswith(prefix + "."):
            continue
        out.append(c)
    return out


def _encoder_boxes(module: nn.Module, calls: List[Call], input_shape) -> List[Box]:
    """Boxes for a sequential trunk: one box per stage (Sequential of blocks), leaf runs
    grouped between them; the thesis' stage numbering (stage 1 = the stem)."""
    # flatten the module into "units": direct children of containers, down to leaves/blocks
    units: List[Tuple[str, Call]] = []

    def expand(prefix: str):
        for c in _top_calls(calls, prefix):
            if _is_leaf(c.module):
                units.append(("leaf", c))
            elif all(_is_leaf(ch) and len(list(ch.children())) > 0 for ch in c.module.children()):
                units.append(("stage", c))          # a Sequential of residual blocks
            else:
                expand(c.name)
    expand("")
    boxes = [Box("Input", [Row("image", tuple(input_shape))], role="io")]
    run: List[Call] = []
    stage_no = 1
    seen_stage = 0

    def flush(final: bool):
        nonlocal run, stage_no
        if not run:
            return
        pads = [c for c in run if isinstance(c.module, nn.ZeroPad2d)]
        if pads and run[0] is pads[0] and len(run) > 1 and not final:
            boxes.append(Box("Zero padding", _summarise(pads)))
            run = run[1:]
        title = f"Stage {stage_no}" if not final else "Output head"
        if not final:
            stage_no += 1
        boxes.append(Box(title, _summarise(run)))
        run = []

    for kind, c in units:
        if kind == "leaf":
            run.append(c)
        else:
            flush(final=False)
            seen_stage += 1
            stage_calls = [x for x in calls if x.name.startswith(c.name + ".") and
                           x.name.count(".") == c.name.count(".") + 1]
            boxes.append(Box(f"Stage {stage_no}", _summarise(stage_calls)))
            stage_no += 1
    flush(final=True)
    out = calls[-1].out_shape
    boxes.append(Box("Output", [Row("code z", out)], role="io"))
    return boxes


def _block_boxes(block: nn.Module, calls: List[Call], input_shape) -> Tuple[List[Box], Box]:
    """Main path (1x1 -> kxk -> 1x1 with BN/ReLU) and the shortcut of a residual block."""
    inner = [c for c in calls if c.name and c.depth >= 1]
    short = [c for c in inner if c.name.startswith("shortcut.") and len(list(c.module.children())) == 0]
    main = [c for c in inner if not c.name.startswith("shortcut") and
            len(list(c.module.children())) == 0]
    # the last ReLU call of the main path runs after the addition
    post = []
    if main and isinstance(main[-1].module, (nn.ReLU,)):
        post = [main.pop()]
    main_box = Box("F(X): main path", [Row(layer_label(c.module), c.out_shape, 1, [c.name]) for c in main])
    if short:
        sc_box = Box("W_s X: projection shortcut",
                     [Row(layer_label(c.module), c.out_shape, 1, [c.name]) for c in short],
                     role="shortcut")
    else:
        sc_box = Box("X: identity shortcut", [Row("identity", tuple(input_shape))], role="shortcut")
    post_box = Box("H(X)", [Row(layer_label(c.module), c.out_shape, 1, [c.name]) for c in post], role="add")
    return [main_box, sc_box], post_box


def _verify_block(block: nn.Module, input_shape) -> float:
    """max |block(x) - ReLU(F(x) + shortcut(x))| on a random input: the diagram's add node is
    checked against the live forward pass, not assumed."""
    was = block.training
    block.eval()
    g = torch.Generator().manual_seed(0)
    p = next(block.parameters())
    x = torch.randn(2, *input_shape, generator=g).to(p.device, p.dtype).relu()
    with torch.no_grad():
        skip = block.shortcut(x) if hasattr(block, "shortcut") else x
        err = (block(x) - torch.relu(block.residual(x) + skip)).abs().max().item()
    block.train(was)
    return err


_COLORS = {"io": "#e8e8e8", "main": "#dbe9f6", "shortcut": "#fde2c8", "add": "#d9f0d3",
           "stage": "#dbe9f6"}


def _draw_box(ax, x, y_top, w, box: Box, line_h: float, fontsize: float, shapes: bool = True):
    """Draw a box whose top edge is at y_top; return its bottom y."""
    from matplotlib.patches import FancyBboxPatch  # deferred: pyplot only when a figure is drawn
    n = len(box.rows)
    h = line_h * (n + 1.2)
    ax.add_patch(FancyBboxPatch((x - w / 2, y_top - h), w, h,
                                boxstyle="round,pad=0.02,rounding_size=0.15",
                                fc=_COLORS.get(box.role, "#dbe9f6"), ec="#444444", lw=1.0))
    ax.text(x - w / 2 + 0.12, y_top - 0.55 * line_h, box.title, ha="left", va="center",
            fontsize=fontsize, fontweight="bold")
    for i, r in enumerate(box.rows):
        yy = y_top - line_h * (i + 1.45)
        ax.text(x - w / 2 + 0.25, yy, r.text, ha="left", va="center", fontsize=fontsize)
        if shapes and r.shape:
            ax.text(x + w / 2 - 0.12, yy, shape_str(r.shape), ha="right", va="center",
                    fontsize=fontsize - 0.5, color="#1f4e79", family="DejaVu Sans Mono")
    return y_top - h


def _arrow(ax, x0, y0, x1, y1, **kw):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1.2, shrinkA=0, shrinkB=0, **kw))


def draw_architecture(module: nn.Module, input_shape: Sequence[int], name: Optional[str] = None,
                      out_dir: Optional[PathLike] = None, *, title: Optional[str] = None,
                      formats: Sequence[str] = ("png", "pdf"), layout: str = "auto") -> Diagram:
    """Draw a block diagram of ``module`` from a forward pass of the live module.

    Two layouts:

    - ``layout="block"`` (auto for modules with a ``residual`` method, i.e.
      :class:`~waelib.blocks.IdentityBlock` / :class:`~waelib.blocks.ConvBlock`): the main path
      F(X) (1x1 -> kxk -> 1x1 convolutions with BN and ReLU) beside the shortcut (identity, or
      the 1x1 projection W_s with BN), joined at an addition node and the final ReLU. The
      addition is verified numerically: the block's output must equal ReLU(F(x) + shortcut(x)).
    - ``layout="trunk"`` (anything else, e.g. :class:`~waelib.blocks.ResNetEncoder`): one box per
      stage, consecutive identical residual blocks summarised ("3 × IdentityBlock [...]").

    Every row shows the layer type with kernel, filters and stride, and the output shape
    (C×H×W, batch dimension dropped) observed during the forward pass.

    Args:
        module: the live module (e.g. ``build_model("wae_resnet").encoder``).
        input_shape: its input shape without the batch dimension, e.g. (3, 128, 128).
        name, out_dir: when both are given the figure is written with :func:`save_figure`.
        title: figure title (default: the module's class name and input shape).
    Returns:
        a :class:`Diagram` (``fig``, ``boxes`` with their ``labels``, the ``calls`` trace).
    """
    # Long on purpose: one figure's layout arithmetic (rows, boxes, arrows), read top to bottom.
    import matplotlib.pyplot as plt  # deferred: pyplot only when a figure is drawn

    calls = trace(module, input_shape)
    if layout == "auto":
        layout = "block" if hasattr(module, "residual") else "trunk"
    if layout not in ("block", "trunk"):
        raise ValueError(f"unknown layout {layout!r}; valid choices: auto, block, trunk")
    title = title or f"{type(module).__name__} (input {shape_str(input_shape)})"
    fs = 9.0
    line_h = 0.42
    if layout == "trunk":
        boxes = _encoder_boxes(module, calls, input_shape)
        w = 7.4
        total_h = sum(line_h * (len(b.rows) + 1.2) for b in boxes) + 0.45 * (len(boxes) - 1) + 0.6
        fig, ax = plt.subplots(figsize=(6.4, 0.62 * total_h + 0.4))
        y = 0.0
        x = w / 2
        prev_bottom = None
        for b in boxes:
            if prev_bottom is not None:
                _arrow(ax, x, prev_bottom, x, y)
            bottom = _draw_box(ax, x, y, w, b, line_h, fs)
            prev_bottom = bottom
            y = bottom - 0.45
        ax.set_xlim(-0.1, w + 0.1)
        ax.set_ylim(prev_bottom - 0.1, 0.3)
    else:
        (main_box, sc_box), post_box = _block_boxes(module, calls, input_shape)
        err = _verify_block(module, input_shape)
        if err > 1e-4:
            raise AssertionError(f"block output != ReLU(F(x) + shortcut(x)) (max error {err:.2e})")
        in_box = Box("Input", [Row("X", tuple(input_shape))], role="io")
        wm, ws = 5.0, 4.1
        xm, xs = wm / 2, wm + 0.8 + ws / 2
        xc = (xm + xs) / 2
        n_main = len(main_box.rows)
        total_h = line_h * (n_main + 1.2) + 2 * line_h * 2.2 + 3.2
        fig, ax = plt.subplots(figsize=(7.2, 0.62 * total_h + 0.6))
        in_bottom = _draw_box(ax, xc, 0.0, 3.4, in_box, line_h, fs)
        top = in_bottom - 0.7
        _arrow(ax, xc, in_bottom, xm, top)
        _arrow(ax, xc, in_bottom, xs, top)
        m_bottom = _draw_box(ax, xm, top, wm, main_box, line_h, fs)
        s_bottom = _draw_box(ax, xs, top, ws, sc_box, line_h, fs)
        y_add = m_bottom - 0.7
        r = 0.28
        from matplotlib.patches import Circle  # deferred: pyplot only when a figure is drawn
        ax.add_patch(Circle((xc, y_add), r, fc="white", ec="#333333", lw=1.2))
        ax.text(xc, y_add, "+", ha="center", va="center", fontsize=14)
        _arrow(ax, xm, m_bottom, xc - r * 0.75, y_add + r * 0.6)
        _arrow(ax, xs, s_bottom, xc + r * 0.75, y_add + r * 0.6)
        rule = "H(X) = ReLU(F(X) + W_s X)" if "projection" in sc_box.title else "H(X) = ReLU(F(X) + X)"
        post_box.title = rule
        post_top = y_add - r - 0.45
        _arrow(ax, xc, y_add - r, xc, post_top)
        p_bottom = _draw_box(ax, xc, post_top, 4.6, post_box, line_h, fs)
        ax.set_xlim(-0.1, xs + ws / 2 + 0.1)
        ax.set_ylim(p_bottom - 0.15, 0.3)
        boxes = [in_box, main_box, sc_box, post_box]
    ax.set_axis_off()
    ax.set_aspect("auto")
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    diagram = Diagram(fig, boxes, calls, layout)
    if name and out_dir is not None:
        diagram.paths = save_figure(fig, name, out_dir, formats)
    return diagram
