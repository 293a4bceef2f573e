"""The trainer: run folder contents, bit-exact resume after a crash or SIGKILL, NaN stop, bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import hst.engine.state as state_mod
import hst.engine.train as train_mod
from hst.engine.checkpoint import load_checkpoint, load_model
from hst.cli import main
from hst.engine.config import build_config
from hst.errors import CheckpointError, ConfigError, DataError, HSTError
from hst.engine.train import TrainingDiverged, cosine_factor, epoch_order, train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rain_set(tmp_path_factory) -> Path:
    """A 4-pair synthetic rain twin of 40 x 40 images."""
    from hst.data.synth import make_twin

    return make_twin("RainTrainH", tmp_path_factory.mktemp("data"), count=4, size=(40, 40), seed=3)


SMALL = [
    "data.patch_size=32", "data.patches_per_image=2", "optim.batch_size=2", "model.dim=8", "schedule.iterations=8",
    "schedule.log_every=2", "schedule.checkpoint_every=3", "threads=1", "device=cpu", "seed=5",
]


def overrides(train_set: Path, *extra: str) -> list[str]:
    """A tiny, fast run: width 8, 32 x 32 patches, batch 2, 4 iterations per epoch, 1 thread."""
    return [f"data.train_set={train_set}", *SMALL, *extra]


def small(train_set: Path, *extra: str) -> dict:
    return build_config({}, overrides(train_set, *extra))


def cli_sets(train_set: Path, *extra: str) -> list[str]:
    return [arg for item in overrides(train_set, *extra) for arg in ("--set", item)]


def state_of(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def log_rows(run: Path) -> list[dict[str, str]]:
    with (run / "train_log.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


class FailAt:
    """The real loss until call ``n``, where it crashes, returns NaN, or returns a finite value with NaN gradients."""

    def __init__(self, real, n: int, what: str):
        self.real, self.n, self.what, self.calls = real, n, what, 0

    def __call__(self, out, target):
        self.calls += 1
        loss = self.real(out, target)
        if self.calls == self.n:
            if self.what == "crash":
                raise RuntimeError("simulated crash")
            if self.what == "nan":
                return loss * float("nan")
            if self.what == "nan-grad":  # d sqrt(x)/dx at 0 is inf, times 0: NaN gradients, finite value
                return loss + 0.0 * torch.sqrt(out * 0.0).sum()
        return loss


def inject(monkeypatch, n: int, what: str) -> None:
    real_build = state_mod.build_loss
    monkeypatch.setattr(state_mod, "build_loss", lambda config: FailAt(real_build(config), n, what))


# ----------------------------------------------------------------------------- pieces


def test_cosine_schedule_runs_from_lr_to_lr_min():
    assert cosine_factor(0, 100, 3e-4, 1e-6) == pytest.approx(1.0)
    assert cosine_factor(100, 100, 3e-4, 1e-6) * 3e-4 == pytest.approx(1e-6)
    assert cosine_factor(50, 100, 3e-4, 1e-6) * 3e-4 == pytest.approx((3e-4 + 1e-6) / 2)
    values = [cosine_factor(t, 100, 3e-4, 1e-6) for t in range(101)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_warmup_rises_linearly_then_the_cosine_takes_over():
    assert [cosine_factor(t, 100, 1e-3, 1e-5, warmup=4) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cosine_factor(10, 100, 1e-3, 1e-5, warmup=4) == cosine_factor(10, 100, 1e-3, 1e-5)
    assert cosine_factor(100, 100, 1e-3, 1e-5, warmup=4) * 1e-3 == pytest.approx(1e-5)


def test_logged_lr_follows_the_warmup(rain_set, tmp_path):
    train(small(rain_set, "optim.warmup_iterations=4", "optim.lr=1e-3", "schedule.log_every=1"), tmp_path, progress=False)
    lrs = [float(row["lr"]) for row in log_rows(tmp_path)]
    assert lrs[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])


def test_gradient_clipping_bounds_each_step(rain_set, tmp_path):
    """optim.grad_clip: every step's gradients are rescaled to that global L2 norm before AdamW steps."""
    import hst.engine.train as T

    seen = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        total = real(params, max_norm, *args, **kwargs)
        seen.append((float(total), float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None]))), max_norm))
        return total

    T.torch.nn.utils.clip_grad_norm_ = spy
    try:
        train(small(rain_set, "optim.grad_clip=0.001", "schedule.iterations=3"), tmp_path / "clip", progress=False)
    finally:
        T.torch.nn.utils.clip_grad_norm_ = real
    assert len(seen) == 3
    for before, after, max_norm in seen:
        assert max_norm == 0.001 and before > max_norm and after == pytest.approx(max_norm, rel=1e-3)
    train(small(rain_set, "schedule.iterations=3"), tmp_path / "plain", progress=False)
    clipped, plain = state_of(tmp_path / "clip" / "model.pt"), state_of(tmp_path / "plain" / "model.pt")
    assert any(not torch.equal(clipped[k], plain[k]) for k in plain)


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    a = epoch_order(10, 1, 0)
    assert sorted(a.tolist()) == list(range(10))
    assert np.array_equal(a, epoch_order(10, 1, 0))
    assert not np.array_equal(a, epoch_order(10, 1, 1))
    assert not np.array_equal(a, epoch_order(10, 2, 0))


