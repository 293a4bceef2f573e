"""The training state, built in one place for every caller: the trainer (:mod:`hst.engine.train`),
``hst plan``'s throughput measurement and the benchmarks all call :func:`build_training_state`, so
each architecture's recipe (its model, optimiser settings, lr schedule, loss, gradient clipping) is
what is trained and what is timed. Also the pieces the state is made of: the losses by name, the lr
schedules, the data order of a run (:class:`RunBatches`, :func:`run_loader`) and the RNG states a
checkpoint keeps.

The builder draws from torch's global RNG in a fixed order (seed, then the network's initial
weights): the same config and seed give the same initial state on every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from hst.errors import CheckpointError, ConfigError


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
    mx, my = _blur(x, kernel), _blur(y, kernel)
    vx, vy, cov = _blur(x * x, kernel) - mx * mx, _blur(y * y, kernel) - my * my, _blur(x * y, kernel) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def _blur(t: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel of ``t`` convolved with its (odd, square) ``kernel`` slice, zero-padded to the same size."""
    return F.conv2d(t, kernel, padding=kernel.shape[-1] // 2, groups=t.shape[1])


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



def use_compile(config: dict[str, Any], device: torch.device) -> bool:
    """``compile``: true, false, or auto (on CUDA only: on the CPU it was measured not to pay; see README)."""
    value = config["compile"]
    return device.type == "cuda" if value == "auto" else bool(value)


# ----------------------------------------------------------------------------- the state


@dataclass
class TrainingState:
    """What a training step changes, and how it steps: the network (``net``; ``model`` is what the step
    calls: ``net`` itself, or wrapped in DistributedDataParallel and/or torch.compile), the optimiser,
    the lr scheduler, the loss, gradient clipping; ``start`` is the iteration it continues from."""

    config: dict[str, Any]
    device: torch.device
    net: torch.nn.Module
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loss_fn: Any
    grad_clip: float | None
    compiled: bool
    start: int = 0

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def to_device(self, inp: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A host batch on the device (channels_last on CUDA, as the network's weights)."""
        inp, target = inp.to(self.device, non_blocking=True), target.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            inp, target = inp.contiguous(memory_format=torch.channels_last), target.contiguous(memory_format=torch.channels_last)
        return inp, target

    def step(self, inp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One iteration: :func:`train_step`, then the lr schedule's step. Returns the loss, on the device."""
        loss = train_step(self.model, self.optimizer, self.loss_fn, inp, target, grad_clip=self.grad_clip)
        self.scheduler.step()
        return loss

    def resumable(self) -> dict[str, Any]:
        """The optimiser's, the scheduler's and the RNGs' states, for a checkpoint (the weights go with ``net``)."""
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": rng_state(self.device)}


def build_optimizer(params, optim: dict[str, Any], device: torch.device) -> torch.optim.Optimizer:
    """The run's optimiser from its ``optim`` section: AdamW (lr, betas, weight_decay; weight_decay 0 is
    Adam, as PReNet's recipe), fused on CUDA. The one place in ``hst`` that constructs an optimiser."""
    return torch.optim.AdamW(
        params, lr=float(optim["lr"]), betas=tuple(optim["betas"]), weight_decay=optim["weight_decay"],
        **({"fused": True} if device.type == "cuda" else {}),
    )


def build_training_state(config: dict[str, Any], device: torch.device, total: int, *, rank: int = 0, world: int = 1,
                         checkpoint: dict[str, Any] | None = None, checkpoint_path: Path | None = None,
                         backend: str = "inductor") -> TrainingState:
    """The training state of run config ``config`` for a run of ``total`` iterations on ``device``.

    Seeds torch with ``config.seed`` (the same on every process: the sampler's draws stay in step), builds
    the network (``model`` section; channels_last on CUDA; process ``rank``'s share of the sampler's
    draws), the optimiser (:func:`build_optimizer`), the lr schedule (``optim.decay``) and the loss
    (``loss.name``). With ``checkpoint`` (a resumable training checkpoint read from ``checkpoint_path``)
    the weights, optimiser, scheduler and RNG states continue from it. Then, with several processes,
    DistributedDataParallel; with ``compile`` (:func:`use_compile`), torch.compile with ``backend``.
    """
    from hst.models import build_from_config, shard_sampling

    torch.manual_seed(int(config["seed"]))
    net = build_from_config(config["model"]).to(device)
    net.check_inputs = False  # patches of a uint8 cache are finite: no isfinite() sync (nor graph break) per step
    shard_sampling(net, rank, world)
    cuda = device.type == "cuda"
    if cuda:
        net = net.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(net.parameters(), config["optim"], device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config["optim"], total))
    loss_fn = build_loss(config)
    start = 0
    if checkpoint is not None:
        start = _restore(checkpoint, checkpoint_path, net, optimizer, scheduler, device)
    model: torch.nn.Module = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device.index] if cuda else None)
    compiled = use_compile(config, device)
    if compiled:
        model = torch.compile(model, backend=backend)
    return TrainingState(config, device, net, model, optimizer, scheduler, loss_fn, config["optim"]["grad_clip"],
                         compiled, start)


def _restore(ckpt: dict[str, Any], path: Path | None, net: torch.nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler, device: torch.device) -> int:
    """Load a resumable checkpoint into the state; return its iteration."""
    try:
        net.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: does not fit this run's model ({exc})") from None
    scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"], device)
    return int(ckpt["iteration"])


def run_loader(dataset, config: dict[str, Any], start: int, total: int, device: torch.device,
               rank: int = 0, world: int = 1) -> DataLoader:
    """The run's data from iteration ``start`` to ``total``: one DataLoader for the whole run (its workers
    persist across epochs), batches in :class:`RunBatches`' order, process ``rank``'s slice of each."""
    workers, batch = int(config["data"]["workers"]), int(config["optim"]["batch_size"])
    return DataLoader(
        EpochItems(dataset), batch_sampler=RunBatches(len(dataset), batch, int(config["seed"]), start, total, rank, world),
        num_workers=workers, persistent_workers=workers > 0, pin_memory=device.type == "cuda",
        generator=torch.Generator(),
    )
