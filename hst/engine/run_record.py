"""A run folder's bookkeeping, each part with one home: :class:`RunFolder` (which files, whose run they
hold, resume or refuse), :class:`RunRecord` (``run.json``: the clock, the segments, the totals; written
from here only) and :class:`TrainLog` (``train_log.csv``). :mod:`hst.engine.train` describes the folder.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from hst.engine.checkpoint import load_checkpoint
from hst.envinfo import now_utc
from hst.errors import CheckpointError, ConfigError, HSTError
from hst.fsutil import atomic_write_text, ensure_output_dir
from hst.engine.config import OPERATIONAL_KEYS, build_config, differences

LOG_COLUMNS = ["iteration", "epoch", "loss", "lr", "images_per_s", "train_seconds"]
RUN_FORMAT = "hst-run"
FILES = ("checkpoint.pt", "model.pt", "train_log.csv", "run.json")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """JSON, indented, written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


# ----------------------------------------------------------------------------- the folder


class RunFolder:
    """The run folder ``out``: its files (``paths``), the run record it holds (``previous``) and its resumable
    checkpoint (``checkpoint``); :meth:`claim` decides whether this run continues there. ``lead``: this
    process writes the folder (rank 0)."""

    def __init__(self, out: Path, lead: bool = True) -> None:
        self.out, self.lead = out, lead
        if lead:
            ensure_output_dir(out)
        self.paths = {name: out / name for name in FILES}
        self.previous = _previous_run(self.paths["run.json"])
        if self.paths["model.pt"].exists() and self.previous is None:
            raise HSTError(f"{out}: has model.pt but no run.json; use another --out folder")
        self.checkpoint = _resumable(self.paths["checkpoint.pt"])

    @property
    def finished(self) -> bool:
        return self.paths["model.pt"].exists()

    def claim(self, config: dict[str, Any], fingerprint: str, total: int, restart_if_changed: bool) -> bool:
        """Whether this run (``config`` on data ``fingerprint`` for ``total`` iterations) is to be trained here:
        False when the folder holds it finished. A folder holding another run is refused (ConfigError naming
        what changed) or, with ``restart_if_changed``, emptied of it (said on stderr)."""
        why = self.changes(config, fingerprint, total)
        if not why:
            return not self.finished
        what = "a finished run" if self.finished else "a run"
        if not restart_if_changed:
            raise ConfigError(
                f"{self.out}: holds {what} that is not this one ({'; '.join(why)}); not resumed. Start it in another "
                "--out folder, or pass --restart-if-changed to discard it and train from scratch"
            )
        if self.lead:
            print(f"{self.out}: holds {what} that is not this one ({'; '.join(why)}); restarting from scratch "
                  "(its checkpoint, log, record and weights discarded)", file=sys.stderr, flush=True)
            for path in self.paths.values():
                path.unlink(missing_ok=True)
        self.previous, self.checkpoint = None, None
        return True

    def changes(self, config: dict[str, Any], fingerprint: str, total: int) -> list[str]:
        """Why the run record and the checkpoint here are not this run's (each reason once); [] when they are."""
        recorded = []
        if self.previous is not None:
            recorded.append({"config": self.previous["config"], "data_fingerprint": self.previous["data"].get("fingerprint"),
                             "iterations": self.previous.get("iterations")})
        if self.checkpoint is not None:
            recorded.append({"config": self.checkpoint["run_config"], "iterations": self.checkpoint.get("iterations"),
                             "data_fingerprint": self.checkpoint.get("data_fingerprint")})
        return list(dict.fromkeys(r for rec in recorded for r in resume_changes(rec, config, fingerprint, total)))


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


def _resumable(path: Path) -> dict[str, Any] | None:
    """The training checkpoint at ``path``, or None when there is none."""
    if not path.exists():
        return None
    ckpt = load_checkpoint(path, map_location="cpu")
    if "run_config" not in ckpt or "optimizer" not in ckpt:
        raise CheckpointError(f"{path}: not a resumable training checkpoint")
    return ckpt


# ----------------------------------------------------------------------------- the record


