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

    measured = []

    def fake(config):
        measured.append(config)
        return (12.5 if config["model"]["arch"] == "hst" else 5.0), f"measured here at {config['data']['patch_size']}"

    monkeypatch.setattr(hst.study.plan, "measure_throughput", fake)
    out = plan(capsys)
    assert "12.5 images/s for HST-tiny (measured here at 32" in out
    # PReNet (the default study's baseline) is measured with its own recipe, and its runs are timed from that.
    prenet = "config/recipes/prenet-synthetic.yaml"
    assert measured == [load_config("config/recipes/synthetic.yaml", ["model.variant=tiny"]), load_config(prenet)]
    assert f"5 images/s for {prenet} (measured here at 32)" in out
    assert row(out, "derain-prenet")[-2] == "5" and row(out, "ablation-prenet-s0")[-2] == "5"


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
        rate, how = measure_throughput(load_config(None, ["data.patch_size=32"]), steps=1)
        prenet_rate, prenet_how = measure_throughput(load_config(REPO / "config/recipes/prenet-synthetic.yaml"), steps=1)
    finally:
        torch.set_num_threads(old)
    assert rate > 0 and "HST-tiny, batch" in how and "32x32" in how and "AdamW lr 0.0003 weight decay 0.02, l1 loss" in how
    assert prenet_rate > 0 and "PReNet, batch" in prenet_how and "AdamW lr 0.001 weight decay 0, neg_ssim loss" in prenet_how


@pytest.mark.parametrize("recipe", ["synthetic", "prenet-synthetic", "paper", "prenet-paper"])
def test_the_timed_step_is_the_recipes_own(recipe):
    """`hst plan` and the benchmarks time the state the trainer trains: the recipe's own optimiser (class and
    settings), lr schedule, loss and gradient clipping, from the one builder (hst.engine.state)."""
    import torch

    from hst.engine.state import lr_factor
    from hst.study.plan import TrainingStep

    config = load_config(REPO / "config/recipes" / f"{recipe}.yaml", ["data.patch_size=16"])
    step = TrainingStep(config, 1, torch.device("cpu"), total=100)
    state, optim = step.state, config["optim"]
    assert type(state.optimizer) is torch.optim.AdamW  # weight_decay 0 (PReNet's): Adam's update
    group = state.optimizer.param_groups[0]
    assert (group["initial_lr"], group["betas"], group["weight_decay"]) == (optim["lr"], tuple(optim["betas"]), optim["weight_decay"])
    assert {id(p) for p in group["params"]} == {id(p) for p in state.net.parameters()}
    assert state.grad_clip == optim["grad_clip"]
    expected = lr_factor(optim, 100)
    assert [state.scheduler.lr_lambdas[0](t) for t in (0, 29, 30, 50, 99)] == [expected(t) for t in (0, 29, 30, 50, 99)]
    x = torch.rand(1, 3, 16, 16)
    loss = float(state.loss_fn(x, x))
    assert loss == (-1.0 if config["loss"]["name"] == "neg_ssim" else 0.0)
    assert type(state.net).__name__ == ("PReNet" if recipe.startswith("prenet") else "HST")
    before = [p.detach().clone() for p in state.net.parameters()]
    step()
    assert state.scheduler.last_epoch == 1 and any(not torch.equal(a, b) for a, b in zip(before, state.net.parameters()))
