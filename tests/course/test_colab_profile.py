"""The colab profile is what its projection says (results/course/colab_projection.json, from the
FLOP counts of benchmarks/colab_projection.py): the settings are taken from it, not typed twice."""
import json

from waelib.course import profiles
from waelib.studies import beyond_plan
from waelib.utils import repo_root


def test_colab_profile_uses_the_projected_size_and_steps():
    proj = json.loads((repo_root() / "results" / "course" / "colab_projection.json").read_text())
    assert proj["kind"].startswith("PROJECTION")
    colab = profiles.PROFILES["colab"]
    assert {k: colab[k] for k in proj["profile"]} == proj["profile"]
    assert proj["projected_training_minutes_all_five"] <= proj["assumptions"]["train_budget_seconds"] / 60
    assert colab["device"] == "auto" and "colab" in beyond_plan.PROFILES
