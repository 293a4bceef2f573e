"""The one tiny finished study of a test session: the pipeline tests read it, and those that edit a study
(the study shapes, the Ctrl-C resume, the SLURM run's local reference) start from a copy of it
(tests.helpers.pipeline.copy_study).

It is made once per session, also under pytest-xdist: in a folder every worker sees (the session's base
temporary folder), under a file lock; the first worker to ask makes it, the others wait for it and read it.
It is made whole (pipeline and report) in a folder of its own and renamed into place when finished, and
nothing writes to it afterwards: a test that runs Snakemake on it runs on a copy (Snakemake writes its
locks and records even for a dry run)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from tests.helpers.pipeline import REPO, SHARED_TRAIN_THREADS, snakemake, tiny_study


def _session_root(tmp_path_factory) -> Path:
    """A folder of this test session that every pytest-xdist worker sees (each worker's own base folder is
    inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _make(folder: Path) -> None:
    config = tiny_study(folder, baselines=True, threads=SHARED_TRAIN_THREADS)
    shutil.copytree(REPO / "profiles", folder / "profiles")
    snakemake(folder, "--cores", "2", "--configfile", str(config), "--quiet", "rules")
    snakemake(folder, "--configfile", str(config), "--report", "results/report.html")


@pytest.fixture(scope="session")
def shared_study(tmp_path_factory) -> Path:
    """The tiny study with every kind of baseline (tiny_study(baselines=True)) run through the real Snakefile to
    its tables, report pieces and ``snakemake --report`` page (``results/report.html``), once per session: its
    folder (the study file is ``STUDY_FILE`` in it). Read it; copy it to run anything in it."""
    root = _session_root(tmp_path_factory)
    folder, failed = root / "shared-study", root / "shared-study.failed"
    with FileLock(root / "shared-study.lock"):
        if failed.exists():  # another worker tried: the same error, not a second attempt of minutes
            raise AssertionError(f"the shared study failed in another worker:\n{failed.read_text()}")
        if not folder.exists():
            partial = root / "shared-study.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            try:
                _make(partial)
            except BaseException as exc:
                failed.write_text(str(exc))
                raise
            partial.rename(folder)  # the tiny study's files name each other relatively: a moved study is finished
    return folder


@pytest.fixture(scope="session")
def shared_report(shared_study) -> Path:
    """``snakemake --report`` of the shared study: the page."""
    return shared_study / "results" / "report.html"
