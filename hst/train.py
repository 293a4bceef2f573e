"""The trainer (paper Sec. 4.1): AdamW, per-iteration cosine decay, L1 loss; resumable bit for bit on the CPU.

``python -m hst train --config RUN.yaml --out RUNDIR [--set KEY=VALUE ...]``

A run folder holds:

- ``checkpoint.pt``: model, optimizer, scheduler, iteration, epoch, RNG states, accumulated
  train time and the run config; rewritten atomically every ``schedule.checkpoint_every``
  iterations and at the end. Never written with non-finite weights.
- ``model.pt``: the final weights (``hst.checkpoint`` format, with the run's metadata under
  ``run``), written once, at the very end: it exists only for a finished run.
- ``train_log.csv``: one row every ``schedule.log_every`` iterations (see :data:`LOG_COLUMNS`).
  ``loss`` is the mean training loss over the iterations since the previous row; a resumed
  run first drops rows past its checkpoint, so no row is duplicated.
- ``run.json``: the resolved config, the model config, the seed, the data, the totals, and
  one entry per process that worked on the run (a "segment": its versions, device, git
  commit, start/end iteration, wall time and how it ended).

Starting the same command again continues from ``checkpoint.pt``. The data order is a pure
function of (seed, epoch, position) and every RNG the step uses is in the checkpoint, so on
the CPU the resumed run ends with the same weights, bit for bit, as an uninterrupted one.
On CUDA the code path is the same (with bf16 autocast and channels_last), but GPU kernels
that use atomics make runs not bit-identical.

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
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from hst.checkpoint import load_checkpoint, save_checkpoint
from hst.complexity import count_params
from hst.config import OPERATIONAL_KEYS, differences, load_config, model_overrides, to_yaml
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
    """The training loss: mean absolute error, or Charbonnier sqrt((x - y)^2 + eps^2) averaged."""
    name, eps = config["loss"]["name"], float(config["loss"]["eps"])
    if name == "l1":
        return torch.nn.L1Loss()
    if name == "charbonnier":
        return lambda out, target: torch.sqrt((out - target) ** 2 + eps * eps).mean()
    raise ConfigError(f"loss.name: unknown loss {name!r}")


def cosine_factor(iteration: int, total: int, lr: float, lr_min: float, warmup: int = 0) -> float:
    """lr(t) / lr: a linear warm-up over the first ``warmup`` iterations (from lr / warmup), then the
    cosine decay from lr at t = 0 to lr_min at t = total."""
    if iteration < warmup:
        return (iteration + 1) / warmup
    t = min(max(iteration, 0), total)
    return (lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * t / total))) / lr


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The dataset indices of one epoch: a permutation that depends only on (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class EpochBatches(Sampler):
    """Batches of one epoch's permutation (the last partial batch dropped), from batch ``start`` on."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start: int = 0) -> None:
        self.order = epoch_order(n, seed, epoch)
        self.batch_size = batch_size
        self.start = start

    def __len__(self) -> int:
        return len(self.order) // self.batch_size - self.start

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(self.start, len(self.order) // self.batch_size):
            yield self.order[b * self.batch_size : (b + 1) * self.batch_size].tolist()


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
    """Torch's CPU (and CUDA) RNG states as uint8 tensors, loadable with weights_only."""
    state: dict[str, Any] = {"torch_cpu": torch.get_rng_state(), "torch_cuda": []}
    if device.type == "cuda":
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and state.get("torch_cuda"):
        torch.cuda.set_rng_state_all(state["torch_cuda"])


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
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


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


def _check_same_run(old: dict[str, Any], new: dict[str, Any], where: Path) -> None:
    changed = differences(old, new, ignore=OPERATIONAL_KEYS)
    if changed:
        raise ConfigError(
            f"{where}: holds a run with a different config ({', '.join(changed)} differ); "
            "start a new run in another --out folder"
        )


def train(config: dict[str, Any], out_dir: str | os.PathLike, *, progress: bool = True) -> dict[str, Any]:
    """Train (or resume, or find finished) the run of ``config`` in ``out_dir``; return its run record."""
    out = Path(out_dir)
    ensure_output_dir(out)
    paths = {name: out / name for name in ("checkpoint.pt", "model.pt", "train_log.csv", "run.json")}
    previous = _previous_run(paths["run.json"])
    if previous is not None:
        _check_same_run(previous["config"], config, out)
    if paths["model.pt"].exists():
        if previous is None:
            raise HSTError(f"{out}: has model.pt but no run.json; use another --out folder")
        return previous

    set_dir, cache_dir = _resolve_paths(config)
    device = resolve_device(config["device"])
    with torch_settings(device, config["threads"]):
        return _train(config, out, paths, previous, set_dir, cache_dir, device, progress)


def _train(config: dict[str, Any], out: Path, paths: dict[str, Path], previous: dict[str, Any] | None,
           set_dir: Path, cache_dir: Path, device: torch.device, progress: bool) -> dict[str, Any]:
    """The body of :func:`train`, run under fixed torch settings."""
    from tqdm import tqdm

    from hst import build_model
    from hst.data.patches import PatchDataset, prepare_cache

    data_cfg, optim_cfg, sched_cfg = config["data"], config["optim"], config["schedule"]
    seed, batch = int(config["seed"]), int(optim_cfg["batch_size"])
    prepare_cache(set_dir, cache_dir)
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
    total = int(sched_cfg["iterations"] or sched_cfg["epochs"] * per_epoch)

    torch.manual_seed(seed)
    model = build_model(config["model"]["variant"], **model_overrides(config)).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    lr, lr_min = float(optim_cfg["lr"]), float(optim_cfg["lr_min"])
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=lr, betas=tuple(optim_cfg["betas"]), weight_decay=optim_cfg["weight_decay"]
    )
    warmup, grad_clip = int(optim_cfg["warmup_iterations"]), optim_cfg["grad_clip"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: cosine_factor(t, total, lr, lr_min, warmup))
    loss_fn = build_loss(config)

    start, base_seconds, window = 0, 0.0, {"loss_sum": 0.0, "count": 0}
    if paths["checkpoint.pt"].exists():
        ckpt = load_checkpoint(paths["checkpoint.pt"], map_location="cpu")
        if "run_config" not in ckpt or "optimizer" not in ckpt:
            raise CheckpointError(f"{paths['checkpoint.pt']}: not a resumable training checkpoint")
        _check_same_run(ckpt["run_config"], config, out)
        try:
            model.load_state_dict(ckpt["state_dict"])
            optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{paths['checkpoint.pt']}: does not fit this run's model ({exc})") from None
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"], device)
        start, base_seconds = int(ckpt["iteration"]), float(ckpt["train_seconds"])
        window = dict(ckpt["log_window"])
    _keep_log_rows(paths["train_log.csv"], start)

    env = environment(device)
    # Earlier processes stay on record, also those whose work was lost before a first checkpoint.
    segments = list(previous["segments"]) if previous else []
    for seg in segments:
        if seg["status"] == "running":
            seg["status"] = "interrupted"
    segment = {
        "started_utc": now_utc(), "ended_utc": None, "start_iteration": start, "end_iteration": start,
        "seconds": 0.0, "status": "running", "error": None, "threads": torch.get_num_threads(), **env,
    }
    segments.append(segment)
    record = {
        "format": RUN_FORMAT, "version": 1, "status": "running", "config": config,
        "model_config": model.config, "seed": seed, "params": count_params(model),
        "data": {"train_set": str(set_dir), "cache_dir": str(cache_dir), "images": len(dataset) // data_cfg["patches_per_image"],
                 "patches_per_epoch": len(dataset), "iterations_per_epoch": per_epoch},
        "iterations": total, "epochs": total / per_epoch, "iteration": start,
        "train_seconds": base_seconds, "wall_seconds_all_segments": 0.0, "environment": env, "segments": segments,
    }

    def save_record(status: str) -> None:
        segment["seconds"] = time.perf_counter() - t0
        segment["ended_utc"] = now_utc() if status != "running" else None
        segment["status"] = status
        record["status"] = status
        record["wall_seconds_all_segments"] = sum(s["seconds"] for s in segments)
        write_json(paths["run.json"], record)

    def save_resumable(iteration: int, epoch: int) -> None:
        if not _all_finite(model):
            raise TrainingDiverged(
                f"iteration {iteration}: the weights hold NaN or infinite values; training stopped, "
                f"{_last_good(paths['checkpoint.pt'])}"
            )
        seconds = base_seconds + time.perf_counter() - t0
        save_checkpoint(
            paths["checkpoint.pt"], model, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
            iteration=iteration, epoch=epoch, rng=rng_state(device), train_seconds=seconds,
            log_window=dict(window), run_config=config,
        )
        record["iteration"], record["train_seconds"] = iteration, seconds
        segment["end_iteration"] = iteration
        save_record("running")

    t0 = time.perf_counter()
    save_record("running")
    bar = tqdm(total=total, initial=start, desc=f"train {out.name}", unit="it", disable=None if progress else True, dynamic_ncols=True)
    window_t0, window_images = time.perf_counter(), 0
    it = start
    try:
        while it < total:
            epoch, step = divmod(it, per_epoch)
            dataset.set_epoch(epoch)
            loader = DataLoader(
                dataset, batch_sampler=EpochBatches(len(dataset), batch, seed, epoch, step),
                num_workers=data_cfg["workers"], pin_memory=cuda, generator=torch.Generator(),
            )
            for inp, target in loader:
                if it >= total:
                    break
                inp, target = inp.to(device, non_blocking=True), target.to(device, non_blocking=True)
                if cuda:
                    inp, target = inp.contiguous(memory_format=torch.channels_last), target.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                    restored = model(inp)
                loss = loss_fn(restored.float(), target)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"iteration {it + 1}: loss is {value}; training stopped, {_last_good(paths['checkpoint.pt'])}"
                    )
                current_lr = optimizer.param_groups[0]["lr"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                scheduler.step()
                it += 1
                window["loss_sum"] += value
                window["count"] += 1
                window_images += inp.shape[0]
                bar.update(1)
                if it % sched_cfg["log_every"] == 0 or it == total:
                    now = time.perf_counter()
                    _append_log_row(paths["train_log.csv"], [
                        it, epoch, f"{window['loss_sum'] / window['count']:.6g}", f"{current_lr:.6g}",
                        f"{window_images / max(now - window_t0, 1e-9):.2f}", f"{base_seconds + now - t0:.1f}",
                    ])
                    bar.set_postfix(loss=f"{window['loss_sum'] / window['count']:.4g}", lr=f"{current_lr:.3g}")
                    window.update(loss_sum=0.0, count=0)
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

    record["train_seconds"] = base_seconds + time.perf_counter() - t0
    run_meta = {k: record[k] for k in ("config", "seed", "iterations", "epochs", "train_seconds", "params")}
    run_meta.update(git=env["git"], versions=env["versions"], device=env["device"], finished_utc=now_utc())
    save_checkpoint(paths["model.pt"], model, run=json.loads(json.dumps(run_meta)))  # plain types for weights_only
    save_record("finished")
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


def run(args: argparse.Namespace) -> int:
    """Train from a run config; print where the weights are."""
    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(to_yaml(config), end="")
        return 0
    if not args.out:
        raise ConfigError("--out: give the run folder (RUNDIR) to train into")
    out = Path(args.out)
    finished_before = (out / "model.pt").exists()
    record = train(config, out, progress=not args.no_progress)
    if finished_before:
        print(f"{out}: already finished (model.pt exists); nothing to do")
    else:
        print(f"{out / 'model.pt'}: {record['iterations']} iterations in {record['train_seconds']:.1f} s of training")
    return 0
