"""Fixtures shared by the tests of evaluation and restoration; one torch thread per test process."""

import os
from pathlib import Path

# The tests' tensors are tiny: a second thread only waits, and under pytest-xdist each worker is one of the
# cores. Set before torch is imported; the processes the tests start inherit it (a training's `threads` still
# sets its own count).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Where a process does use more threads (a study's train_threads: 2, the two-process trainings), an OpenMP thread
# waiting for work sleeps instead of spinning: with the two workers on two cores, spinning threads took the CPU
# the others needed (a 2-thread training beside two busy processes: 20-25 CPU s spinning, 10 s sleeping).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
import torch

from hst.engine.checkpoint import save_checkpoint
from hst.models import build_model


# The longest test files, longest first: pytest-xdist (`--dist loadfile`, no reordering: pyproject.toml) hands out
# whole files in collection order, so the two longest start at once, each on its own worker, the next ones follow
# them, and the short files fill in at the end, where the two workers then finish within seconds of each other
# (with the pipeline files in collection order, the study shapes' 90 s ran last, on one worker). Measured in the
# full suite: docs/performance.md#the-tests.
LONGEST_FIRST = ("tests/pipeline/test_edits.py", "tests/pipeline/test_slurm.py", "tests/pipeline/test_study_shapes.py",
                 "tests/pipeline/test_snakefile.py", "tests/pipeline/test_real_source.py",
                 "tests/engine/test_train_distributed.py", "tests/benchmarks/test_gpu_check.py")


def pytest_collection_modifyitems(config, items):
    """Collect :data:`LONGEST_FIRST`'s tests first (the order of the others, and within a file, kept)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    root = Path(config.rootpath)
    items.sort(key=lambda item: rank.get(Path(item.path).relative_to(root).as_posix(), len(rank)))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: these images are tiny, and a second thread only waits on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained HST-tiny of width 8 (stochastic samplers, ratios [4, 2, 2, 1])."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, build_model("tiny", dim=8))
    return path