def test_charbonnier_loss():
    config = build_config({}, ["loss.name=charbonnier", "loss.eps=0.5"])
    out, target = torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0])
    expected = (0.5 + math.sqrt(1 + 0.25)) / 2
    assert float(train_mod.build_loss(config)(out, target)) == pytest.approx(expected)
    assert float(train_mod.build_loss(build_config())(out, target)) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- a run


def test_run_folder_contents(rain_set, tmp_path):
    run = tmp_path / "run"
    record = train(small(rain_set), run, progress=False)
    assert {p.name for p in run.iterdir()} >= {"checkpoint.pt", "model.pt", "train_log.csv", "run.json"}
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    rows = log_rows(run)
    assert [int(r["iteration"]) for r in rows] == [2, 4, 6, 8]
    assert [int(r["epoch"]) for r in rows] == [0, 0, 1, 1]
    assert all(math.isfinite(float(r["loss"])) and float(r["images_per_s"]) > 0 for r in rows)
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < 3e-4

    info = json.loads((run / "run.json").read_text())
    assert info == json.loads(json.dumps(record))
    assert info["status"] == "finished" and info["iteration"] == 8 and info["iterations"] == 8
    assert info["config"] == small(rain_set) and info["seed"] == 5
    assert info["data"]["iterations_per_epoch"] == 4 and info["data"]["images"] == 4
    assert info["train_seconds"] > 0 and len(info["segments"]) == 1
    segment = info["segments"][0]
    # The first step (compilation, with `compile`) is timed apart from train_seconds.
    assert info["first_step_seconds"] == segment["first_step_seconds"] > 0
    assert segment["seconds"] >= info["train_seconds"] + info["first_step_seconds"]
    assert segment["status"] == "finished" and segment["start_iteration"] == 0 and segment["end_iteration"] == 8
    assert segment["versions"]["torch"] == torch.__version__ and segment["device"]["type"] == "cpu"
    assert "commit" in segment["git"]

    model, ckpt = load_model(run / "model.pt")
    assert ckpt["run"]["iterations"] == 8 and ckpt["run"]["config"]["seed"] == 5
    assert ckpt["run"]["first_step_seconds"] == info["first_step_seconds"]
    assert model.config["dim"] == 8
    resumable = load_checkpoint(run / "checkpoint.pt")  # weights_only=True
    assert resumable["iteration"] == 8 and resumable["epoch"] == 2
    assert isinstance(resumable["rng"]["torch_cpu"], torch.Tensor)
    assert_same_weights(resumable["state_dict"], ckpt["state_dict"])
    # Global torch settings are restored after the run.
    assert not torch.are_deterministic_algorithms_enabled()


