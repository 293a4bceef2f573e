"""Several processes (torchrun, gloo on the CPU): the same weights as one process, rank 0 alone writes,
a killed run resumes, a resume with another world size is refused."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hst.engine.checkpoint import load_checkpoint
from hst.engine.config import build_config
from hst.errors import ConfigError
from hst.models import StochasticSampler, shard_sampling
from hst.engine.train import RunBatches, epoch_order, train

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


@pytest.fixture(scope="module")
def rain_set(tmp_path_factory) -> Path:
    """A 4-pair synthetic rain twin of 40 x 40 images: 8 patches, 2 global batches of 4 per epoch."""
    from hst.data.synth import make_twin

    return make_twin("RainTrainH", tmp_path_factory.mktemp("data"), count=4, size=(40, 40), seed=3)


def sets(train_set: Path, iterations: int, checkpoint_every: int) -> list[str]:
    return [
        f"data.train_set={train_set}", "data.patch_size=32", "data.patches_per_image=2", "optim.batch_size=4",
        "model.dim=8", f"schedule.iterations={iterations}", "schedule.log_every=5",
        f"schedule.checkpoint_every={checkpoint_every}", "threads=1", "device=cpu", "seed=5",
    ]


def command(run: Path, items: list[str], *extra: str) -> list[str]:
    """``torchrun --nproc_per_node 2 -m hst train``: each rank a batch of 2, the global batch 4."""
    return [*TORCHRUN, "-m", "hst", "train", "--out", str(run), "--no-progress",
            *[a for item in items for a in ("--set", item)], *extra]


def launch(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def assert_close_weights(a: Path, b: Path, atol: float) -> None:
    sa, sb = load_checkpoint(a)["state_dict"], load_checkpoint(b)["state_dict"]
    assert sa.keys() == sb.keys()
    worst = max(float((sa[k] - sb[k]).abs().max()) for k in sa)
    assert worst <= atol, f"weights differ by up to {worst}"


def log_rows(run: Path) -> list[dict[str, str]]:
    with (run / "train_log.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def descendants(pid: int) -> list[int]:
    """``pid``'s child processes, recursively (torchrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


# ----------------------------------------------------------------------------- pieces


def test_ranks_split_each_global_batch_of_the_one_process_order():
    one = list(RunBatches(12, 4, 7, start=1, total=7))
    halves = [list(RunBatches(12, 4, 7, start=1, total=7, rank=r, world=2)) for r in (0, 1)]
    assert len(one) == 6 and all(len(b) == 4 for b in one)
    assert [a + b for a, b in zip(*halves)] == one
    # Iteration t is batch t % 3 of epoch t // 3's permutation.
    assert [i for _, i in one[2]] == epoch_order(12, 7, 1)[0:4].tolist() and {e for e, _ in one[2]} == {1}


def test_sharded_sampler_draws_the_rows_of_the_whole_batch():
    x = torch.randn(4, 8, 16, 16)
    torch.manual_seed(1)
    whole = StochasticSampler(4).train()(x)
    parts = []
    for rank in (0, 1):
        model = shard_sampling(torch.nn.Sequential(StochasticSampler(4)), rank, 2).train()
        torch.manual_seed(1)  # every process: the same seed and the same draws
        parts.append(model(x[2 * rank : 2 * rank + 2]))
    assert torch.equal(torch.cat(parts), whole)
    assert not torch.equal(parts[0], parts[1])


# ----------------------------------------------------------------------------- processes


@pytest.mark.slow
def test_two_processes_give_the_weights_of_one(rain_set, tmp_path):
    items = sets(rain_set, 20, 10)
    train(build_config({}, items), tmp_path / "one", progress=False)
    proc = launch(command(tmp_path / "two", items))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    assert out.count("model.pt: 20 iterations") == 1  # rank 0 alone reports

    assert_close_weights(tmp_path / "one" / "model.pt", tmp_path / "two" / "model.pt", atol=1e-5)
    one, two = log_rows(tmp_path / "one"), log_rows(tmp_path / "two")
    assert [r["iteration"] for r in two] == ["5", "10", "15", "20"]  # one writer: no duplicated rows
    assert [float(r["loss"]) for r in two] == pytest.approx([float(r["loss"]) for r in one], rel=1e-5)
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["status"] == "finished" and info["world_size"] == 2 and len(info["segments"]) == 1
    assert load_checkpoint(tmp_path / "two" / "checkpoint.pt")["world_size"] == 2


@pytest.mark.slow
def test_killed_two_process_run_resumes_and_refuses_another_world_size(rain_set, tmp_path):
    items = sets(rain_set, 40, 10)  # killed at a checkpoint of 10 or more: 10 or more iterations still to go
    run = tmp_path / "killed"
    proc = launch(command(run, items))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        ckpt = run / "checkpoint.pt"
        if ckpt.exists() and load_checkpoint(ckpt)["iteration"] >= 10:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    for pid in [*descendants(proc.pid), proc.pid]:  # the whole job, as a cluster's kill would
        os.kill(pid, signal.SIGKILL)
    proc.communicate()
    assert not (run / "model.pt").exists()
    killed_at = load_checkpoint(run / "checkpoint.pt")["iteration"]
    assert 10 <= killed_at < 40

    # One process may not pick up a two-process checkpoint unless asked to.
    with pytest.raises(ConfigError, match=r"trained with 2 process\(es\) and would resume with 1; resume with "
                                          r"`torchrun --nproc_per_node 2 -m hst train`"):
        train(build_config({}, items), run, progress=False)
    assert not (run / "model.pt").exists()

    proc = launch(command(run, items))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["iteration"] == 40
    assert [s["status"] for s in info["segments"]] == ["interrupted", "finished"]
    assert info["segments"][1]["start_iteration"] == killed_at
    assert [int(r["iteration"]) for r in log_rows(run)] == list(range(5, 41, 5))

    # The resumed run is the run that was never killed: same world size, same weights. (One process against
    # two is test_two_processes_give_the_weights_of_one's claim; over 40 Adam steps their float sums drift.)
    proc = launch(command(tmp_path / "straight", items))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    assert_close_weights(run / "model.pt", tmp_path / "straight" / "model.pt", atol=0.0)


def test_batch_that_does_not_split_over_the_processes(rain_set, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match=r"^optim.batch_size: 4 does not split over 3 processes"):
        train(build_config({}, sets(rain_set, 2, 1)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
