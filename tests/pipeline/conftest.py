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


class SessionFolder:
    """A folder made once per test session for every pytest-xdist worker: under a file lock in the session's
    folder, made by ``make`` in a folder of its own and renamed into place when whole; a failure is kept and
    raised to every worker that asks after it (not tried again for minutes each)."""

    def __init__(self, tmp_path_factory, name: str):
        self.root = _session_root(tmp_path_factory)
        self.name = name

    def get(self, make) -> Path:
        folder, failed = self.root / self.name, self.root / f"{self.name}.failed"
        with FileLock(self.root / f"{self.name}.lock"):
            if failed.exists():
                raise AssertionError(f"{self.name} failed in another worker:\n{failed.read_text()}")
            if not folder.exists():
                partial = self.root / f"{self.name}.partial"
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir()
                try:
                    make(partial)
                except BaseException as exc:
                    failed.write_text(str(exc))
                    raise
                partial.rename(folder)
        return folder


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
    # The tiny study's files name each other relatively: the study renamed into place is finished.
    return SessionFolder(tmp_path_factory, "shared-study").get(_make)


@pytest.fixture(scope="session")
def shared_report(shared_study) -> Path:
    """``snakemake --report`` of the shared study: the page."""
    return shared_study / "results" / "report.html"


# Table 1's inputs, the complexity and readings rules' outputs (workflow/rules/complexity.smk).
COMPLEXITY = "results/complexity"


def _complexity(folder: Path) -> None:
    """The complexity and readings rules run by Snakemake in a tiny study (they read no data)."""
    config = tiny_study(folder)
    snakemake(folder, f"{COMPLEXITY}/complexity.csv", f"{COMPLEXITY}/readings.csv", "--cores", "2",
              "--configfile", str(config), "--quiet", "rules")


@pytest.fixture(scope="session")
def complexity_outputs(tmp_path_factory) -> Path:
    """Table 1's inputs, a study's ``results/complexity/`` (complexity.csv, readings.csv), made once per session by
    the complexity and readings rules: they depend on the code alone, not on the study. A study whose
    test is not about them (the edit matrix, the real-source study) starts with a copy instead of half a minute of
    fvcore's traces; the shared study and the SLURM run make theirs in their own pipelines."""
    return SessionFolder(tmp_path_factory, "complexity").get(_complexity) / COMPLEXITY