class RunRecord:
    """``run.json``: the run, its totals and one segment per process that worked on it; the clock of this one.

    ``train_seconds`` is the wall time of the training loop over the iterations that produced the final
    weights, summed over resumes, WITHOUT each process's first step (compilation, with ``compile``; the
    loader's start): that is ``first_step_seconds``, summed over the same processes (work that a kill
    threw away counts in neither). Both are checkpointed, so they survive a resume. A segment's
    ``seconds`` is all its process spent in the loop, first step included; ``wall_seconds_all_segments``
    their sum. Only the lead process (rank 0) writes the file.
    """

    def __init__(self, path: Path, lead: bool, previous: dict[str, Any] | None, run: dict[str, Any],
                 environment: dict[str, Any], segment: dict[str, Any], base_seconds: float = 0.0,
                 base_first_step: float = 0.0) -> None:
        """``run``: the record's fields of the run (config, model, data, iterations, ``iteration`` it starts at);
        ``environment``: this process's (versions, device, git); ``segment``: its other fields (threads, ...);
        ``base_seconds`` / ``base_first_step``: the totals of the checkpoint it continues from."""
        self.path, self.lead = path, lead
        self.base_seconds, self.base_first_step = float(base_seconds), float(base_first_step)
        # Earlier processes stay on record, also those whose work was lost before a first checkpoint.
        segments = list(previous["segments"]) if previous else []
        for seg in segments:
            if seg["status"] == "running":
                seg["status"] = "interrupted"
        self.segment = {"started_utc": now_utc(), "ended_utc": None, "start_iteration": run["iteration"],
                        "end_iteration": run["iteration"], "seconds": 0.0, "first_step_seconds": None,
                        "status": "running", "error": None, **segment, **environment}
        segments.append(self.segment)
        self.data = {"format": RUN_FORMAT, "version": 1, "status": "running", **run,
                     "train_seconds": self.base_seconds, "first_step_seconds": self.base_first_step,
                     "wall_seconds_all_segments": 0.0, "environment": environment, "segments": segments}
        self.t0: float | None = None
        self.first_step: float | None = None

    def start(self) -> None:
        """The training loop starts: the clock runs."""
        self.t0 = time.perf_counter()
        self.save("running")

    def step_done(self, device: torch.device) -> None:
        """After each step: the first one's time (waiting for the device, once) is kept apart."""
        if self.first_step is None:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.first_step = time.perf_counter() - self.t0
            self.segment["first_step_seconds"] = self.first_step

    def train_seconds(self, now: float | None = None) -> float:
        """The run's training time up to ``now`` (default: now), this process's first step excluded."""
        now = time.perf_counter() if now is None else now
        return self.base_seconds + now - self.t0 - (self.first_step or 0.0)

    def first_step_seconds(self) -> float:
        return self.base_first_step + (self.first_step or 0.0)

    def checkpointed(self, iteration: int, seconds: float) -> None:
        """A checkpoint of ``iteration`` is written, with ``seconds`` of training: the totals are its weights'."""
        self.data["iteration"], self.data["train_seconds"] = iteration, seconds
        self.data["first_step_seconds"] = self.first_step_seconds()
        self.segment["end_iteration"] = iteration
        self.save("running")

    def finish_totals(self) -> None:
        self.data["train_seconds"], self.data["first_step_seconds"] = self.train_seconds(), self.first_step_seconds()

    def save(self, status: str, error: str | None = None) -> None:
        """Write run.json with this segment's time so far and ``status`` (its ``error``, when it ended on one)."""
        if error is not None:
            self.segment["error"] = error
        if not self.lead:
            return
        self.segment["seconds"] = time.perf_counter() - self.t0
        self.segment["ended_utc"] = now_utc() if status != "running" else None
        self.segment["status"] = self.data["status"] = status
        self.data["wall_seconds_all_segments"] = sum(s["seconds"] for s in self.data["segments"])
        write_json(self.path, self.data)


# ----------------------------------------------------------------------------- the log


class TrainLog:
    """``train_log.csv`` (:data:`LOG_COLUMNS`): a resumed run first drops the rows past its checkpoint; each row's
    images/s is over the iterations since the previous row. Only the lead process writes."""

    def __init__(self, path: Path, lead: bool, start: int, world: int = 1) -> None:
        self.path, self.lead, self.world = path, lead, world
        if lead:
            self._keep_rows(start)
        self.start()

    def start(self) -> None:
        """The next row's images/s counts from now."""
        self.t0, self.images = time.perf_counter(), 0

    def count(self, batch: int) -> None:
        """This process trained on ``batch`` images (all processes: ``world`` times that)."""
        self.images += batch * self.world

    def write(self, iteration: int, epoch: int, loss: float, lr: float, record: RunRecord) -> None:
        now = time.perf_counter()
        if self.lead:
            row = [iteration, epoch, f"{loss:.6g}", f"{lr:.6g}", f"{self.images / max(now - self.t0, 1e-9):.2f}",
                   f"{record.train_seconds(now):.1f}"]
            with self.path.open("a", newline="") as fh:
                csv.writer(fh, lineterminator="\n").writerow(row)
                fh.flush()
        self.t0, self.images = now, 0

    def _keep_rows(self, last_iteration: int) -> None:
        """Rewrite the log keeping well-formed rows up to ``last_iteration`` (a resume redoes the rest)."""
        rows: list[list[str]] = []
        if self.path.exists():
            with self.path.open(newline="") as fh:
                rows = [row for row in csv.reader(fh)
                        if len(row) == len(LOG_COLUMNS) and row[0].isdigit() and int(row[0]) <= last_iteration]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(LOG_COLUMNS)
        writer.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())
