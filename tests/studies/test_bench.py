"""The benchmark runs on the CPU at a tiny size and writes the documented JSON schema; the CPU
suite (``make bench``) likewise."""
from __future__ import annotations

import json

import torch

from waelib.studies import bench


def test_bench_json_schema(tmp_path, capsys):
    path = tmp_path / "bench.json"
    rc = bench.main(["--model", "wae_resnet", "--image-size", "32", "--width", "0.125",
                     "--batch-size", "4", "--steps", "2", "--warmup", "1", "--device", "cpu",
                     "--json", str(path)])
    assert rc == 0
    assert "img/s" in capsys.readouterr().out
    rep = json.loads(path.read_text())
    assert {"naive", "fast", "device", "config", "metadata"} <= set(rep)
    for k in ("naive", "fast"):
        r = rep[k]
        for key in ("images_per_second", "tflops", "peak_fraction", "peak_memory_bytes"):
            assert key in r, (k, key)
        assert r["images_per_second"] > 0 and r["tflops"] > 0
        assert r["peak_fraction"] is None                   # unknown peak on the CPU
        assert r["peak_memory_bytes"] is None or r["peak_memory_bytes"] > 0
        assert r["flops_per_step"] == rep["naive"]["flops_per_step"] > 0
    assert rep["naive"]["settings"]["amp"] is None and not rep["naive"]["settings"]["channels_last"]
    # CPU "fast" = the trainer's own choice (waelib.train.fastpath); never bf16 unless asked
    from waelib.train.fastpath import cpu_choice
    want, _ = cpu_choice("wae_resnet", 32, 0.125)
    assert rep["fast"]["settings"]["amp"] is None
    assert {"channels_last": rep["fast"]["settings"]["channels_last"],
            "fused": rep["fast"]["settings"]["fused_adam"],
            "compile": rep["fast"]["settings"]["compile"]} == want
    assert rep["device"]["type"] == "cpu" and rep["config"]["model"] == "wae_resnet"
    assert {"hardware", "versions", "git_commit"} <= set(rep["metadata"])


def test_peak_table_lookup():
    assert bench.peak_flops(torch.device("cpu")) is None
    names = {"NVIDIA H200": 989e12, "NVIDIA H100 80GB HBM3": 989e12, "NVIDIA H100 PCIe": 756e12,
             "NVIDIA A100-SXM4-80GB": 312e12, "NVIDIA L40S": 362e12, "NVIDIA L4": 121e12,
             "Tesla P100-PCIE-16GB": None}
    for name, want in names.items():
        got = bench._peak_for_name(name)
        assert got == want, (name, got)


def test_flop_count_covers_forward_and_backward():
    from waelib.train import TrainConfig, Trainer
    cfg = TrainConfig(model="wae_mmd", image_size=32, width=0.125, batch_size=4).resolved(
        torch.device("cpu"))
    tr = Trainer(cfg)
    x = torch.rand(4, 3, 32, 32)
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fwd:
        with torch.no_grad():
            tr.model(x)
    step = bench.count_step_flops(tr, x)
    assert 2.5 * fwd.get_total_flops() < step < 3.5 * fwd.get_total_flops()   # fwd + ~2x bwd


def test_cpu_suite_schema_and_readme_table(tmp_path):
    """The suite (``make bench``): alternating windows of naive and the trainer's own choice,
    a JSON report and the Markdown table rewritten between the README markers."""
    path, readme = tmp_path / "suite.json", tmp_path / "README.md"
    readme.write_text(f"intro\n\n{bench.README_BEGIN}\nold table\n{bench.README_END}\n\noutro\n")
    rc = bench.main(["--suite", "--models", "wae_mmd", "--sizes", "32", "--rounds", "2",
                     "--warmup", "1", "--paths", "naive,auto", "--threads", "2",
                     "--json", str(path), "--readme", str(readme)])
    assert rc == 0
    rep = json.loads(path.read_text())
    (res,) = rep["results"]
    assert (res["model"], res["image_size"], res["batch_size"]) == ("wae_mmd", 32, 64)
    naive, auto = res["paths"]["naive"], res["paths"]["auto"]
    assert naive["settings"] == {"amp": None, "channels_last": False, "fused": False, "compile": False}
    from waelib.train.fastpath import cpu_choice
    want, _ = cpu_choice("wae_mmd", 32, 0.125)
    assert {k: auto["settings"][k] for k in want} == want and auto["settings"]["amp"] is None
    for rec in (naive, auto):
        assert len(rec["window_images_per_second"]) == 2 and rec["images_per_second"]["median"] > 0
        assert rec["ratio_to_naive"]["n"] == 2 and rec["cpu_time_ratio_to_naive"]["median"] > 0
    assert naive["ratio_to_naive"]["median"] == 1.0
    assert {"cpu_kind", "torch_threads"} <= set(rep["device"]) and "hardware" in rep["metadata"]
    text = readme.read_text()
    assert text.startswith("intro") and text.rstrip().endswith("outro") and "old table" not in text
    assert "| wae_mmd | 32 px |" in text
