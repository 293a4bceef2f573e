"""benchmarks/gpu_check.py end to end in its CPU mode: every stage, a real kill and resume, one summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
STAGES = ["data", "train", "resume", "bench", "multi-gpu"]


def gpu_check(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}  # the CPU mode, even on a GPU machine
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_cpu_mode_runs_every_stage_and_resumes_a_killed_training(tmp_path):
    proc = gpu_check("--out", str(tmp_path / "check.json"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads((tmp_path / "check.json").read_text())
    stages = {st["name"]: st for st in report["stages"]}
    assert [st["name"] for st in report["stages"]] == STAGES
    assert {st["status"] for st in report["stages"]} == {"PASS"} and report["result"] == "PASS"
    assert report["gpu"] is False and "NONE of these figures is a GPU figure" in report["not_gpu_figures"]
    assert "NONE of these figures is a GPU figure" in proc.stdout and "RESULT: PASS" in proc.stdout

    # The training was really stopped mid-way by the signal and picked up at its checkpoint.
    resume = stages["resume"]["figures"]
    assert resume["signal"] == "SIGINT" and resume["segments"] == ["interrupted", "finished"]
    assert 0 < resume["killed_at"] == resume["resumed_at"] < resume["final_iteration"]
    assert resume["log_iterations"] == list(range(4, resume["final_iteration"] + 1, 4))
    train = stages["train"]["figures"]
    assert train["weights_finite"] and train["loss_last_row"] < train["loss_first_row"]
    assert train["width"] == 8 and train["compiled"] == [False, False]

    rows = stages["bench"]["figures"]["rows"]
    assert [(r["model"], r["mode"]) for r in rows] == [
        ("HST-tiny", "eager"), ("HST-tiny", "compiled"), ("HST-double", "eager"), ("HST-double", "compiled")]
    assert all(r["images_per_s"] > 0 for r in rows)
    multi = stages["multi-gpu"]["figures"]
    assert multi["world_size"] == 2 and multi["images_per_s_1"] > 0 and multi["images_per_s_2"] > 0
    assert multi["weights_rel_gap"] < 1e-4  # float32 on the CPU: the same weights to rounding


@pytest.mark.slow
def test_a_stage_past_its_time_limit_fails_the_check(tmp_path):
    proc = gpu_check("--out", str(tmp_path / "check.json"), "--limit-scale", "1e-4")
    assert proc.returncode == 1
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["result"] == "FAIL" and [st["name"] for st in report["stages"]] == STAGES
    assert {st["status"] for st in report["stages"]} == {"FAIL"}
    assert "over the stage's time limit" in report["stages"][0]["detail"]
    assert "over the stage's time limit" in report["stages"][3]["detail"]  # the benchmark too
    assert "RESULT: FAIL (data, train, resume, bench, multi-gpu)" in proc.stdout
