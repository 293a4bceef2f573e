"""The trainer (paper Sec. 4.1): AdamW with per-iteration cosine (or step) decay, the loss by name (L1 for
HST), any registered architecture (``model.arch``); resumable bit for bit on the CPU.

``python -m hst train --config RUN.yaml --out RUNDIR [--set KEY=VALUE ...]``

A run folder holds:

- ``checkpoint.pt``: model, optimizer, scheduler, iteration, epoch, RNG states, accumulated
  train time and the run config; rewritten atomically every ``schedule.checkpoint_every``
  iterations and at the end. Never written with non-finite weights.
- ``model.pt``: the final weights (``hst.engine.checkpoint`` format, with the run's metadata under
  ``run``), written once, at the very end: it exists only for a finished run.
- ``train_log.csv``: one row every ``schedule.log_every`` iterations (see :data:`LOG_COLUMNS`).
  ``loss`` is the mean training loss over the iterations since the previous row; a resumed
  run first drops rows past its checkpoint, so no row is duplicated.
- ``run.json``: the resolved config, the model config, the seed, the data, the totals, and
  one entry per process that worked on the run (a "segment": its versions, device, git
  commit, start/end iteration, wall time and how it ended).

Starting the same command again continues from ``checkpoint.pt``, but only the same run on the
same data: a folder whose run differs in its identity (the resolved config except
:data:`hst.engine.config.OPERATIONAL_KEYS`: ``schedule.log_every``, ``schedule.checkpoint_every``,
``data.workers``, ``data.cache_dir``, ``threads``, ``device``, ``compile``, which change how a run
is done, not what it computes), in its training data (the fingerprint of the set's pairs that its
patch cache records) or in its iteration total is not continued, nor taken as finished: the
command refuses it, naming what changed, or with ``--restart-if-changed`` (the pipeline's train
rule) discards that run's checkpoint, log, record and weights and trains from scratch, saying why
on stderr. The data order is a pure
function of (seed, epoch, position) and every RNG the step uses is in the checkpoint, so on
the CPU the resumed run ends with the same weights, bit for bit, as an uninterrupted one.
On CUDA the code path is the same (with bf16 autocast, channels_last, fused AdamW and, with
``compile``, torch.compile), but GPU kernels that use atomics make runs not bit-identical.

The step does not wait on the device: losses stay there until a log row or a checkpoint,
where they are read in one transfer and checked (a NaN or infinite loss stops the run,
naming its iteration, before any checkpoint of later weights is written). One DataLoader
serves the whole run, its items keyed (epoch, index), so its workers persist across epochs.

Several processes: ``torchrun --nproc_per_node N -m hst train ...`` (gloo on the CPU, nccl
on CUDA, DistributedDataParallel). Each rank takes its 1/N slice of every global batch of
the one-process order (``optim.batch_size`` stays the global batch) and its rows of the
sampler's draws for the whole batch, so the run follows the one-process run to float
rounding. Rank 0 alone writes the run folder; the checkpoint records the world size, and a
resume with another is refused unless ``--allow-world-size-change``.

Times: ``train_seconds`` is the wall time of the training loop over the iterations that
produced the final weights (checkpoint writes included, work that a kill threw away and was
redone counted once); ``segments[i].seconds`` is what each process spent in the loop, and
``wall_seconds_all_segments`` their sum. Table 5 uses ``train_seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from hst.engine.checkpoint import load_checkpoint, save_checkpoint
from hst.models.complexity import count_params
from hst.engine.config import OPERATIONAL_KEYS, build_config, differences, load_config, to_yaml
from hst.data.cli import CACHE_DIR
from hst.envinfo import environment, now_utc, resolve_device
from hst.errors import CheckpointError, ConfigError, HSTError
from hst.fsutil import atomic_write_text, ensure_output_dir

LOG_COLUMNS = ["iteration", "epoch", "loss", "lr", "images_per_s", "train_seconds"]
RUN_FORMAT = "hst-run"


class TrainingDiverged(HSTError):
    """The loss (or the weights) became NaN or infinite; the run stopped, its last good checkpoint kept."""


# ----------------------------------------------------------------------------- pieces


def build_loss(config: dict[str, Any]):
    """The training loss by name: l1 (mean absolute error), charbonnier (sqrt((x - y)^2 + eps^2) averaged),
    mse, or neg_ssim (-SSIM, PReNet's)."""
    name, eps = config["loss"]["name"], float(config["loss"]["eps"])
    if name == "l1":
        return torch.nn.L1Loss()
    if name == "charbonnier":
        return lambda out, target: torch.sqrt((out - target) ** 2 + eps * eps).mean()
    if name == "mse":
        return torch.nn.MSELoss()
    if name == "neg_ssim":
        return lambda out, target: -ssim_torch(out, target)
    raise ConfigError(f"loss.name: unknown loss {name!r}")


def ssim_torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Differentiable SSIM of images in [0, 1] (N x C x H x W): the mean of :func:`ssim_map`."""
    return ssim_map(x, y).mean()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """The SSIM map of images in [0, 1] (N x C x H x W), per channel: Wang et al.'s Gaussian window (11,
    sigma 1.5), C1 = 0.01^2, C2 = 0.03^2, zero padding to the image's size, as the pytorch_ssim loss PReNet
    trains with. Away from the border it is skimage's map."""
    coords = torch.arange(window, dtype=torch.float64, device=x.device) - window // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    channels = x.shape[1]
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, window, window).to(x.dtype)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, padding=window // 2, groups=channels)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn, inp: torch.Tensor,
               target: torch.Tensor, grad_clip: float | None = None) -> torch.Tensor:
    """One optimiser step, the one the trainer, ``hst plan``'s throughput and the benchmarks all take: the
    forward (bf16 autocast on CUDA), the loss in float32, backward, gradient clipping, the update. Returns
    the loss (on the device: reading it is the caller's synchronisation)."""
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=inp.device.type == "cuda"):
        restored = model(inp)
    loss = loss_fn(restored.float(), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], grad_clip)
    optimizer.step()
    return loss


