"""The README's result paragraphs are rendered from the committed result files, never typed."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from waelib.studies import readme_blocks as rb
from waelib.utils import repo_root

ROOT = repo_root()
COLUMNS = ["claim", "scale", "source", "statement", "thesis_a", "thesis_b", "n_seeds", "mean_diff", "ci_lo",
           "ci_hi", "mde", "p", "p_holm", "verdict", "fragile"]


def _claims_json(tmp: Path, c1_mean: float, verdict: str = "inconclusive at this scale", fragile: bool = False):
    meta = {s: {"design": {"image_size": px}, "runs": 3, "train_seconds_total": 1800.0,
                "hardware": ["AMD EPYC (2 cores, AVX512)"], "results": f"results/claims/{s}/"}
            for s, px in (("primary", 64), ("second", 32))}
    rows = [["C1", s, "Table 4.4", "WAE-ResNet has a lower sample FID than WAE", 5.7, 5.8, 3, c1_mean,
             c1_mean - 10, c1_mean + 10, 12.3, 0.2, 0.4, verdict, fragile] for s in meta]
    rows.append(["C5", "primary", "both", "both WAEs beat both VAEs", None, None, 3, None, None, None, None,
                 None, None, "supported", True])
    (tmp / "claims.json").write_text(json.dumps({"columns": COLUMNS, "rows": rows, "meta": meta}))
    return tmp


def test_the_committed_readme_blocks_equal_a_fresh_rendering():
    assert rb.stale() == [], "a README block is stale: run python -m waelib.studies.readme_blocks"


def test_replace_block_keeps_the_rest_and_names_a_missing_block():
    text = "intro\n<!-- x:start -->\nold 1.0\n<!-- x:end -->\nrest\n"
    out = rb.replace_block(text, "x", "new 2.0\n")
    assert out == "intro\n<!-- x:start -->\nnew 2.0\n<!-- x:end -->\nrest\n"
    assert rb.current_block(out, "x") == "new 2.0"
    with pytest.raises(ValueError, match="no y block"):
        rb.replace_block(text, "y", "z")
    with pytest.raises(ValueError, match="no x block"):           # markers in the wrong order
        rb.replace_block("<!-- x:end -->\n<!-- x:start -->\n", "x", "z")


def test_signed_numbers_and_intervals():
    assert rb.signed(46.839) == "+46.8" and rb.signed(-4.2297) == "−4.2"
    assert rb.signed(-0.04) == "+0.0"                               # no "−0.0"
    assert rb.interval(46.839, -4.2297, 97.908) == "+46.8 (−4.2 to +97.9)"
    assert rb.interval(1.0, None, None) == "+1.0" and rb.interval(None, None, None) == "n/a"


def test_claims_block_follows_the_numbers(tmp_path):
    block = rb.claims_block(_claims_json(tmp_path, 46.84))
    assert "| C1 | WAE-ResNet has a lower sample FID than WAE | +46.8 (+36.8 to +56.8) | 12.3 |" in block
    assert "inconclusive at this scale at 64 px (point estimate +46.8 FCD, favouring WAE)" in block
    assert "6 runs (3 at 64 px, 3 at 32 px; 1.0 h of training" in block
    assert "| C5 | both WAEs beat both VAEs | n/a |  | supported (fragile) | no runs |" in block
    flipped = rb.claims_block(_claims_json(tmp_path, -30.0, "supported", fragile=True))
    assert "supported (fragile) at 32 px (point estimate −30.0 FCD, favouring WAE-ResNet)" in flipped


def test_a_changed_result_makes_its_block_stale(tmp_path):
    figs = tmp_path / "figures"
    shutil.copytree(ROOT / "figures", figs, ignore=shutil.ignore_patterns("*.png", "*.pdf"))
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    d = json.loads((figs / "lambda_sensitivity.json").read_text())
    d["rows"][0][d["columns"].index("recon_fcd")] += 50.0
    (figs / "lambda_sensitivity.json").write_text(json.dumps(d))
    assert rb.stale(readme, figs) == ["lambda-summary"]
    rb.update(readme, figs)
    assert rb.stale(readme, figs) == []


def test_the_command_line_names_a_missing_result_without_a_traceback(tmp_path, capsys):
    assert rb.main(["--check", "--block", "claims-summary", "--figures-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "claims.json is missing" in err and "Traceback" not in err


def test_short_hardware():
    rec = "cpu_capability=AVX512, cpu_count=2, cpu_name=AMD EPYC, cuda_available=False, processor=x86_64"
    assert rb.short_hardware(rec) == "AMD EPYC (2 cores, AVX512)"
    assert rb.short_hardware("something else") == "something else"


def _entry(name: str, **extra) -> dict:
    meta = {"date_utc": "2026-12-01T19:51:51+00:00", "hardware": {"cpu_count": 2, "cpu_name": "AMD EPYC"}}
    return {"name": name, "wall_seconds": 368.8, "cpu_kind": "AuthenticAMD/AVX512", "commit": "1607b43abc",
            "note": "fresh git clone", "metadata": meta, **extra}


def test_timings_block_gives_the_venv_size_only_where_it_was_measured(tmp_path):
    ct = tmp_path / "command_times.json"
    ct.write_text(json.dumps({"entries": [_entry("make test (fresh clone)", venv_bytes=6_746_533_888),
                                          _entry("make demo")]}))
    block = rb.timings_block(tmp_path, ct, tmp_path / "absent.json")
    assert "- `make test (fresh clone)`: 6 min 9 s on a 2-core AMD EPYC (AuthenticAMD/AVX512), 2026-12-01, " \
           "commit 1607b43; fresh git clone; `.venv` 6.7 GB on disk afterwards." in block
    assert "- `make demo`: 6 min 9 s on a 2-core AMD EPYC (AuthenticAMD/AVX512), 2026-12-01, commit 1607b43; " \
           "fresh git clone." in block


def test_command_times_counts_disk_use_as_du_does(tmp_path):
    """benchmarks/command_times.py's venv size against GNU du on a folder with a hard link."""
    if shutil.which("du") is None:
        pytest.skip("no du on this machine")
    spec = importlib.util.spec_from_file_location("command_times", ROOT / "benchmarks" / "command_times.py")
    ct = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ct)
    d = tmp_path / "v"
    (d / "lib").mkdir(parents=True)
    (d / "lib" / "a.bin").write_bytes(b"x" * 100_000)
    (d / "lib" / "small").write_text("y")
    (d / "b.bin").hardlink_to(d / "lib" / "a.bin")          # counted once, as du does
    out = subprocess.run(["du", "-s", "-B1", str(d)], capture_output=True, text=True, check=True).stdout
    du_bytes = int(out.split()[0]) - os.lstat(d).st_blocks * 512   # du also counts the folder itself
    assert ct.disk_bytes(d) == du_bytes
