"""The one tiny finished study of a test session: the pipeline tests read it, and those that edit a study
(the edit matrix, the study shapes) start from a copy of it (tests.helpers.pipeline.copy_study)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.pipeline import REPO, STUDY_FILE, snakemake, tiny_study


@pytest.fixture(scope="session")
def shared_study(tmp_path_factory) -> Path:
    """The tiny study with every kind of baseline (tiny_study(baselines=True)) run through the real Snakefile to
    its tables and report pieces, once per session: its folder (the study file is ``STUDY_FILE`` in it).
    Read it; copy it to edit it."""
    tmp = tmp_path_factory.mktemp("shared-study")
    config = tiny_study(tmp, baselines=True)
    shutil.copytree(REPO / "profiles", tmp / "profiles")
    snakemake(tmp, "--cores", "2", "--configfile", str(config), "--quiet", "rules")
    return tmp


@pytest.fixture(scope="session")
def shared_report(shared_study) -> Path:
    """``snakemake --report`` of the shared study: the page."""
    snakemake(shared_study, "--configfile", str(shared_study / STUDY_FILE), "--report", "results/report.html")
    return shared_study / "results" / "report.html"