def test_same_seed_same_weights_other_seed_other_weights(rain_set, tmp_path):
    train(small(rain_set, "schedule.iterations=3"), tmp_path / "a", progress=False)
    train(small(rain_set, "schedule.iterations=3"), tmp_path / "b", progress=False)
    train(small(rain_set, "schedule.iterations=3", "seed=6"), tmp_path / "c", progress=False)
    a, b, c = (state_of(tmp_path / x / "model.pt") for x in "abc")
    assert_same_weights(a, b)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_loader_workers_do_not_change_the_data(rain_set, tmp_path):
    train(small(rain_set, "schedule.iterations=5"), tmp_path / "main", progress=False)
    train(small(rain_set, "schedule.iterations=5", "data.workers=2"), tmp_path / "workers", progress=False)
    assert_same_weights(state_of(tmp_path / "main" / "model.pt"), state_of(tmp_path / "workers" / "model.pt"))


def test_resume_after_a_crash_gives_the_same_weights(rain_set, tmp_path, monkeypatch):
    config = small(rain_set)
    train(config, tmp_path / "straight", progress=False)

    run = tmp_path / "resumed"
    with monkeypatch.context() as m:
        inject(m, 6, "crash")  # during iteration 6; the last checkpoint is iteration 3 (epoch 0, batch 3)
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(config, run, progress=False)
    assert not (run / "model.pt").exists()
    assert load_checkpoint(run / "checkpoint.pt")["iteration"] == 3
    assert [int(r["iteration"]) for r in log_rows(run)] == [2, 4]
    failed = json.loads((run / "run.json").read_text())
    assert failed["status"] == "failed"
    first_step = failed["segments"][0]["first_step_seconds"]
    assert failed["first_step_seconds"] == load_checkpoint(run / "checkpoint.pt")["first_step_seconds"] == first_step > 0

    train(config, run, progress=False)
    assert_same_weights(state_of(run / "model.pt"), state_of(tmp_path / "straight" / "model.pt"))
    assert_same_weights(state_of(run / "checkpoint.pt"), state_of(tmp_path / "straight" / "checkpoint.pt"))
    rows, straight = log_rows(run), log_rows(tmp_path / "straight")
    assert [r["iteration"] for r in rows] == [r["iteration"] for r in straight]  # no duplicated rows
    assert [r["loss"] for r in rows] == [r["loss"] for r in straight]
    info = json.loads((run / "run.json").read_text())
    assert [s["status"] for s in info["segments"]] == ["failed", "finished"]
    assert info["segments"][1]["start_iteration"] == 3
    first_steps = info["first_step_seconds"]
    assert first_steps == pytest.approx(sum(s["first_step_seconds"] for s in info["segments"])) and first_steps > 0
    assert info["wall_seconds_all_segments"] >= info["train_seconds"] + first_steps > info["segments"][1]["seconds"]


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_weights(rain_set, tmp_path):
    # 60 iterations, killed at a checkpoint of 20 or more: the killed run always has 10 or more iterations left
    # when the kill comes (one poll, 0.02 s, after that checkpoint), a few dozen milliseconds each.
    extra = ["schedule.iterations=60", "schedule.checkpoint_every=10", "schedule.log_every=10"]
    config = small(rain_set, *extra)
    run = tmp_path / "killed"
    command = [sys.executable, "-m", "hst", "train", "--out", str(run), "--no-progress", *cli_sets(rain_set, *extra)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "checkpoint.pt").exists() and load_checkpoint(run / "checkpoint.pt")["iteration"] >= 20:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "model.pt").exists()
    killed_at = load_checkpoint(run / "checkpoint.pt")["iteration"]
    assert 20 <= killed_at < 60

    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    train(config, tmp_path / "straight", progress=False)
    assert_same_weights(state_of(run / "model.pt"), state_of(tmp_path / "straight" / "model.pt"))
    iterations = [int(r["iteration"]) for r in log_rows(run)]
    assert iterations == list(range(10, 61, 10))
    info = json.loads((run / "run.json").read_text())
    assert [s["status"] for s in info["segments"]] == ["interrupted", "finished"]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(rain_set, tmp_path, monkeypatch):
    run = tmp_path / "run"
    inject(monkeypatch, 5, "nan")
    with pytest.raises(TrainingDiverged, match=r"^iteration 5: loss is nan; .*iteration 3\) kept"):
        train(small(rain_set), run, progress=False)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["iteration"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    assert not (run / "model.pt").exists()
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "diverged" and "iteration 5" in info["segments"][0]["error"]


def test_nan_weights_are_never_checkpointed(rain_set, tmp_path, monkeypatch):
    run = tmp_path / "run"
    inject(monkeypatch, 6, "nan-grad")  # the step of iteration 6 makes the weights NaN; 6 is a checkpoint
    with pytest.raises(TrainingDiverged, match=r"^iteration 6: the weights hold NaN"):
        train(small(rain_set), run, progress=False)
    ckpt = load_checkpoint(run / "checkpoint.pt")
    assert ckpt["iteration"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_nan_before_any_checkpoint(rain_set, tmp_path, monkeypatch):
    inject(monkeypatch, 1, "nan")
    with pytest.raises(TrainingDiverged, match="no checkpoint had been written yet"):
        train(small(rain_set), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


# ----------------------------------------------------------------------------- reruns


def test_finished_run_is_left_alone(rain_set, tmp_path, capsys):
    run = tmp_path / "run"
    config = small(rain_set, "schedule.iterations=2")
    train(config, run, progress=False)
    before = (run / "model.pt").stat().st_mtime_ns
    args = ["train", "--out", str(run), "--no-progress", *cli_sets(rain_set, "schedule.iterations=2")]
    assert main(args) == 0
    assert "already finished" in capsys.readouterr().out
    assert (run / "model.pt").stat().st_mtime_ns == before


def test_resuming_with_another_config_is_refused(rain_set, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        inject(m, 5, "crash")
        with pytest.raises(RuntimeError):
            train(small(rain_set), run, progress=False)
    with pytest.raises(ConfigError, match=r"not this one \(its config differs \(optim\.lr\)\); not resumed"):
        train(small(rain_set, "optim.lr=1e-3"), run, progress=False)
    # Operational keys may change: the run resumes.
    train(small(rain_set, "schedule.log_every=4"), run, progress=False)
    assert (run / "model.pt").exists()
    assert [s["start_iteration"] for s in json.loads((run / "run.json").read_text())["segments"]] == [0, 3]


def test_which_changes_stop_a_resume():
    config = {"optim": {"lr": 1e-3}, "threads": 1, "data": {"train_set": "/d/Rain"}, "schedule": {"log_every": 2}}
    same = {"config": config, "data_fingerprint": "abc", "iterations": 8}
    from hst.engine.train import resume_changes

    assert resume_changes(same, config, "abc", 8) == []
    operational = {**config, "threads": 4, "schedule": {"log_every": 5}}
    assert resume_changes(same, operational, "abc", 8) == []
    assert resume_changes(same, {**config, "optim": {"lr": 2e-3}}, "abc", 8) == ["its config differs (optim.lr)"]
    assert resume_changes(same, config, "abd", 8) == ["its training data changed (/d/Rain: pairs added, removed or rewritten)"]
    assert resume_changes(same, config, "abc", 12) == ["its iteration total changed (8 -> 12)"]
    old = {"config": config}  # a checkpoint of an older harness: nothing says what it trained on
    assert resume_changes(old, config, "abc", 8) == [
        "its training data is not recorded (written by an older harness)", "its iteration total changed (not recorded -> 8)"]


def _other_data(tmp_path: Path, seed: int) -> Path:
    from hst.data.synth import make_twin

    return make_twin("RainTrainH", tmp_path / f"data{seed}", count=4, size=(40, 40), seed=seed)


def test_a_run_on_changed_data_is_not_resumed_nor_taken_as_finished(rain_set, tmp_path, capsys):
    """The pipeline's case: the training set is made anew, Snakemake removes model.pt, the trainer runs again."""
    data = _other_data(tmp_path, 3)
    run = tmp_path / "run"
    config = small(data, "data.cache_dir=" + str(tmp_path / "cache"))
    train(config, run, progress=False)
    from hst.data.synth import make_twin

    make_twin("RainTrainH", data.parent, count=4, size=(40, 40), seed=4)  # other pairs, same folder
    args = ["train", "--out", str(run), "--no-progress",
            *[a for item in [*SMALL, f"data.train_set={data}", f"data.cache_dir={tmp_path / 'cache'}"] for a in ("--set", item)]]
    assert main(args) == 2  # finished, but on other data: neither "already finished" nor resumed
    assert "its training data changed" in capsys.readouterr().err
    (run / "model.pt").unlink()  # what Snakemake does before it runs the job again
    with pytest.raises(ConfigError, match=r"holds a run that is not this one \(its training data changed .*not resumed"):
        train(config, run, progress=False)

    assert main([*args, "--restart-if-changed"]) == 0
    err = capsys.readouterr().err
    assert "restarting from scratch" in err and "its training data changed" in err
    info = json.loads((run / "run.json").read_text())
    assert [(s["start_iteration"], s["end_iteration"]) for s in info["segments"]] == [(0, 8)]
    train(small(_other_data(tmp_path, 4)), tmp_path / "straight", progress=False)
    assert_same_weights(state_of(run / "model.pt"), state_of(tmp_path / "straight" / "model.pt"))
    assert [int(r["iteration"]) for r in log_rows(run)] == [2, 4, 6, 8]


def test_a_changed_run_restarts_from_scratch_when_asked(rain_set, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        inject(m, 5, "crash")
        with pytest.raises(RuntimeError):
            train(small(rain_set), run, progress=False)
    longer = small(rain_set, "schedule.iterations=10")
    train(longer, run, progress=False, restart_if_changed=True)
    err = capsys.readouterr().err
    assert "its config differs (schedule.iterations)" in err and "its iteration total changed (8 -> 10)" in err
    train(longer, tmp_path / "straight", progress=False)
    assert_same_weights(state_of(run / "model.pt"), state_of(tmp_path / "straight" / "model.pt"))
    assert [s["status"] for s in json.loads((run / "run.json").read_text())["segments"]] == ["finished"]


# ----------------------------------------------------------------------------- bad input


def test_unknown_config_key_on_the_command_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run"), "--set", "optim.lrr=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: optim.lrr: unknown key (did you mean optim.lr?)"
    assert not (tmp_path / "run").exists()


def test_unwritable_output_folder(rain_set, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(HSTError, match=rf"{blocker / 'run'}: output folder cannot be written"):
        train(small(rain_set), blocker / "run", progress=False)


def test_missing_train_set(tmp_path):
    with pytest.raises(ConfigError, match="data.train_set: not set"):
        train(build_config({}, ["schedule.iterations=1"]), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="is not a folder"):
        train(build_config({}, ["schedule.iterations=1", f"data.train_set={tmp_path / 'nope'}"]), tmp_path / "run", progress=False)


def test_batch_larger_than_an_epoch(rain_set, tmp_path):
    with pytest.raises(ConfigError, match="optim.batch_size: 64 is more than the 8 patches"):
        train(small(rain_set, "optim.batch_size=64"), tmp_path / "run", progress=False)


def _copy_set(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_corrupt_training_image_is_named(rain_set, tmp_path):
    bad = _copy_set(rain_set, tmp_path / "Bad")
    victim = sorted((bad / "input").iterdir())[1]
    victim.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError, match=str(victim)):
        train(small(bad), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_training_pair_with_different_sizes_is_named(rain_set, tmp_path):
    from hst.data.io import read_image, write_png

    bad = _copy_set(rain_set, tmp_path / "Bad")
    victim = sorted((bad / "target").iterdir())[0]
    write_png(victim, read_image(victim)[:30])
    with pytest.raises(DataError, match="differs from its target"):
        train(small(bad), tmp_path / "run", progress=False)


@pytest.mark.parametrize("kind", ["random dict", "wrong shapes"])
def test_foreign_checkpoint_in_the_run_folder(rain_set, tmp_path, kind):
    run = tmp_path / "run"
    run.mkdir()
    if kind == "random dict":
        torch.save({"weights": torch.zeros(3)}, run / "checkpoint.pt")
        message = "not an HST checkpoint"
    else:
        from hst import build_model
        from hst.engine.checkpoint import save_checkpoint

        config = small(rain_set)
        from hst.data.cache import set_fingerprint

        save_checkpoint(run / "checkpoint.pt", build_model("tiny", dim=16), optimizer={}, scheduler={}, iteration=1,
                        epoch=0, rng={}, train_seconds=0.0, log_window={"loss_sum": 0.0, "count": 0}, run_config=config,
                        iterations=8, data_fingerprint=set_fingerprint(rain_set)[0])
        message = "does not fit this run's model"
    with pytest.raises(CheckpointError, match=rf"{run / 'checkpoint.pt'}: .*{message}"):
        train(small(rain_set), run, progress=False)
    assert not (run / "model.pt").exists()


# ----------------------------------------------------------------------------- other models, losses, schedules


def test_neg_ssim_is_skimages_ssim_away_from_the_border_and_mse_is_mse():
    from skimage.metrics import structural_similarity

    from hst.engine.train import build_loss, ssim_map, ssim_torch

    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 40, 40, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(1, 3, 40, 40, generator=g, dtype=torch.float64)).clamp(0, 1)
    # skimage: Gaussian weights sigma 1.5 (an 11-tap window), population covariance; ours zero-pads at the
    # border, so the maps agree 5 px and more inside it.
    _, full = structural_similarity(x[0].numpy(), y[0].numpy(), channel_axis=0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0, full=True)
    ours = ssim_map(x, y)[0]
    assert np.abs(ours[:, 5:-5, 5:-5].numpy() - full[:, 5:-5, 5:-5]).max() < 1e-10
    assert float(ssim_torch(x, y)) == pytest.approx(float(ours.mean()), abs=1e-15)
    loss = build_loss(build_config({}, ["loss.name=neg_ssim"]))
    assert float(loss(x, y)) == pytest.approx(-float(ours.mean()), abs=1e-12)
    assert float(loss(x, x)) == pytest.approx(-1.0, abs=1e-12)
    mse = build_loss(build_config({}, ["loss.name=mse"]))
    assert float(mse(x, y)) == pytest.approx(float(((x - y) ** 2).mean()), abs=1e-15)


def test_step_decay_multiplies_by_gamma_at_each_milestone():
    from hst.engine.train import lr_factor

    optim = build_config({}, ["optim.decay=step", "optim.milestones=[0.3, 0.5, 0.8]", "optim.gamma=0.2"])["optim"]
    f = lr_factor(optim, 100)  # PReNet's MultiStepLR at epochs 30, 50, 80 of 100
    assert [f(t) for t in (0, 29, 30, 49, 50, 79, 80, 99)] == pytest.approx([1, 1, 0.2, 0.2, 0.04, 0.04, 0.008, 0.008])
    warm = lr_factor({**optim, "warmup_iterations": 4}, 100)
    assert [warm(t) for t in range(5)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])


def test_prenet_trains_resumes_and_restores_like_hst(rain_set, tmp_path, monkeypatch):
    """Another architecture through the same trainer: its recipe's arch, loss and step decay, a crash and a resume
    to the same weights, a checkpoint that records its architecture and loads as PReNet."""
    from hst.engine.checkpoint import load_model
    from hst.models import PReNet

    prenet = [o for o in overrides(rain_set) if not o.startswith("model.")] + [
        "model.arch=prenet", "model.stages=2", "model.channels=4", "model.blocks=1", "loss.name=neg_ssim",
        "optim.decay=step", "optim.milestones=[0.5]", "optim.weight_decay=0.0"]
    straight = train(build_config({}, prenet), tmp_path / "straight", progress=False)
    assert straight["model_config"] == {"stages": 2, "channels": 4, "blocks": 1} and straight["params"] < 20_000
    rows = list(csv.DictReader((tmp_path / "straight" / "train_log.csv").open()))
    assert all(-1.0 <= float(r["loss"]) < 0 for r in rows)  # -SSIM
    model, ckpt = load_model(tmp_path / "straight" / "model.pt")
    assert type(model) is PReNet and ckpt["arch"] == "prenet"
    lrs = sorted({float(r["lr"]) for r in rows})
    assert len(lrs) <= 2 and max(lrs) <= float(straight["config"]["optim"]["lr"])

    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def crash_on_fifth(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", crash_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        train(build_config({}, prenet), tmp_path / "resumed", progress=False)
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    train(build_config({}, prenet), tmp_path / "resumed", progress=False)
    assert_same_weights(state_of(tmp_path / "straight" / "model.pt"), state_of(tmp_path / "resumed" / "model.pt"))
