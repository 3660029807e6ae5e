"""The smoke runs of the notebooks that share no runs with another (every notebook but 03, 04 and
05, which tests/test_notebooks.py runs in turn on one session folder). A file of its own so that
``make test`` (pytest-xdist, ``--dist loadfile``) can run these beside that file: together they
are the suite's largest share, and in one file they ran on one worker."""
from __future__ import annotations

import pytest
from test_notebooks import INDEPENDENT_PATHS, smoke_run


@pytest.mark.parametrize("path", INDEPENDENT_PATHS, ids=[p.stem for p in INDEPENDENT_PATHS])
def test_notebook_runs_with_smoke_profile(path, tmp_path):
    smoke_run(path, tmp_path, None)