def cosine_factor(iteration: int, total: int, lr: float, lr_min: float, warmup: int = 0) -> float:
    """lr(t) / lr: a linear warm-up over the first ``warmup`` iterations (from lr / warmup), then the
    cosine decay from lr at t = 0 to lr_min at t = total."""
    if iteration < warmup:
        return (iteration + 1) / warmup
    t = min(max(iteration, 0), total)
    return (lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t / total))) / lr


def step_factor(iteration: int, total: int, milestones: list[float], gamma: float, warmup: int = 0) -> float:
    """lr(t) / lr for ``optim.decay: step``: the warm-up as :func:`cosine_factor`'s, then gamma^k after the
    k-th milestone (fractions of ``total``: iteration floor(m * total) is the first at the lower lr)."""
    if iteration < warmup:
        return (iteration + 1) / warmup
    return gamma ** sum(iteration >= int(m * total) for m in milestones)


def lr_factor(optim: dict[str, Any], total: int):
    """The run's lr schedule (``optim.decay``) as a function of the iteration, for LambdaLR."""
    lr, warmup = float(optim["lr"]), int(optim["warmup_iterations"])
    if optim["decay"] == "step":
        milestones, gamma = sorted(float(m) for m in optim["milestones"]), float(optim["gamma"])
        return lambda t: step_factor(t, total, milestones, gamma, warmup)
    lr_min = float(optim["lr_min"])
    return lambda t: cosine_factor(t, total, lr, lr_min, warmup)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The dataset indices of one epoch: a permutation that depends only on (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class RunBatches(Sampler):
    """This process's batches of the whole run, from iteration ``start`` to ``total``: keys (epoch, i).

    Iteration t is batch t % per_epoch of epoch t // per_epoch's permutation (the last partial
    batch dropped); with ``world`` processes, rank r takes the r-th of ``world`` equal slices of
    that global batch, so every step sees the data of the one-process run.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int, total: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.total, self.rank, self.world = start, total, rank, world
        self.per_epoch = n // batch_size
        self.local = batch_size // world

    def __len__(self) -> int:
        return max(self.total - self.start, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, order = -1, None
        for t in range(self.start, self.total):
            e, b = divmod(t, self.per_epoch)
            if e != epoch:
                epoch, order = e, epoch_order(self.n, self.seed, e)
            lo = b * self.batch_size + self.rank * self.local
            yield [(e, int(i)) for i in order[lo : lo + self.local]]


class EpochItems(Dataset):
    """A dataset with set_epoch indexed by (epoch, i): loader workers that persist across epochs stay in step."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        if self.dataset.epoch != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[i]


@contextlib.contextmanager
def torch_settings(device: torch.device, threads: int | None) -> Iterator[None]:
    """Fixed threads and deterministic kernels (CPU) for the duration of a run; restored afterwards."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if threads:
            torch.set_num_threads(threads)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def rng_state(device: torch.device) -> dict[str, Any]:
    """Torch's CPU (and this process's CUDA device) RNG states as uint8 tensors, loadable with weights_only."""
    state: dict[str, Any] = {"torch_cpu": torch.get_rng_state(), "torch_cuda": []}
    if device.type == "cuda":
        state["torch_cuda"] = [torch.cuda.get_rng_state(device)]
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_state` captured (every rank of a run draws alike, so rank 0's state fits all)."""
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and state.get("torch_cuda"):
        torch.cuda.set_rng_state(state["torch_cuda"][0], device)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """JSON, indented, written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _keep_log_rows(path: Path, last_iteration: int) -> None:
    """Rewrite the log keeping well-formed rows up to ``last_iteration`` (a resume redoes the rest)."""
    rows: list[list[str]] = []
    if path.exists():
        with path.open(newline="") as fh:
            for row in csv.reader(fh):
                if len(row) == len(LOG_COLUMNS) and row[0].isdigit() and int(row[0]) <= last_iteration:
                    rows.append(row)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LOG_COLUMNS)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _append_log_row(path: Path, row: list[Any]) -> None:
    with path.open("a", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(row)
        fh.flush()


def _all_finite(model: torch.nn.Module) -> bool:
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


def use_compile(config: dict[str, Any], device: torch.device) -> bool:
    """``compile``: true, false, or auto (on CUDA only: on the CPU it was measured not to pay; see README)."""
    value = config["compile"]
    return device.type == "cuda" if value == "auto" else bool(value)


# ----------------------------------------------------------------------------- processes


def world_from_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) for a plain process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError("WORLD_SIZE / RANK / LOCAL_RANK: not integers; launch with torchrun") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"WORLD_SIZE={world}, RANK={rank}: not a valid process group; launch with torchrun")
    return rank, world, local


@contextlib.contextmanager
def process_group(device_name: str, world: int, local: int) -> Iterator[torch.device]:
    """The device of this process; with several processes, the process group (gloo on the CPU, nccl on CUDA)."""
    import torch.distributed as dist

    device = resolve_device(device_name)
    if device.type == "cuda":
        if world > 1 and local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK={local}: only {torch.cuda.device_count()} CUDA devices here")
        device = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
        torch.cuda.set_device(device)
    if world == 1 or dist.is_initialized():
        yield device
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield device
    finally:
        dist.destroy_process_group()


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


# ----------------------------------------------------------------------------- training


def _resolve_paths(config: dict[str, Any]) -> tuple[Path, Path]:
    train_set = config["data"]["train_set"]
    if not train_set:
        raise ConfigError("data.train_set: not set; give a normalised set folder (with input/ and target/)")
    set_dir = Path(train_set).expanduser().resolve()
    if not set_dir.is_dir():
        raise ConfigError(f"data.train_set: {set_dir} is not a folder")
    cache = config["data"]["cache_dir"]
    # Default: where `python -m hst data prepare` puts it, <root>/_cache/<SET>.
    cache_dir = Path(cache).expanduser().resolve() if cache else set_dir.parent / CACHE_DIR / set_dir.name
    return set_dir, cache_dir


def _previous_run(run_json: Path) -> dict[str, Any] | None:
    if not run_json.exists():
        return None
    try:
        data = json.loads(run_json.read_text())
    except (OSError, ValueError) as exc:
        raise HSTError(f"{run_json}: unreadable run record ({exc}); move the run folder aside") from None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise HSTError(f"{run_json}: not an HST run record; use another --out folder")
    return data


def iteration_total(config: dict[str, Any], patches_per_epoch: int) -> int:
    """The run's length in iterations: ``schedule.iterations``, or its epochs of ``patches_per_epoch`` patches."""
    sched = config["schedule"]
    return int(sched["iterations"] or sched["epochs"] * (patches_per_epoch // int(config["optim"]["batch_size"])))


def resume_changes(recorded: dict[str, Any], config: dict[str, Any], fingerprint: str, total: int) -> list[str]:
    """Why a recorded run (``config``, ``data_fingerprint``, ``iterations``) is not the run of ``config``
    on data ``fingerprint`` for ``total`` iterations; [] when it is, and may be continued."""
    why = []
    changed = differences(_current_form(recorded["config"]), _current_form(config), ignore=OPERATIONAL_KEYS)
    if changed:
        why.append(f"its config differs ({', '.join(changed)})")
    if recorded.get("data_fingerprint") is None:
        why.append("its training data is not recorded (written by an older harness)")
    elif recorded["data_fingerprint"] != fingerprint:
        why.append(f"its training data changed ({config['data']['train_set']}: pairs added, removed or rewritten)")
    if recorded.get("iterations") != total:
        was = recorded.get("iterations")
        why.append(f"its iteration total changed ({'not recorded' if was is None else was} -> {total})")
    return why


def _current_form(config: dict[str, Any]) -> dict[str, Any]:
    """A recorded run config with the keys added since it was written at their defaults (no model.arch:
    hst; no optim.decay: cosine), which is what the older harness did; as recorded if it no longer validates."""
    try:
        return build_config(config)
    except ConfigError:
        return config


def _resumable(path: Path) -> dict[str, Any] | None:
    """The training checkpoint at ``path``, or None when there is none."""
    if not path.exists():
        return None
    ckpt = load_checkpoint(path, map_location="cpu")
    if "run_config" not in ckpt or "optimizer" not in ckpt:
        raise CheckpointError(f"{path}: not a resumable training checkpoint")
    return ckpt


def train(config: dict[str, Any], out_dir: str | os.PathLike, *, progress: bool = True,
          allow_world_size_change: bool = False, restart_if_changed: bool = False) -> dict[str, Any]:
    """Train (or resume, or find finished) the run of ``config`` in ``out_dir``; return its run record.

    A run folder that holds another run (see :func:`resume_changes`) is refused with ConfigError, or
    with ``restart_if_changed`` emptied of that run and trained from scratch.
    Under ``torchrun`` (WORLD_SIZE > 1) every process calls this; they share the global batch
    and rank 0 alone writes the run folder.
    """
    out = Path(out_dir)
    rank, world, local = world_from_env()
    batch = int(config["optim"]["batch_size"])
    if batch % world:
        raise ConfigError(
            f"optim.batch_size: {batch} does not split over {world} processes (WORLD_SIZE); "
            "the global batch stays the recipe's, so use a process count that divides it"
        )
    if rank == 0:
        ensure_output_dir(out)
    paths = {name: out / name for name in ("checkpoint.pt", "model.pt", "train_log.csv", "run.json")}
    previous = _previous_run(paths["run.json"])
    if paths["model.pt"].exists() and previous is None:
        raise HSTError(f"{out}: has model.pt but no run.json; use another --out folder")
    set_dir, cache_dir = _resolve_paths(config)
    from hst.data.patches import set_fingerprint

    fingerprint, pairs = set_fingerprint(set_dir)
    total = iteration_total(config, pairs * int(config["data"]["patches_per_image"]))
    ckpt = _resumable(paths["checkpoint.pt"])
    recorded = []
    if previous is not None:
        recorded.append({"config": previous["config"], "data_fingerprint": previous["data"].get("fingerprint"),
                         "iterations": previous.get("iterations")})
    if ckpt is not None:
        recorded.append({"config": ckpt["run_config"], "data_fingerprint": ckpt.get("data_fingerprint"),
                         "iterations": ckpt.get("iterations")})
    why = list(dict.fromkeys(r for rec in recorded for r in resume_changes(rec, config, fingerprint, total)))
    if why:
        what = "a finished run" if paths["model.pt"].exists() else "a run"
        if not restart_if_changed:
            raise ConfigError(
                f"{out}: holds {what} that is not this one ({'; '.join(why)}); not resumed. Start it in another "
                "--out folder, or pass --restart-if-changed to discard it and train from scratch"
            )
        if rank == 0:
            print(f"{out}: holds {what} that is not this one ({'; '.join(why)}); restarting from scratch "
                  "(its checkpoint, log, record and weights discarded)", file=sys.stderr, flush=True)
            for path in paths.values():
                path.unlink(missing_ok=True)
        previous, ckpt = None, None
    elif paths["model.pt"].exists():
        return previous

    with process_group(config["device"], world, local) as device, torch_settings(device, config["threads"]):
        return _train(config, out, paths, previous, ckpt, set_dir, cache_dir, fingerprint, device, progress,
                      rank=rank, world=world, allow_world_size_change=allow_world_size_change)


class LossWindow:
    """The training losses since the last log row, kept on the device until the log interval or a checkpoint.

    ``flush`` copies the pending losses to the host in one transfer (summed over processes), checks
    them, and adds them in order to ``loss_sum`` as Python floats: the same sums as reading
    ``float(loss)`` every iteration, without a host/device synchronisation per step.
    """

    def __init__(self, loss_sum: float = 0.0, count: int = 0, world: int = 1) -> None:
        self.loss_sum, self.count, self.world = float(loss_sum), int(count), world
        self.pending: list[torch.Tensor] = []
        self.first_iteration = 0

    def add(self, loss: torch.Tensor, iteration: int) -> None:
        if not self.pending:
            self.first_iteration = iteration
        self.pending.append(loss.detach())

    def flush(self) -> tuple[int, float] | None:
        """Fold the pending losses in; return (iteration, value) of the first non-finite one, if any."""
        if not self.pending:
            return None
        values = torch.stack(self.pending).double()
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(values)  # every process: the mean loss of the global batch
            values /= self.world
        self.pending = []
        for k, value in enumerate(values.cpu().tolist()):
            if not math.isfinite(value):
                return self.first_iteration + k, value
            self.loss_sum += value
            self.count += 1
        return None

    def mean(self) -> float:
        return self.loss_sum / max(self.count, 1)

    def reset(self) -> None:
        self.loss_sum, self.count = 0.0, 0

    def state(self) -> dict[str, Any]:
        return {"loss_sum": self.loss_sum, "count": self.count}


def _train(config: dict[str, Any], out: Path, paths: dict[str, Path], previous: dict[str, Any] | None,
           ckpt: dict[str, Any] | None, set_dir: Path, cache_dir: Path, fingerprint: str, device: torch.device,
           progress: bool, *,
           rank: int = 0, world: int = 1, allow_world_size_change: bool = False) -> dict[str, Any]:
    """The body of :func:`train`, run under fixed torch settings (and, with several processes, a process group)."""
    from tqdm import tqdm

    from hst.data.patches import PatchDataset, prepare_cache
    from hst.models import build_from_config, shard_sampling

    data_cfg, optim_cfg, sched_cfg = config["data"], config["optim"], config["schedule"]
    seed, batch = int(config["seed"]), int(optim_cfg["batch_size"])
    lead = rank == 0  # writes the run folder
    if lead:
        prepare_cache(set_dir, cache_dir)
    _barrier(world)
    if not lead:
        prepare_cache(set_dir, cache_dir)  # up to date now: reads the index only
    dataset = PatchDataset(
        cache_dir, patch_size=data_cfg["patch_size"], patches_per_image=data_cfg["patches_per_image"],
        seed=seed, augment=data_cfg["augment"],
    )
    per_epoch = len(dataset) // batch
    if per_epoch == 0:
        raise ConfigError(
            f"optim.batch_size: {batch} is more than the {len(dataset)} patches of an epoch "
            f"({set_dir.name}); lower it or raise data.patches_per_image"
        )
    total = iteration_total(config, len(dataset))

    torch.manual_seed(seed)  # the same on every process: the sampler's draws stay in step
    net = build_from_config(config["model"]).to(device)
    net.check_inputs = False  # patches of a uint8 cache are finite: no isfinite() sync (nor graph break) per step
    shard_sampling(net, rank, world)
    cuda = device.type == "cuda"
    if cuda:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=float(optim_cfg["lr"]), betas=tuple(optim_cfg["betas"]), weight_decay=optim_cfg["weight_decay"],
        **({"fused": True} if cuda else {}),
    )
    grad_clip = optim_cfg["grad_clip"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(optim_cfg, total))
    loss_fn = build_loss(config)

    start, base_seconds, window = 0, 0.0, LossWindow(world=world)
    if ckpt is not None:  # the same run on the same data (train() checked)
        trained_with = int(ckpt.get("world_size", 1))
        if trained_with != world and not allow_world_size_change:
            how = f"torchrun --nproc_per_node {trained_with} -m hst train" if trained_with > 1 else "python -m hst train"
            raise ConfigError(
                f"{paths['checkpoint.pt']}: this run was trained with {trained_with} process(es) and would resume "
                f"with {world}; resume with `{how}`, or pass --allow-world-size-change "
                "(same global batch and data, other float rounding)"
            )
        try:
            net.load_state_dict(ckpt["state_dict"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{paths['checkpoint.pt']}: does not fit this run's model ({exc})") from None
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"], device)
        start, base_seconds = int(ckpt["iteration"]), float(ckpt["train_seconds"])
        window = LossWindow(**ckpt["log_window"], world=world)
    if lead:
        _keep_log_rows(paths["train_log.csv"], start)

    model: torch.nn.Module = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device.index] if cuda else None)
    compiled = use_compile(config, device)
    if compiled:
        model = torch.compile(model)

    env = environment(device)
    # Earlier processes stay on record, also those whose work was lost before a first checkpoint.
    segments = list(previous["segments"]) if previous else []
    for seg in segments:
        if seg["status"] == "running":
            seg["status"] = "interrupted"
    segment = {
        "started_utc": now_utc(), "ended_utc": None, "start_iteration": start, "end_iteration": start,
        "seconds": 0.0, "status": "running", "error": None, "threads": torch.get_num_threads(),
        "world_size": world, "compiled": compiled, **env,
    }
    segments.append(segment)
    record = {
        "format": RUN_FORMAT, "version": 1, "status": "running", "config": config,
        "model_config": net.config, "seed": seed, "params": count_params(net),
        "data": {"train_set": str(set_dir), "cache_dir": str(cache_dir), "fingerprint": fingerprint,
                 "images": len(dataset) // data_cfg["patches_per_image"],
                 "patches_per_epoch": len(dataset), "iterations_per_epoch": per_epoch},
        "iterations": total, "epochs": total / per_epoch, "iteration": start, "world_size": world,
        "train_seconds": base_seconds, "wall_seconds_all_segments": 0.0, "environment": env, "segments": segments,
    }

    def save_record(status: str) -> None:
        if not lead:
            return
        segment["seconds"] = time.perf_counter() - t0
        segment["ended_utc"] = now_utc() if status != "running" else None
        segment["status"] = status
        record["status"] = status
        record["wall_seconds_all_segments"] = sum(s["seconds"] for s in segments)
        write_json(paths["run.json"], record)

    def check_losses() -> None:
        bad = window.flush()
        if bad is not None:
            raise TrainingDiverged(
                f"iteration {bad[0]}: loss is {bad[1]}; training stopped, {_last_good(paths['checkpoint.pt'])}"
            )

    def save_resumable(iteration: int, epoch: int) -> None:
        check_losses()
        if not _all_finite(net):
            raise TrainingDiverged(
                f"iteration {iteration}: the weights hold NaN or infinite values; training stopped, "
                f"{_last_good(paths['checkpoint.pt'])}"
            )
        seconds = base_seconds + time.perf_counter() - t0
        if lead:
            save_checkpoint(
                paths["checkpoint.pt"], net, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                iteration=iteration, epoch=epoch, rng=rng_state(device), train_seconds=seconds,
                log_window=window.state(), run_config=config, world_size=world,
                iterations=total, data_fingerprint=fingerprint,
            )
        record["iteration"], record["train_seconds"] = iteration, seconds
        segment["end_iteration"] = iteration
        save_record("running")

    workers = int(data_cfg["workers"])
    loader = DataLoader(
        EpochItems(dataset), batch_sampler=RunBatches(len(dataset), batch, seed, start, total, rank, world),
        num_workers=workers, persistent_workers=workers > 0, pin_memory=cuda, generator=torch.Generator(),
    )
    t0 = time.perf_counter()
    save_record("running")
    bar = tqdm(total=total, initial=start, desc=f"train {out.name}", unit="it",
               disable=None if progress and lead else True, dynamic_ncols=True)
    window_t0, window_images = time.perf_counter(), 0
    it = start
    try:
        for inp, target in loader:
            epoch = it // per_epoch
            inp, target = inp.to(device, non_blocking=True), target.to(device, non_blocking=True)
            if cuda:
                inp, target = inp.contiguous(memory_format=torch.channels_last), target.contiguous(memory_format=torch.channels_last)
            current_lr = optimizer.param_groups[0]["lr"]
            loss = train_step(model, optimizer, loss_fn, inp, target, grad_clip=grad_clip)
            scheduler.step()
            it += 1
            window.add(loss, it)
            window_images += inp.shape[0] * world
            bar.update(1)
            if it % sched_cfg["log_every"] == 0 or it == total:
                check_losses()
                now = time.perf_counter()
                if lead:
                    _append_log_row(paths["train_log.csv"], [
                        it, epoch, f"{window.mean():.6g}", f"{current_lr:.6g}",
                        f"{window_images / max(now - window_t0, 1e-9):.2f}", f"{base_seconds + now - t0:.1f}",
                    ])
                bar.set_postfix(loss=f"{window.mean():.4g}", lr=f"{current_lr:.3g}")
                window.reset()
                window_t0, window_images = now, 0
            if it % sched_cfg["checkpoint_every"] == 0 or it == total:
                save_resumable(it, it // per_epoch)
    except TrainingDiverged as exc:
        segment["error"] = str(exc)
        save_record("diverged")
        raise
    except BaseException as exc:
        segment["error"] = f"{type(exc).__name__}: {exc}"
        save_record("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
    finally:
        bar.close()
        del loader  # persistent workers end here

    record["train_seconds"] = base_seconds + time.perf_counter() - t0
    if lead:
        run_meta = {k: record[k] for k in ("config", "seed", "iterations", "epochs", "train_seconds", "params")}
        run_meta.update(git=env["git"], versions=env["versions"], device=env["device"], finished_utc=now_utc())
        save_checkpoint(paths["model.pt"], net, run=json.loads(json.dumps(run_meta)))  # plain types for weights_only
        save_record("finished")
    _barrier(world)
    return record


def _last_good(path: Path) -> str:
    if not path.exists():
        return "and no checkpoint had been written yet"
    try:
        iteration = load_checkpoint(path)["iteration"]
    except CheckpointError:
        return f"{path} left as it was"
    return f"last good checkpoint {path} (iteration {iteration}) kept"


# ----------------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``python -m hst train``'s options."""
    parser.add_argument("--config", metavar="RUN.yaml", help="run config (YAML); omitted: the recipe's defaults")
    parser.add_argument("--out", metavar="RUNDIR", help="run folder; running the same command again resumes")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=1e-4 --set schedule.iterations=500 (repeatable)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--restart-if-changed", action="store_true",
        help="when RUNDIR holds another run (other config, training data or iteration total), discard it and "
             "train from scratch (default: refuse)",
    )
    parser.add_argument(
        "--allow-world-size-change", action="store_true",
        help="resume a checkpoint written with another number of processes (torchrun --nproc_per_node)",
    )


def run(args: argparse.Namespace) -> int:
    """Train from a run config; print where the weights are."""
    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(to_yaml(config), end="")
        return 0
    if not args.out:
        raise ConfigError("--out: give the run folder (RUNDIR) to train into")
    out = Path(args.out)
    model_pt = out / "model.pt"
    finished_before = model_pt.stat().st_mtime_ns if model_pt.exists() else None
    record = train(config, out, progress=not args.no_progress, allow_world_size_change=args.allow_world_size_change,
                   restart_if_changed=args.restart_if_changed)
    if world_from_env()[0] != 0:
        return 0
    if finished_before is not None and model_pt.stat().st_mtime_ns == finished_before:
        print(f"{out}: already finished (model.pt exists); nothing to do")
    else:
        print(f"{out / 'model.pt'}: {record['iterations']} iterations in {record['train_seconds']:.1f} s of training")
    return 0
