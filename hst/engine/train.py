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

Times (:class:`hst.engine.run_record.RunRecord` keeps the clock): ``train_seconds`` is the wall
time of the training loop over the iterations that produced the final weights, summed over
resumes (checkpoint writes included, work that a kill threw away and was redone counted once),
WITHOUT each process's first step: that one (torch.compile's compilation with ``compile``, the
loader's start) is ``first_step_seconds``, summed alike, and per process in its segment;
``segments[i].seconds`` is what each process spent in the loop, first step included, and
``wall_seconds_all_segments`` their sum. Table 5 uses ``train_seconds``.

The training state (network, optimiser, lr schedule, loss) is built by
:func:`hst.engine.state.build_training_state`, which ``hst plan`` and the benchmarks call too;
the loop itself is :func:`_train_loop`, its bookkeeping in :class:`TrainingRun` and the run
folder's objects (:mod:`hst.engine.run_record`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader

from hst.engine.checkpoint import load_checkpoint, save_checkpoint
from hst.engine.run_record import LOG_COLUMNS, RUN_FORMAT, RunFolder, RunRecord, TrainLog, resume_changes, write_json  # noqa: F401
from hst.engine.state import (  # noqa: F401  (the trainer's pieces, importable from here as before)
    EpochItems, RunBatches, TrainingState, build_loss, build_training_state, cosine_factor, epoch_order, lr_factor,
    run_loader, ssim_map, ssim_torch, step_factor, train_step, use_compile,
)
from hst.models.complexity import count_params
from hst.engine.config import load_config, to_yaml
from hst.data.cli import CACHE_DIR
from hst.envinfo import environment, now_utc, resolve_device
from hst.errors import CheckpointError, ConfigError, HSTError
from hst.options import add_out


class TrainingDiverged(HSTError):
    """The loss (or the weights) became NaN or infinite; the run stopped, its last good checkpoint kept."""


# ----------------------------------------------------------------------------- pieces


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


def _all_finite(model: torch.nn.Module) -> bool:
    return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


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


