"""Shared pytest set-up: headless matplotlib, deterministic seeds, modest thread use, and
clean skips for tests that need a GPU or the real Inception weights."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # Under pytest-xdist (`make test`: -n 2 --dist loadfile on 2 cores) the cores are shared
    # with the other worker and with the notebook kernels and subprocesses (which inherit this):
    # OpenMP threads that spin while waiting for a descheduled sibling made small-model runs up
    # to 5x slower (measured: notebook 06 62 s instead of 13 s). Passive waiting sleeps instead.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

# Two threads on the 2-core machines this suite is sized for; under pytest-xdist (the Makefile
# runs ``-n 2 --dist loadfile``) the cores are shared out between the workers, so that two
# workers do not run four threads on two cores.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _workers)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
