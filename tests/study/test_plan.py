"""`hst plan`: every training of a study sized from its recipe and set, timed from a throughput; bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import hst.models.complexity
from hst.cli import main
from hst.engine.config import load_config
from hst.study import Study

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def quick_macs(monkeypatch):
    """MACs proportional to the LGL blocks (PReNet: its stages) and the pixels (fvcore itself is tested with Table 1)."""
    monkeypatch.setattr(hst.models.complexity, "count_macs", lambda model, size: (
        sum(model.config.get("num_blocks", [model.config.get("stages", 0)])) * size * size, {}))


def plan(capsys, *args: str) -> str:
    assert main(["plan", *args]) == 0
    return capsys.readouterr().out


def row(text: str, name: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return re.split(r"\s{2,}", line.strip())


def test_paper_study(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    out = plan(capsys, "--configfile", "config/paper.yaml", "--throughput", "400")
    # 250 epochs of 13,711 // 32 batches; 3000 of 2,103 // 32; 100 of 1,800 x 20 patches // 32 (five ablation runs).
    assert row(out, "derain-tiny")[6:9] == ["107,000", "3,424,000", "0.00"]
    assert row(out, "deblur-tiny")[6] == "195,000"
    assert row(out, "ablation-tiny-grid")[6] == "112,500"
    assert row(out, "derain-tiny")[-2:] == ["400", f"{3_424_000 / 400 / 3600:.1f} h"]
    # HST-double: twice the blocks, twice the MACs here, half the throughput.
    assert row(out, "ablation-double-stochastic")[-2:] == ["200", f"{3_600_000 / 200 / 3600:.1f} h"]
    # PReNet beside them (experiments.*.baselines), on HST's budget of images; here 6 stages against 4 blocks.
    assert row(out, "derain-prenet")[1:2] == ["PReNet"] and row(out, "derain-prenet")[6:8] == ["107,000", "3,424,000"]
    assert row(out, "ablation-prenet")[-2] == "267"
    assert row(out, "total")[1:4] == ["9 trainings", "1,084,000", "34,688,000"]
    total_h = ((3_424_000 + 6_240_000 + 4 * 3_600_000) / 400 / 3600 + 3_600_000 / 200 / 3600
               + (3_424_000 + 3_600_000) / (400 * 4 / 6) / 3600)
    assert f"total: {total_h:.1f} h of training" in out
    assert "downloads 13.2 GB" in out  # the pinned archives, each counted once
    assert "Deraining-test.zip (shared)" in out and "RealBlur_R-test.zip: size not pinned" in out


def test_default_study_iterates_over_the_study_runs(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    out = plan(capsys, "--throughput", "10")
    study = Study.from_file(REPO / "config/config.yaml")
    assert len(study.runs) > 1
    for name, run in study.runs.items():
        config = load_config(study.recipe, run.train_args())
        assert row(out, name)[5] == str(config["optim"]["batch_size"])
    assert row(out, "total")[1] == f"{len(study.runs)} trainings"
    assert "downloads 0 B" in out and "synthesised" in out


def test_measures_the_throughput_when_not_given(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    import hst.study.plan

    monkeypatch.setattr(hst.study.plan, "measure_throughput", lambda patch: (12.5, f"measured here at {patch}"))
    out = plan(capsys)
    assert "12.5 images/s for HST-tiny (measured here at" in out


def test_human_time():
    from hst.study.plan import human_time

    assert [human_time(s) for s in (5, 600, 7200, 3 * 86400)] == ["5 s", "10 min", "2.0 h", "3 days"]


@pytest.mark.parametrize("args, message", [
    (["--throughput", "0"], "error: --throughput: 0.0 is not a positive number of images per second"),
    (["--configfile", "nope.yaml"], "error: nope.yaml: cannot read"),
])
def test_bad_input_is_one_line(capsys, monkeypatch, args, message):
    monkeypatch.chdir(REPO)
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_measured_throughput_on_this_machine():
    import torch

    from hst.study.plan import measure_throughput

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rate, how = measure_throughput(32, steps=1)
    finally:
        torch.set_num_threads(old)
    assert rate > 0 and "HST-tiny, batch" in how and "32x32" in how
