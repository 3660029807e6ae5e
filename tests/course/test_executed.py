"""The executed notebooks a GitHub reader sees: compact copies (no widget or progress-bar
spam, images and quoted-number metadata kept), measured run times, and scratch-by-default paths."""
from __future__ import annotations

import json
from pathlib import Path

from waelib.course import executed, profiles, show
from waelib.studies import beyond_plan
from waelib.utils import repo_root


def _nb():
    return {"metadata": {"widgets": {"state": "big"}, "papermill": {"start_time": "t0", "duration": 3.0,
                                                                  "parameters": {"profile": "smoke"}}},
            "cells": [{"cell_type": "code", "metadata": {"execution": {"iopub.status.busy": "t"},
                                                          "papermill": {"duration": 1.0}},
                       "outputs": [
                           {"output_type": "stream", "name": "stderr", "text": [" 40%|####  | 4/10\r"]},
                           {"output_type": "stream", "name": "stderr", "text": ["a real warning\n"]},
                           {"output_type": "display_data", "metadata": {},
                            "data": {executed.WIDGET_MIME: {"model_id": "x"}, "text/plain": ["HBox()"]}},
                           {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}},
                           {"output_type": "display_data", "data": {"text/markdown": ["FCD 1.0"]},
                            "metadata": {show.QUOTE_METADATA_KEY: [{"source": "f.json"}]}}]}]}


def test_compact_drops_widgets_progress_bars_and_clock_times_but_keeps_images_and_quotes():
    out = executed.compact(_nb())
    kinds = [o.get("name") or next(iter(o.get("data", {})), None) for o in out["cells"][0]["outputs"]]
    assert kinds == ["stderr", "image/png", "text/markdown"]
    assert out["cells"][0]["outputs"][0]["text"] == ["a real warning\n"]
    assert out["cells"][0]["outputs"][2]["metadata"][show.QUOTE_METADATA_KEY] == [{"source": "f.json"}]
    assert "widgets" not in out["metadata"] and "execution" not in out["cells"][0]["metadata"]
    assert out["metadata"]["papermill"] == {"duration": 3.0, "parameters": {"profile": "smoke"}}
    assert _nb()["metadata"]["widgets"], "the input is left as it was"


def test_run_times_are_recorded_per_profile_and_read_by_the_setup_line(tmp_path, monkeypatch):
    path = tmp_path / "times.json"
    executed.record_time(path, "04_wae_resnet", "default", 250.0, side_by_side=2)
    executed.record_time(path, "04_wae_resnet", "smoke", 12.0)
    data = json.loads(path.read_text())
    assert set(data["notebooks"]["04_wae_resnet"]) == {"default", "smoke"}
    monkeypatch.setattr(show, "repo_root", lambda: tmp_path)
    line = show.run_times("04_wae_resnet", source="times.json")
    assert "default 4.2 min (2 notebooks side by side)" in line and "smoke 12 s" in line
    assert "not measured yet" in show.run_times("01_elbo", source="times.json")


def test_notebooks_write_scratch_folders_by_default():
    """A student's run writes under runs/<profile>/; only make figures writes figures/."""
    runs = (repo_root() / "runs").resolve()
    for table in (profiles.PROFILES, profiles.TOY_PROFILES, profiles.DEGRADATION_PROFILES, beyond_plan.PROFILES):
        for name, prof in table.items():
            folder = profiles.resolve_paths(dict(prof))["figures_dir"]
            assert Path(folder).resolve().is_relative_to(runs / name), (name, folder)
    makefile = (repo_root() / "Makefile").read_text()
    assert "--figures-dir figures" in makefile and "--executed notebooks/executed" in makefile
