"""The README's result paragraphs, rendered from the committed result files, never typed.

Each block lies in ``README.md`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``;
:func:`update` rewrites them from ``figures/*.json`` (and, for IntroVAE's training curve, the
committed logs under ``results/beyond``), and a test checks that the committed README equals a
fresh rendering, so a number in the README cannot drift from its result file.

- ``claims-summary``: the claims study (``figures/claims.json``, ``docs/claims.md``);
- ``beyond-summary``: notebook 06's study (``figures/beyond_*.json``);
- ``lambda-summary``: the λ-calibration runs (``figures/lambda_sensitivity.json``);
- ``timings``: how long ``make demo`` and ``make test`` took (``results/bench/command_times.json``);
- ``bench-summary``: the runners' measured speed-ups (``results/bench/*.json``).

The landscape study's block (``landscape-verdicts``) is written by
:func:`waelib.studies.landscape_render.update_readme` and the why study's (``why-summary``)
by :mod:`waelib.studies.why_render`, both through :func:`replace_block`.

    python -m waelib.studies.readme_blocks            # rewrite the blocks
    python -m waelib.studies.readme_blocks --check    # exit 1 when one is stale
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from ..registry import MODEL_LABELS
from ..train.fastpath import CPU_COMPILE, compile_break_even_steps
from ..utils import atomic_write_text, repo_root
from .beyond_render import answers

FIGURES = repo_root() / "figures"
README = repo_root() / "README.md"
BEYOND_LOGS = repo_root() / "results" / "beyond" / "default" / "synthfaces" / "intro_vae"


def markers(name: str) -> tuple:
    """The two comment lines that enclose block ``name`` in the README."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with the lines between block ``name``'s markers replaced by ``block``.

    Raises ``ValueError`` naming the block when its markers are missing or out of order."""
    start, end = markers(name)
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise ValueError(f"the README has no {name} block ({start} ... {end}): add the two marker lines")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{block.strip()}\n{end}{tail}"


def write_block(name: str, block: str, path: Optional[Path] = None) -> Path:
    """Rewrite block ``name`` of the file ``path`` (default: the README) with ``block``, atomically."""
    path = Path(path) if path is not None else README
    atomic_write_text(path, replace_block(path.read_text(), name, block))
    return path


def current_block(text: str, name: str) -> str:
    """The text between block ``name``'s markers (without the markers)."""
    start, end = markers(name)
    if start not in text or end not in text:
        raise ValueError(f"the README has no {name} block ({start} ... {end})")
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def _table(name: str, figures_dir: Path) -> Dict[str, Any]:
    """``figures/NAME.json`` with its rows as dicts (``save_table``'s format)."""
    path = Path(figures_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: render its study first (see the Makefile's *-render targets)")
    d = json.loads(path.read_text())
    d["records"] = [dict(zip(d["columns"], r)) for r in d["rows"]]
    return d


def signed(x: float, digits: int = 1) -> str:
    """``+46.8`` / ``−4.2`` with a typographic minus, as the README writes differences."""
    s = f"{abs(x):.{digits}f}"
    return ("−" if x < 0 and float(s) != 0 else "+") + s


def interval(mean: Optional[float], lo: Optional[float], hi: Optional[float], digits: int = 1) -> str:
    """``+46.8 (−4.2 to +97.9)``; "n/a" when the mean is missing, no interval with one seed."""
    if mean is None:
        return "n/a"
    if lo is None or hi is None:
        return signed(mean, digits)
    return f"{signed(mean, digits)} ({signed(lo, digits)} to {signed(hi, digits)})"


def short_hardware(record: str) -> str:
    """``AMD EPYC (2 cores, AVX512)`` from a run record's one-line hardware description
    (``cpu_name=..., cpu_count=..., ...``, as :func:`waelib.studies.runner.hardware_key` writes it)."""
    kv = dict(part.split("=", 1) for part in record.split(", ") if "=" in part)
    if "cpu_name" not in kv:
        return record
    gpu = f", {kv['gpu_name']}" if kv.get("cuda_available") == "True" and kv.get("gpu_name") else ""
    return f"{kv['cpu_name']} ({kv.get('cpu_count', '?')} cores, {kv.get('cpu_capability', '?')}{gpu})"


def _verdict(r: Mapping[str, Any]) -> str:
    v = r["verdict"]
    return f"{v} (fragile)" if r.get("fragile") else v


# ---------------------------------------------------------------- the claims study

def _favours(r: Mapping[str, Any]) -> str:
    """Which model C1's point estimate favours: A − B > 0 in FCD means B (WAE) did better."""
    if r["mean_diff"] is None:
        return "no estimate"
    return f"point estimate {signed(r['mean_diff'])} FCD, favouring {'WAE' if r['mean_diff'] > 0 else 'WAE-ResNet'}"


def claims_block(figures_dir: Path = FIGURES) -> str:
    """The claims study in the README: the central claim's verdict per scale, then every part
    of C1-C5 as a table (A − B in FCD or sharpness, 95 % t-interval over seeds, the smallest
    difference detectable with 80 % power, the pre-registered verdict); from ``claims.json``."""
    d = _table("claims", figures_dir)
    meta, recs = d["meta"], d["records"]
    scales = [s for s in ("primary", "second") if s in meta]
    px = {s: f"{meta[s]['design']['image_size']} px" for s in scales}
    by = {(r["claim"], r["scale"]): r for r in recs}
    central = "; ".join(f"{_verdict(by[('C1', s)])} at {px[s]} ({_favours(by[('C1', s)])})"
                        for s in scales if ("C1", s) in by)
    runs = sum(meta[s]["runs"] for s in scales)
    hours = sum(meta[s]["train_seconds_total"] for s in scales) / 3600
    hw = sorted({h for s in scales for h in meta[s]["hardware"]})
    per_scale = ", ".join(f"{meta[s]['runs']} at {px[s]}" for s in scales)
    lines = [f"{runs} runs ({per_scale}; "
             f"{hours:.1f} h of training on {', '.join(hw)}; every run's record in "
             f"`{meta[scales[0]]['results'].rsplit('/', 2)[0]}/`). **The thesis' central claim C1, "
             f"that WAE-ResNet's samples beat WAE's: {central}.**", ""]
    head = ("| claim | the thesis says | "
            + " | ".join(f"{px[s]}: A − B (95 % CI) | mde | verdict" for s in scales) + " |")
    lines += [head, "|---|---|" + "---|---|---|" * len(scales)]
    for claim in dict.fromkeys(r["claim"] for r in recs):
        cells = []
        for s in scales:
            r = by.get((claim, s))
            if r is None:
                cells += ["no runs", "", ""]
                continue
            digits = 2 if claim.startswith("C3") else 1
            mde = "" if r["mde"] is None else f"{r['mde']:.{digits}f}"
            cells += [interval(r["mean_diff"], r["ci_lo"], r["ci_hi"], digits), mde, _verdict(r)]
        statement = next(r["statement"] for r in recs if r["claim"] == claim)
        lines.append(f"| {claim} | {statement} | " + " | ".join(cells) + " |")
    c1 = [by[("C1", s)]["mde"] for s in scales if ("C1", s) in by and by[("C1", s)]["mde"] is not None]
    if c1:
        lines += ["", f"A − B is the first model's value minus the second's (FCD: lower is better; sharpness: "
                      f"higher is better). The smallest differences this design detects with 80 % power "
                      f"(`mde`) are {min(c1):.0f}–{max(c1):.0f} FCD for C1: the study resolves large effects "
                      f"only, so \"inconclusive\" means \"not resolved at this scale\", not \"equal\". "
                      f"*Fragile* marks a verdict that Holm's adjustment over the scale's claims would undo."]
    return "\n".join(lines)


# ---------------------------------------------------------------- notebook 06's study

def _log_ranges(log_dir: Path, after_step: int) -> Optional[Dict[str, tuple]]:
    """Ranges over IntroVAE's seeds of the logged reconstruction error (after ``after_step``,
    and at the first logged step) and of the KL terms of its reconstructions and samples."""
    logs = sorted(Path(log_dir).glob("seed*/log.jsonl"))
    if not logs:
        return None
    recon_late, recon_first, kl = [], [], []
    for log in logs:
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        recon_first.append(rows[0]["recon"])
        recon_late += [r["recon"] for r in rows if r["step"] > after_step]
        kl += [r[k] for r in rows for k in ("kl_rec", "kl_fake") if k in r]
    return {"late": (min(recon_late), max(recon_late)), "first": (min(recon_first), max(recon_first)),
            "kl": (min(kl), max(kl)), "seeds": len(logs)}


def beyond_block(figures_dir: Path = FIGURES, log_dir: Path = BEYOND_LOGS) -> str:
    """Notebook 06's results in the README: reconstruction RMSE beside seed 003's, the paired
    effect of ex-post GMM sampling, the latent-size sweep and MaskAAE's active dimensions."""
    models, samplers = _table("beyond_models", figures_dir), _table("beyond_samplers", figures_dir)
    latent, nac = _table("beyond_latent", figures_dir), _table("beyond_nac", figures_dir)
    meta = models["meta"]
    st = meta["settings"]
    ms = sorted(models["records"], key=lambda r: r["rmse_test"])
    n = max(r["seeds"] for r in ms)
    ours = ", ".join(f"{r['model']} {r['rmse_test']:.1f} ± {r['rmse_test_ci95']:.1f}" for r in ms)
    seed = [r for r in ms if r["seed003_rmse_test"] is not None]
    seed.sort(key=lambda r: r["seed003_rmse_test"])
    theirs = ", ".join(f"{r['model']} {r['seed003_rmse_test']:.1f}" for r in seed)
    machines = ", ".join(sorted({short_hardware(h) for h in meta["hardware"]}))
    busy = meta.get("busy_wall_seconds")
    wall = "" if busy is None else f" ({busy / 60:.0f} min of wall time, runs side by side)"
    lines = [f"{meta['n_runs']} runs, {meta['train_seconds_total'] / 3600:.1f} h of training{wall} on "
             f"{machines}; records in `{meta['results']}`. At this scale (synthfaces, "
             f"{st['image_size']} px, width {st['width']}, {st['steps']} steps):", "",
             f"- **Reconstruction:** test RMSE (0–255; mean ± 95 % half-width over {n} seeds) {ours}; "
             f"seed 003's test RMSE, in its order: {theirs}."]
    intro = next((r for r in ms if r["model"] == "IntroVAE"), None)
    rng = _log_ranges(log_dir, after_step=200)
    if intro is not None and rng is not None:
        lines[-1] += (f" IntroVAE with the official hyper-parameters (scaled per pixel) did not learn to "
                      f"reconstruct: in each of its {rng['seeds']} seeds' logs the summed squared error stays "
                      f"between {rng['late'][0]:.0f} and {rng['late'][1]:.0f} after step 200 (from "
                      f"{rng['first'][0]:.0f}–{rng['first'][1]:.0f} at the first logged step), while the KL "
                      f"of its reconstructions and samples ranges from {rng['kl'][0]:.0f} to {rng['kl'][1]:.0f} "
                      f"nats; so its diversity (MS-SSIM {intro['ms_ssim']:.2f}) says nothing about seed 003's "
                      f"claim that IntroVAE's samples are the most diverse.")
    gmm = [r for r in samplers["records"] if isinstance(r["gmm_minus_prior"], (int, float))]
    parts = []
    for r in sorted(gmm, key=lambda r: r["gmm_minus_prior"]):
        resolved = r["diff_lo"] is not None and (r["diff_hi"] < 0 or r["diff_lo"] > 0)
        parts.append(f"{r['model']} {interval(r['gmm_minus_prior'], r['diff_lo'], r['diff_hi'], 0)}"
                     + ("" if resolved else ", unresolved"))
    lines.append(f"- **Ex-post GMM sampling:** sample FCD with the GMM minus with the prior, paired over "
                 f"seeds (95 % interval): {'; '.join(parts)}.")
    lines.append(f"- **Latent size** ({st['latent_steps']} steps; seed 004's U-shape): "
                 + " ".join(answers(latent["records"])))
    wae64 = {r["dataset"]: r for r in nac["records"] if r["model"] == "WAE" and r["capacity_m"] == st["mask_latent"]}
    mask = [r for r in nac["records"] if r["model"] == "MaskAAE" and r["dataset"] in wae64]
    if mask:
        lines.append("- **Code correlation** (NAC, mean |off-diagonal correlation| of the test codes, at m = "
                     f"{st['mask_latent']}): " + "; ".join(
                         f"{r['dataset']}: MaskAAE {r['nac']:.2f}, WAE {wae64[r['dataset']]['nac']:.2f}" for r in mask)
                     + ".")
    return "\n".join(lines)


# ---------------------------------------------------------------- the λ calibration

def lambda_block(figures_dir: Path = FIGURES) -> str:
    """The λ calibration in the README: for each WAE, the official balance against the old
    weight (``lambda_sensitivity.json``; one seed, so a size of effect, not a verdict)."""
    d = _table("lambda_sensitivity", figures_dir)
    recs = d["records"]
    parts = []
    for model in dict.fromkeys(r["model"] for r in recs):
        rs = {r["penalty_weight_vs_official"]: r for r in recs if r["model"] == model}
        old, new = rs[max(rs)], rs[1.0] if 1.0 in rs else rs[min(rs)]
        parts.append(f"{model}: reconstruction FCD {old['recon_fcd']:.0f} → {new['recon_fcd']:.0f}, RMSE "
                     f"{old['rmse']:.1f} → {new['rmse']:.1f}, sample FCD {old['sample_fcd']:.0f} → "
                     f"{new['sample_fcd']:.0f}")
    old_rs = max(recs, key=lambda r: r["penalty_weight_vs_official"])["recon_scale"]
    new_rs = next(r["recon_scale"] for r in recs if r["penalty_weight_vs_official"] == 1.0)
    size = d["meta"]["design"]["image_size"]
    return (f"One seed of each WAE at {size} px with the old and the official balance (recon_scale "
            f"{new_rs:g} instead of {old_rs:g}), old → official: {'; '.join(parts)}. One seed each: this "
            f"shows the size of the effect, not a verdict.")


# ---------------------------------------------------------------- the set-up commands' times

COMMAND_TIMES = repo_root() / "results" / "bench" / "command_times.json"
NOTEBOOK_TIMES = repo_root() / "results" / "course" / "notebook_times.json"


def _minutes(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def _venv_size(entry: Mapping[str, Any]) -> str:
    """``"; .venv 6.7 GB on disk afterwards"`` when the record measured the environment, else ``""``."""
    b = entry.get("venv_bytes")
    return f"; `.venv` {b / 1e9:.1f} GB on disk afterwards" if b else ""


def timings_block(figures_dir: Path = FIGURES, command_times: Path = COMMAND_TIMES,
                  notebook_times: Path = NOTEBOOK_TIMES) -> str:
    """How long the two set-up commands took, each with its CPU, date and commit
    (``results/bench/command_times.json``, written by ``benchmarks/command_times.py``), and the
    main notebook's own time (``results/course/notebook_times.json``, written by ``make figures``)."""
    entries = json.loads(Path(command_times).read_text())["entries"] if Path(command_times).is_file() else []
    lines = []
    for name in ("make demo", "make test (fresh clone)"):
        for e in sorted((e for e in entries if e["name"] == name), key=lambda e: e["metadata"]["date_utc"]):
            hw = e["metadata"]["hardware"]
            lines.append(f"- `{name}`: {_minutes(e['wall_seconds'])} on a {hw.get('cpu_count')}-core "
                         f"{hw.get('cpu_name')} ({e['cpu_kind']}), {e['metadata']['date_utc'][:10]}, commit "
                         f"{e['commit'][:7]}; {e['note']}{_venv_size(e)}.")
    nb = json.loads(Path(notebook_times).read_text()) if Path(notebook_times).is_file() else {}
    main = nb.get("notebooks", {}).get("04_wae_resnet", {}).get("default")
    if main:
        lines.append(f"- the main notebook alone (`make figures`, profile default, {main['side_by_side']} notebooks "
                     f"side by side): {_minutes(main['seconds'])} on {main['machine']}, {main['date_utc'][:10]}.")
    return "Measured, each with its machine (`results/bench/command_times.json`):\n\n" + "\n".join(
        lines or ["- no measurement recorded yet: run `benchmarks/command_times.py`"])


# ---------------------------------------------------------------- the runners' measured speed

BENCH = repo_root() / "results" / "bench"


def _machine(meta: Mapping[str, Any]) -> str:
    hw = meta.get("hardware", {})
    return f"{hw.get('cpu_count', '?')}-core {hw.get('cpu_name', '?')}, {str(meta.get('date_utc', '?'))[:10]}"


def _compile_sentence(path: Path) -> Optional[str]:
    """Where ``torch.compile`` pays on the measured CPU kind and after how many steps, by the
    trainer's own rule (:func:`waelib.train.fastpath.compile_break_even_steps`)."""
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    kind = d["device"]["cpu_kind"]
    found = []
    for model, size, threads in sorted(CPU_COMPILE.get(kind, {}), key=lambda k: (k[1], k[2], k[0])):
        n = compile_break_even_steps(model, size, kind, threads=threads)
        if n is not None:
            found.append(f"{MODEL_LABELS.get(model, model)} at {size} px with {threads} thread{'s' * (threads > 1)} "
                         f"(from {n:,} steps)")
    where = (", ".join(found[:-1]) + " and " + found[-1]) if len(found) > 1 else (found[0] if found else "no model")
    return (f"`torch.compile` pays for its cold compile, and the trainer turns it on, only for {where} "
            f"(of {len(CPU_COMPILE.get(kind, {}))} measured model × size × thread settings; "
            f"`results/bench/cpu_compile.json`, {_machine(d['metadata'])})")


def bench_block(figures_dir: Path = FIGURES, bench: Path = BENCH) -> str:
    """The runners' measured speed-ups (``results/bench/``): runs side by side against one at a
    time, ``make demo`` before and after, waelib's WAE-MMD step against pythae's, and the
    thesis run's projected GPU time (a projection, labelled as such)."""
    bench = Path(bench)
    parts = []
    tp = bench / "claims_throughput.json"
    if tp.is_file():
        d = json.loads(tp.read_text())
        arms = {a["arm"]: a for a in d["arms"]}
        parts.append(f"side by side (2 jobs × 1 thread) the runners make {d['ratio_runs_per_hour']:.2f}x the runs "
                     f"per hour of one at a time (2 threads): {arms['side_by_side']['runs']} runs of the claims study "
                     f"at {d['config']['scale']} scale, {arms['sequential']['wall_seconds']:.0f} s against "
                     f"{arms['side_by_side']['wall_seconds']:.0f} s (`results/bench/claims_throughput.json`, "
                     f"{_machine(d['metadata'])})")
    ct = bench / "command_times.json"
    if ct.is_file():
        entries = {e["name"]: e for e in json.loads(ct.read_text())["entries"]}
        before = next((e for n, e in entries.items() if n.startswith("make demo (before")), None)
        after = entries.get("make demo")
        if before and after and before["cpu_kind"] == after["cpu_kind"]:
            parts.append(f"`make demo` {before['wall_seconds']:.0f} s → {after['wall_seconds']:.0f} s with the "
                         f"notebook's runs side by side (`command_times.json`, same CPU kind)")
    py = bench / "pythae_wae_mmd.json"
    if py.is_file():
        d = json.loads(py.read_text())
        r = d["ratio_waelib_to_pythae"]
        parts.append(f"waelib's WAE-MMD step is {r['median']:.2f}x as fast as pythae's on the same network and "
                     f"data (median of {r['n']} rounds, range {r['min']:.2f}–{r['max']:.2f}; "
                     f"`results/bench/pythae_wae_mmd.json`, {_machine(d['metadata'])})")
    compile_note = _compile_sentence(bench / "cpu_compile.json")
    if compile_note:
        parts.append(compile_note)
    plan = bench / "thesis_plan.json"
    if plan.is_file():
        d = json.loads(plan.read_text())
        parts.append(f"the thesis run is planned on paper at about {d['projected_hours_all_five']:.1f} GPU hours "
                     f"for all five models (`results/bench/thesis_plan.json`, {d['kind'].lower()})")
    if not parts:
        return "No benchmark recorded yet (`make bench`)."
    return "Measured: " + "; ".join(parts) + "."


#: Block name -> renderer (``figures_dir`` -> Markdown).
BLOCKS: Dict[str, Callable[..., str]] = {"claims-summary": claims_block, "beyond-summary": beyond_block,
                                         "lambda-summary": lambda_block, "timings": timings_block,
                                         "bench-summary": bench_block}


def stale(readme: Path = README, figures_dir: Path = FIGURES, names: Sequence[str] = tuple(BLOCKS)) -> List[str]:
    """The names of the blocks whose README text differs from a fresh rendering."""
    text = Path(readme).read_text()
    return [n for n in names if current_block(text, n) != BLOCKS[n](figures_dir).strip()]


def update(readme: Path = README, figures_dir: Path = FIGURES, names: Sequence[str] = tuple(BLOCKS)) -> Path:
    """Rewrite the README's blocks ``names`` from the committed figures (atomically)."""
    text = Path(readme).read_text()
    for n in names:
        text = replace_block(text, n, BLOCKS[n](figures_dir))
    atomic_write_text(Path(readme), text)
    return Path(readme)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m waelib.studies.readme_blocks", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="only report stale blocks (exit 1 if any)")
    p.add_argument("--block", action="append", choices=sorted(BLOCKS), help="one block (default: all)")
    p.add_argument("--figures-dir", type=Path, default=FIGURES, help="the rendered tables (default: figures/)")
    p.add_argument("--readme", type=Path, default=README, help="the file with the blocks (default: README.md)")
    a = p.parse_args(argv)
    names = a.block or list(BLOCKS)
    try:
        if a.check:
            bad = stale(a.readme, a.figures_dir, names)
            print("stale README blocks: " + ", ".join(bad) if bad else "README blocks are current")
            return 1 if bad else 0
        print(f"rewrote {', '.join(names)} in {update(a.readme, a.figures_dir, names)}")
        return 0
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
