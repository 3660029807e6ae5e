"""The studies' shared runner pieces: the provenance (the busy wall time is the union of the
runs' intervals, checked against a brute-force count of the seconds in which some run was in
flight) and the command line's exit codes and messages."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from waelib.studies import runner

T0 = datetime(2026, 12, 1, 14, 0, 0, tzinfo=timezone.utc)


def _rec(start_s: int, length_s: int, **kw) -> dict:
    fmt = "%Y-%m-%dT%H:%M:%S%z"
    return {"started": (T0 + timedelta(seconds=start_s)).strftime(fmt),
            "finished": (T0 + timedelta(seconds=start_s + length_s)).strftime(fmt), **kw}


def test_busy_seconds_is_the_union_of_the_run_intervals():
    rng = random.Random(0)
    for _ in range(20):
        spans = [(rng.randrange(0, 3000), rng.randrange(1, 400)) for _ in range(rng.randrange(1, 12))]
        busy = [False] * 4000
        for a, n in spans:
            busy[a:a + n] = [True] * n
        assert runner.busy_seconds([_rec(a, n) for a, n in spans]) == sum(busy)


def test_busy_seconds_by_hand_and_without_times():
    side_by_side = [_rec(0, 100), _rec(50, 100)]            # overlap: 150 s, not 200
    later_session = [_rec(10_000, 60)]                      # a gap between sessions does not count
    assert runner.busy_seconds(side_by_side + later_session) == 210
    assert runner.busy_seconds([{"status": "done"}]) is None


def test_run_provenance_counts_runs_machines_and_times():
    hw = {"cpu_name": "AMD EPYC", "cpu_count": 2}
    recs = [_rec(0, 100, status="done", train_seconds=90.0, eval_seconds=10.0,
                 metadata={"date_utc": "2026-12-01T14:00:00+00:00", "hardware": hw, "git_commit": "abc"}),
            _rec(50, 100, status="diverged", train_seconds=40.0, eval_seconds=0.0,
                 metadata={"date_utc": "2026-12-01T14:00:50+00:00", "hardware": hw, "git_commit": "abc"})]
    p = runner.run_provenance(recs, Path("results/x"))
    assert (p["n_runs"], p["n_diverged"], p["busy_wall_seconds"]) == (2, 1, 150.0)
    assert (p["train_seconds_total"], p["eval_seconds_total"]) == (130.0, 10.0)
    assert p["hardware"] == ["cpu_count=2, cpu_name=AMD EPYC"] and p["commits"] == ["abc"]
    assert p["first_run_utc"].startswith("2026-12-01T14:00:00") and p["results"].endswith("results/x")


def _cli(body, check=None, argv=()):
    p = runner.study_parser("python -m a.study", "A study.\n\nMore.", profiles=("default", "smoke"))
    return runner.run_cli(p, p.parse_args(list(argv)), body, check)


def test_the_study_command_line_exit_codes_and_messages(capsys):
    seen = {}
    assert _cli(lambda jobs: seen.update(jobs=jobs), argv=["--jobs", "2", "--limit", "3"]) == 0
    assert seen == {"jobs": 2}

    def interrupted(jobs):
        raise KeyboardInterrupt("stopped by SIGINT: checkpoints saved")

    assert _cli(interrupted) == 130
    assert "interrupted: stopped by SIGINT" in capsys.readouterr().err

    def missing(jobs):
        raise FileNotFoundError("results/x/eval.json is missing: run the study first")

    assert _cli(missing) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: results/x/eval.json is missing: run the study first" and "Traceback" not in err

    def bad_profile():
        raise ValueError("unknown profile 'nope'")

    with pytest.raises(SystemExit) as e:            # a usage error: argparse's message, exit 2
        _cli(lambda jobs: None, check=bad_profile)
    assert e.value.code == 2 and "unknown profile 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _cli(lambda jobs: None, argv=["--jobs", "many"])