def iteration_total(config: dict[str, Any], patches_per_epoch: int) -> int:
    """The run's length in iterations: ``schedule.iterations``, or its epochs of ``patches_per_epoch`` patches."""
    sched = config["schedule"]
    return int(sched["iterations"] or sched["epochs"] * (patches_per_epoch // int(config["optim"]["batch_size"])))


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


def train(config: dict[str, Any], out_dir: str | os.PathLike, *, progress: bool = True,
          allow_world_size_change: bool = False, restart_if_changed: bool = False) -> dict[str, Any]:
    """Train (or resume, or find finished) the run of ``config`` in ``out_dir``; return its run record.

    A run folder that holds another run (see :func:`resume_changes`) is refused with ConfigError, or
    with ``restart_if_changed`` emptied of that run and trained from scratch.
    Under ``torchrun`` (WORLD_SIZE > 1) every process calls this; they share the global batch
    and rank 0 alone writes the run folder.
    """
    rank, world, local = world_from_env()
    batch = int(config["optim"]["batch_size"])
    if batch % world:
        raise ConfigError(
            f"optim.batch_size: {batch} does not split over {world} processes (WORLD_SIZE); "
            "the global batch stays the recipe's, so use a process count that divides it"
        )
    folder = RunFolder(Path(out_dir), lead=rank == 0)
    set_dir, cache_dir = _resolve_paths(config)
    from hst.data.cache import set_fingerprint

    fingerprint, pairs = set_fingerprint(set_dir)
    total = iteration_total(config, pairs * int(config["data"]["patches_per_image"]))
    if not folder.claim(config, fingerprint, total, restart_if_changed):
        return folder.previous
    with process_group(config["device"], world, local) as device, torch_settings(device, config["threads"]):
        run = TrainingRun.begin(config, folder, set_dir, cache_dir, fingerprint, device, rank=rank, world=world,
                                allow_world_size_change=allow_world_size_change)
        return run.train(progress)


def _patch_dataset(config: dict[str, Any], set_dir: Path, cache_dir: Path, lead: bool, world: int):
    """The training set's patch dataset (its cache prepared by the lead process first); refused when an
    epoch holds less than one global batch."""
    from hst.data.cache import prepare_cache
    from hst.data.patches import PatchDataset

    if lead:
        prepare_cache(set_dir, cache_dir)
    _barrier(world)
    if not lead:
        prepare_cache(set_dir, cache_dir)  # up to date now: reads the index only
    data_cfg, batch = config["data"], int(config["optim"]["batch_size"])
    dataset = PatchDataset(
        cache_dir, patch_size=data_cfg["patch_size"], patches_per_image=data_cfg["patches_per_image"],
        seed=int(config["seed"]), augment=data_cfg["augment"],
    )
    if len(dataset) // batch == 0:
        raise ConfigError(
            f"optim.batch_size: {batch} is more than the {len(dataset)} patches of an epoch "
            f"({set_dir.name}); lower it or raise data.patches_per_image"
        )
    return dataset


def _check_world_size(ckpt: dict[str, Any], path: Path, world: int, allow_change: bool) -> None:
    """A checkpoint resumes with the number of processes that wrote it, unless a change is allowed."""
    trained_with = int(ckpt.get("world_size", 1))
    if trained_with != world and not allow_change:
        how = f"torchrun --nproc_per_node {trained_with} -m hst train" if trained_with > 1 else "python -m hst train"
        raise ConfigError(
            f"{path}: this run was trained with {trained_with} process(es) and would resume "
            f"with {world}; resume with `{how}`, or pass --allow-world-size-change "
            "(same global batch and data, other float rounding)"
        )


class TrainingRun:
    """One process's part of a run: its training state (:class:`hst.engine.state.TrainingState`), the run
    folder, the run record and log, and the window of losses not yet checked. :func:`_train_loop` drives it."""

    def __init__(self, config: dict[str, Any], folder: RunFolder, state: TrainingState, dataset, fingerprint: str,
                 total: int, window: LossWindow, log: TrainLog, record: RunRecord, rank: int, world: int) -> None:
        self.config, self.folder, self.state, self.dataset, self.fingerprint = config, folder, state, dataset, fingerprint
        self.total, self.per_epoch = total, len(dataset) // int(config["optim"]["batch_size"])
        self.window, self.log, self.record = window, log, record
        self.rank, self.world, self.lead = rank, world, rank == 0

    @classmethod
    def begin(cls, config: dict[str, Any], folder: RunFolder, set_dir: Path, cache_dir: Path, fingerprint: str,
              device: torch.device, *, rank: int, world: int, allow_world_size_change: bool) -> TrainingRun:
        """The run's state (from scratch, or from the folder's checkpoint), its log and its record, under fixed
        torch settings (and, with several processes, a process group)."""
        dataset = _patch_dataset(config, set_dir, cache_dir, rank == 0, world)
        total, per_epoch = iteration_total(config, len(dataset)), len(dataset) // int(config["optim"]["batch_size"])
        ckpt, ckpt_path = folder.checkpoint, folder.paths["checkpoint.pt"]
        if ckpt is not None:  # the same run on the same data (RunFolder.claim checked)
            _check_world_size(ckpt, ckpt_path, world, allow_world_size_change)
        state = build_training_state(config, device, total, rank=rank, world=world, checkpoint=ckpt,
                                     checkpoint_path=ckpt_path)
        window = LossWindow(**ckpt["log_window"], world=world) if ckpt is not None else LossWindow(world=world)
        log = TrainLog(folder.paths["train_log.csv"], rank == 0, state.start, world)
        images = len(dataset) // config["data"]["patches_per_image"]
        run = {"config": config, "model_config": state.net.config, "seed": int(config["seed"]),
               "params": count_params(state.net),
               "data": {"train_set": str(set_dir), "cache_dir": str(cache_dir), "fingerprint": fingerprint, "images": images,
                        "patches_per_epoch": len(dataset), "iterations_per_epoch": per_epoch},
               "iterations": total, "epochs": total / per_epoch, "iteration": state.start, "world_size": world}
        segment = {"threads": torch.get_num_threads(), "world_size": world, "compiled": state.compiled}
        base = (float(ckpt["train_seconds"]), float(ckpt.get("first_step_seconds", 0.0))) if ckpt is not None else (0.0, 0.0)
        record = RunRecord(folder.paths["run.json"], rank == 0, folder.previous, run, environment(device), segment, *base)
        return cls(config, folder, state, dataset, fingerprint, total, window, log, record, rank, world)

    def train(self, progress: bool) -> dict[str, Any]:
        """Train to the end; write the weights; return the run record."""
        from tqdm import tqdm

        loader = run_loader(self.dataset, self.config, self.state.start, self.total, self.state.device, self.rank, self.world)
        bar = tqdm(total=self.total, initial=self.state.start, desc=f"train {self.folder.out.name}", unit="it",
                   disable=None if progress and self.lead else True, dynamic_ncols=True)
        try:
            _train_loop(self, loader, bar)
        finally:
            bar.close()
            del loader  # persistent workers end here
        self.finish()
        _barrier(self.world)
        return self.record.data

    def check_losses(self) -> None:
        """The losses since the last check, read in one transfer: a NaN or infinite one stops the run."""
        bad = self.window.flush()
        if bad is not None:
            raise TrainingDiverged(
                f"iteration {bad[0]}: loss is {bad[1]}; training stopped, {_last_good(self.folder.paths['checkpoint.pt'])}"
            )

    def log_row(self, iteration: int, epoch: int, lr: float, bar) -> None:
        """A row of train_log.csv: the mean loss since the previous row (checked first)."""
        self.check_losses()
        self.log.write(iteration, epoch, self.window.mean(), lr, self.record)
        bar.set_postfix(loss=f"{self.window.mean():.4g}", lr=f"{lr:.3g}")
        self.window.reset()

    def save_resumable(self, iteration: int) -> None:
        """checkpoint.pt of ``iteration`` (never of non-finite losses or weights), and the record to match."""
        self.check_losses()
        path = self.folder.paths["checkpoint.pt"]
        if not _all_finite(self.state.net):
            raise TrainingDiverged(
                f"iteration {iteration}: the weights hold NaN or infinite values; training stopped, {_last_good(path)}"
            )
        seconds = self.record.train_seconds()
        if self.lead:
            save_checkpoint(
                path, self.state.net, **self.state.resumable(), iteration=iteration, epoch=iteration // self.per_epoch,
                train_seconds=seconds, first_step_seconds=self.record.first_step_seconds(),
                log_window=self.window.state(), run_config=self.config, world_size=self.world,
                iterations=self.total, data_fingerprint=self.fingerprint,
            )
        self.record.checkpointed(iteration, seconds)

    def finish(self) -> None:
        """model.pt (the final weights, with the run's metadata) and the record, finished."""
        self.record.finish_totals()
        if not self.lead:
            return
        data, env = self.record.data, self.record.data["environment"]
        keys = ("config", "seed", "iterations", "epochs", "train_seconds", "first_step_seconds", "params")
        run_meta = {k: data[k] for k in keys}
        run_meta.update(git=env["git"], versions=env["versions"], device=env["device"], finished_utc=now_utc())
        save_checkpoint(self.folder.paths["model.pt"], self.state.net, run=json.loads(json.dumps(run_meta)))  # plain types
        self.record.save("finished")


def _train_loop(run: TrainingRun, loader: DataLoader, bar) -> None:
    """The training loop: a step per batch of ``loader``; a log row every ``schedule.log_every`` iterations and
    a checkpoint every ``schedule.checkpoint_every`` (both at the end); the run record says how it ended."""
    state, schedule, total = run.state, run.config["schedule"], run.total
    it = state.start
    run.record.start()
    run.log.start()
    try:
        for inp, target in loader:
            epoch = it // run.per_epoch
            inp, target = state.to_device(inp, target)
            lr = state.lr
            loss = state.step(inp, target)
            it += 1
            run.record.step_done(state.device)
            run.window.add(loss, it)
            run.log.count(inp.shape[0])
            bar.update(1)
            if it % schedule["log_every"] == 0 or it == total:
                run.log_row(it, epoch, lr, bar)
            if it % schedule["checkpoint_every"] == 0 or it == total:
                run.save_resumable(it)
    except TrainingDiverged as exc:
        run.record.save("diverged", str(exc))
        raise
    except BaseException as exc:
        run.record.save("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", f"{type(exc).__name__}: {exc}")
        raise



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
    what = parser.add_mutually_exclusive_group(required=True)
    add_out(what, "run folder to train into; running the same command again resumes", required=False, metavar="RUNDIR")
    what.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=1e-4 --set schedule.iterations=500 (repeatable)",
    )
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
