"""The Markdown of ``make bench``: the suite's table for results/bench/README.md
(:func:`suite_markdown`) and its place between the ``cpu-suite`` markers (:func:`update_readme_table`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

from ..utils import atomic_write_text

__all__ = ["README_BEGIN", "README_END", "suite_markdown", "update_readme_table"]


def _matmul_share(report: Dict[str, Any], res: Dict[str, Any], rec: Optional[Dict[str, Any]]) -> str:
    """The path's conv+matmul FLOP rate as a share of the machine's 2048^3 matmul rate."""
    peak = report["device"].get("matmul_gflops")
    if not peak or not res.get("step_flops") or rec is None or "error" in rec:
        return "-"
    rate = rec["images_per_second"]["median"] * res["step_flops"] / res["batch_size"] / 1e9
    return f"{100 * rate / peak:.0f} %"


def _settings_label(st: Dict[str, Any]) -> str:
    parts = ["bf16 autocast" if st.get("amp") else "fp32",
             "channels-last" if st.get("channels_last") else "NCHW"]
    if st.get("fused"):
        parts.append("fused Adam")
    parts.append("compile" if st.get("compile") else "eager")
    return ", ".join(parts)


def suite_markdown(report: Dict[str, Any]) -> str:
    """The suite as a Markdown table (one row per model and size)."""
    paths = report["config"]["paths"]
    others = [p for p in paths if p not in ("naive", "auto")]
    head = ["model", "size", "auto chooses", "naive img/s", "auto img/s", "auto / naive",
            "auto / naive (CPU time)", "auto: share of matmul rate"]
    for p in others:
        head += [f"{p} / naive", f"{p} / naive (CPU time)", f"{p} warm-up s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(rec, what):
        if rec is None:
            return "-"
        if "error" in rec:
            return "failed"
        if what == "ips":
            q = rec["images_per_second"]
            return f"{q['median']:,.0f} ({q['q1']:,.0f}-{q['q3']:,.0f})"
        q = rec["ratio_to_naive" if what == "ratio" else "cpu_time_ratio_to_naive"]
        return f"{q['median']:.2f} ({q['q1']:.2f}-{q['q3']:.2f})"

    for res in report["results"]:
        paths = res["paths"]
        auto = paths.get("auto")
        row = [res["model"], f"{res['image_size']} px",
               _settings_label(auto["settings"]) if auto else "-",
               cell(paths.get("naive"), "ips"), cell(auto, "ips"), cell(auto, "ratio"),
               cell(auto, "cpu"), _matmul_share(report, res, auto)]
        for p in others:
            rec = paths.get(p)
            row += [cell(rec, "ratio"), cell(rec, "cpu"),
                    "-" if rec is None else f"{rec['warmup_seconds']:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    md = report["metadata"]
    loads = [x for r in report["results"] for x in (r["load_average_before"] or [])[:1]]
    lines += ["", f"Measured {md['date_utc']} on {report['device']['name']} "
                  f"({report['device']['cpu_kind']}), {report['device']['torch_threads']} torch "
                  f"thread(s), width 0.125, batch 64, torch {md['versions']['torch']}, commit "
                  f"{md['git_commit']}; {report['config']['rounds']} alternating rounds per row; "
                  f"img/s: median (quartiles) of the wall-clock windows; ratios: median "
                  f"(quartiles) of the per-round ratios, from wall-clock time and from this "
                  f"process' CPU time; 1-minute load average at the rows' start "
                  f"{min(loads, default=float('nan')):.1f}-{max(loads, default=float('nan')):.1f} "
                  f"on {os.cpu_count()} cores (a shared machine); suite time "
                  f"{report['seconds']:.0f} s. Share of matmul rate: the step's convolution and "
                  f"matmul FLOPs per second over a {report['device']['torch_threads']}-thread "
                  f"fp32 2048^3 matmul's "
                  + (f"({report['device']['matmul_gflops']:.0f} GFLOP/s)."
                     if report['device'].get('matmul_gflops') else "(not measured).")]
    return "\n".join(lines)


README_BEGIN, README_END = "<!-- cpu-suite:begin -->", "<!-- cpu-suite:end -->"


def update_readme_table(readme: str, table: str) -> None:
    """Replace the text between :data:`README_BEGIN` and :data:`README_END` in ``readme``."""
    path = Path(readme)
    text = path.read_text() if path.exists() else ""
    block = f"{README_BEGIN}\n{table}\n{README_END}"
    if README_BEGIN in text and README_END in text:
        pre, rest = text.split(README_BEGIN, 1)
        post = rest.split(README_END, 1)[1]
        text = pre + block + post
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, text)


