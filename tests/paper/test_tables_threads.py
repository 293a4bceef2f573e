"""The tables' header says so when trainings ran with other threads than the study's train_threads
(a cluster profile's set-threads), and stays as it was when they did not."""

import json
from pathlib import Path

import pytest
import yaml

from hst.paper.tables import Results

REPO = Path(__file__).resolve().parents[2]


def _study(tmp_path, train_threads, run_threads):
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())  # a whole study: the header reads it
    config.pop("train_threads", None)
    if train_threads is not None:
        config["train_threads"] = train_threads
    (tmp_path / "study.json").write_text(json.dumps({"config": config, "runs": {"a": {}, "b": {}}, "left_out": []}))
    for name, threads in zip("ab", run_threads):
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        cfg = {"threads": threads, "schedule": {"iterations": 4}, "optim": {"batch_size": 2, "lr": 3e-4, "lr_min": 1e-6},
               "data": {"patch_size": 32}}
        env = {"device": {"type": "cpu", "cpu": "x", "torch_threads": threads}, "git": {}}
        (run / "run.json").write_text(json.dumps({"config": cfg, "environment": env}))
    return Results(tmp_path / "study.json")


@pytest.mark.parametrize("study, runs", [(8, (8, 8)), (None, (4, 4)), (2, (None, 2))])
def test_header_is_unchanged_when_the_trainings_used_the_studys_threads(tmp_path, study, runs):
    device = next(line for line in _study(tmp_path, study, runs).header() if line.startswith("device:"))
    assert "train_threads" not in device


def test_header_reports_threads_set_by_a_profile(tmp_path):
    device = next(line for line in _study(tmp_path, 8, (4, 8)).header() if line.startswith("device:"))
    assert "trainings used 4 threads, not the study's train_threads 8 (set by the profile or command line)" in device
