"""Inference over a set: restored PNGs and per-image times, then (unless told not to) the scores.

``python -m hst evaluate --checkpoint CKPT --set SETDIR --protocol derain|gopro|realblur|prenet --out DIR
[--sampling seeded|grid|ensemble] [--seed S] [--draws K] [--no-score] [--no-save] [--tile N [--tile-overlap M]]``

Every input is restored at full resolution (the model pads internally and crops back), clamped
to [0, 1] and rounded to uint8 half up (``floor(255 x + 0.5)``, MATLAB's ``im2uint8``), except
under a protocol whose own test script saved its outputs otherwise (``hst.metrics.protocols.OUTPUT_ROUNDING``:
PReNet's truncates). The whole image goes through the model at once unless ``--tile N
[--tile-overlap M]`` is given (see :mod:`hst.engine.tiles`); ``eval.json`` records ``tile`` and
``tile_overlap`` (null when whole-image). CKPT is a checkpoint of this harness or a released weight
file of the weights registry (``python -m hst weights list``), recognised by its SHA-256.

Sampling at inference (the paper leaves it open; our choice, recorded in ``eval.json``):

- ``seeded`` (default): the stochastic samplers draw from a generator re-seeded for every image
  with :func:`image_seed` ``(seed, name)``, a hash of the seed and the image's name. An image's
  result therefore depends only on the checkpoint, the seed and its name, not on which other
  images were evaluated, or in which order.
- ``grid``: the top-left element of every region (deterministic, no seed).
- ``ensemble``: the mean of ``draws`` seeded passes (draw k seeded with ``image_seed(seed, name, k)``),
  averaged before clamping and rounding.

Outputs in DIR (an evaluation replaces what an earlier one wrote there):

- ``restored/<name>.png``: written into a staging folder that becomes ``restored/`` only when
  every image is done, so a failed run leaves no partial ``restored/``.
- ``times.csv``: ``name, seconds``: the model's time per image (host-to-device copy, every
  draw, synchronisation), not reading or writing files. One untimed warm-up pass on the
  first image runs before the clock starts.
- ``eval.json``: checkpoint path and SHA-256, set, protocol, sampling policy, seed, draws,
  tile and tile overlap (null when whole-image), the seed rule, device, versions, git commit, totals.
- ``per_image.csv``, ``summary.csv``: see :mod:`hst.metrics.score`. With ``--no-save`` the scores are
  computed from the same uint8 arrays in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hst.errors import ConfigError, DataError
from hst.fsutil import ensure_output_dir, sha256_of
from hst.metrics.score import PROTOCOL_NAMES

SAMPLING_POLICIES = ("seeded", "grid", "ensemble")
DEFAULT_ENSEMBLE_DRAWS = 8
COMPILE_BACKEND = "inductor"  # of `--compile`; the tests use "eager" (graph capture without a C++ build)
SEED_RULE = "per-image seed = first 8 bytes (big-endian, top bit cleared) of sha256(f'{seed}/{name}/{draw}')"
TILE_SEED_RULE = "; tiled: the tile at (top, left) uses the name f'{name}@{top},{left}', the one at (0, 0) the image's name"


def image_seed(seed: int, name: str, draw: int = 0) -> int:
    """The generator seed of one image (and one ensemble draw): a hash of (seed, name, draw)."""
    digest = hashlib.sha256(f"{seed}/{name}/{draw}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """An H x W x 3 uint8 image -> 1 x 3 x H x W float32 in [0, 1] on ``device``."""
    return torch.from_numpy(image).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_uint8(restored: torch.Tensor, rounding: str = "round") -> np.ndarray:
    """A 1 x 3 x H x W (or 3 x H x W) float output -> H x W x 3 uint8, clamped to [0, 1]: ``round`` half up
    (MATLAB's im2uint8), or ``truncate`` as ``np.uint8(255 * out)`` on float32 (PReNet's test script)."""
    array = restored.detach().float().cpu().numpy()
    if array.ndim == 4:
        array = array[0]
    if rounding == "truncate":
        array = np.clip(array, np.float32(0.0), np.float32(1.0))  # a copy: the model's output stays as it is
        array *= np.float32(255.0)  # np.uint8(255 * out) on float32, as PReNet's test script
    elif rounding == "round":
        # float64, then in place: a 12-megapixel output is 288 MB, and every temporary would be another.
        array = array.astype(np.float64)
        np.clip(array, 0.0, 1.0, out=array)
        array *= 255.0
        array += 0.5
        np.floor(array, out=array)
    else:
        raise ConfigError(f"rounding: unknown rule {rounding!r}; choose round or truncate")
    return np.ascontiguousarray(array.transpose(1, 2, 0).astype(np.uint8))


def resolve_draws(sampling: str, draws: int | None) -> int:
    """How many passes per image: 1, or ``draws`` (default 8) for an ensemble."""
    if sampling not in SAMPLING_POLICIES:
        raise ConfigError(f"--sampling: unknown policy {sampling!r}; choose one of {', '.join(SAMPLING_POLICIES)}")
    if sampling != "ensemble":
        if draws not in (None, 1):
            raise ConfigError(f"--draws: {draws} draws only make sense with --sampling ensemble")
        return 1
    draws = DEFAULT_ENSEMBLE_DRAWS if draws is None else draws
    if draws < 1:
        raise ConfigError(f"--draws: needs at least 1, got {draws}")
    return draws


class Restorer:
    """A loaded model plus a sampling policy: ``restore(image, name)`` -> (uint8 image, seconds)."""

    def __init__(self, checkpoint: str | os.PathLike, *, device: str = "auto", sampling: str = "seeded",
                 seed: int = 0, draws: int | None = None, compile: bool = False, tile: int | None = None,
                 tile_overlap: int | None = None, rounding: str = "round") -> None:
        from hst.engine.checkpoint import load_model
        from hst.envinfo import resolve_device
        from hst.engine.tiles import DEFAULT_OVERLAP, check_tiling

        check_tiling(tile, tile_overlap)
        self.device = resolve_device(device)
        self.sampling, self.seed = sampling, int(seed)
        self.draws = resolve_draws(sampling, draws)
        self.rounding = rounding
        self.checkpoint = Path(checkpoint)
        model, self.checkpoint_dict = load_model(self.checkpoint, map_location="cpu")
        check_tiling(tile, tile_overlap, model.size_multiple)
        # Whole-image restoration unless a tile size is given (hst.engine.tiles).
        self.tile = tile
        self.tile_overlap = None if tile is None else DEFAULT_OVERLAP if tile_overlap is None else tile_overlap
        self.model = model.to(self.device).eval()
        # torch.compile with dynamic shapes (images differ in size); the seeded draws use a torch.Generator,
        # which stays outside the graph, so the positions drawn are those of the eager model.
        self.compiled = bool(compile)
        self.forward = torch.compile(self.model, dynamic=True, backend=COMPILE_BACKEND) if compile else self.model

    def _forward(self, x: torch.Tensor, name: str) -> torch.Tensor:
        from hst.models import set_sampling

        if self.sampling == "grid":
            set_sampling(self.model, "grid", self.seed)
            return self.forward(x)
        total = None
        for draw in range(self.draws):
            set_sampling(self.model, "seeded", image_seed(self.seed, name, draw))
            out = self.forward(x)
            total = out if total is None else total + out
        return total / self.draws

    def restore_float(self, image: np.ndarray, name: str) -> torch.Tensor:
        """The 1 x 3 x H x W float output of an H x W x 3 uint8 image, whole or tile by tile."""
        from hst.engine.tiles import restore_tiled

        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise DataError(f"{name}: expected an H x W x 3 uint8 RGB image, got {image.dtype} {image.shape}")
        with torch.inference_mode():
            if self.tile is None:
                return self._forward(to_tensor(image, self.device), name)
            # The tile at (top, left) draws with the seed of the name "<name>@<top>,<left>"; the one at
            # (0, 0) with the image's own, so a tile covering the image is whole-image restoration.
            return restore_tiled(image, lambda x, top, left: self._forward(x, f"{name}@{top},{left}" if top or left else name),
                                 self.tile, self.tile_overlap, self.device)

    def restore(self, image: np.ndarray, name: str, *, gray: bool = False) -> tuple[np.ndarray, float]:
        """Restore an H x W x 3 uint8 image; the seconds exclude file input/output. With ``gray`` the
        output is H x W: the mean of the three restored channels (before rounding)."""
        start = time.perf_counter()
        out = self.restore_float(image, name)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        if gray:
            return to_uint8(out.mean(dim=-3, keepdim=True), self.rounding)[..., 0], seconds
        return to_uint8(out, self.rounding), seconds

    def warm_up(self, image: np.ndarray) -> None:
        """One untimed pass, so that one-off allocation and kernel selection do not count as an image's time."""
        self.restore(image, "warm-up")

    def describe(self) -> dict[str, Any]:
        """What ``eval.json`` records about the model and the sampling."""
        stochastic = sum(type(m).__name__ == "StochasticSampler" and getattr(m, "ratio", 1) > 1 for m in self.model.modules())
        return {
            "checkpoint": str(self.checkpoint.resolve()),
            "checkpoint_sha256": sha256_of(self.checkpoint),
            "arch": self.checkpoint_dict.get("arch", "hst"),
            "model_config": self.checkpoint_dict["model_config"],
            "released_weights": self.checkpoint_dict.get("released"),
            "output_rounding": self.rounding,
            "sampling": self.sampling,
            "seed": self.seed,
            "draws": self.draws,
            "seed_rule": (SEED_RULE + (TILE_SEED_RULE if self.tile else "")) if self.sampling != "grid" else None,
            "stochastic_samplers": int(stochastic),
            "tile": self.tile,
            "tile_overlap": self.tile_overlap,
        }


def evaluate(checkpoint: str | os.PathLike, set_dir: str | os.PathLike, protocol: str, out_dir: str | os.PathLike, *,
             sampling: str = "seeded", seed: int = 0, draws: int | None = None, score: bool = True, save: bool = True,
             device: str = "auto", progress: bool = False, compile: bool = False, tile: int | None = None,
             tile_overlap: int | None = None) -> dict[str, Any]:
    """Restore every image of ``set_dir`` into ``out_dir`` and score it; return what eval.json holds."""
    from tqdm import tqdm

    from hst.data.atomic import staged_dir
    from hst.data.io import read_image, write_png
    from hst.data.pairs import list_pairs
    from hst.envinfo import environment
    from hst.fsutil import atomic_write_text
    from hst.metrics.score import check_same_size, csv_text, finish, protocol_columns, score_one

    set_dir, out_dir = Path(set_dir), Path(out_dir)
    from hst.metrics.protocols import OUTPUT_ROUNDING

    columns = protocol_columns(protocol)  # an unknown protocol fails here, before any work
    resolve_draws(sampling, draws)
    pairs = list_pairs(set_dir)
    restorer = Restorer(checkpoint, device=device, sampling=sampling, seed=seed, draws=draws, compile=compile,
                        tile=tile, tile_overlap=tile_overlap, rounding=OUTPUT_ROUNDING.get(protocol, "round"))
    ensure_output_dir(out_dir)

    for stale in ("eval.json", "times.csv", "per_image.csv", "summary.csv"):
        (out_dir / stale).unlink(missing_ok=True)
    times: list[tuple[str, float]] = []
    rows: list[dict[str, Any]] = []
    # restored/ is built in a staging folder and swapped in whole: never a partial restored/.
    with staged_dir(out_dir / "restored", replace=True) if save else contextlib.nullcontext() as staging:
        for i, pair in enumerate(tqdm(pairs, desc=f"restore {set_dir.name}", unit="img", disable=None if progress else True)):
            image = read_image(pair.input)
            if i == 0:
                restorer.warm_up(image)
            restored, seconds = restorer.restore(image, pair.name)
            times.append((pair.name, seconds))
            if save:
                write_png(staging / f"{pair.name}.png", restored)
            if score and not save:
                target = read_image(pair.target)
                check_same_size(restored, target, f"restoration of {pair.input}", pair.target)
                rows.append(score_one(pair.name, restored, target, columns))
    atomic_write_text(out_dir / "times.csv", csv_text(["name", "seconds"], [{"name": n, "seconds": t} for n, t in times]))

    record: dict[str, Any] = {
        "format": "hst-eval", "version": 1, **restorer.describe(),
        "set": set_dir.name, "set_dir": str(set_dir.resolve()), "protocol": protocol, "images": len(pairs),
        "inference_seconds": sum(s for _, s in times), "saved": save, "scored": score, "compiled": restorer.compiled,
        "environment": environment(restorer.device),
    }
    if score:
        score_start = time.perf_counter()
        if save:
            from hst.metrics.score import score_dir

            summary = score_dir(out_dir / "restored", set_dir, protocol, out_dir, progress=progress)
        else:
            summary = finish(rows, set_dir, protocol, out_dir, dict(times))
        record["scoring_seconds"] = time.perf_counter() - score_start
        record["summary"] = summary
    atomic_write_text(out_dir / "eval.json", json.dumps(record, indent=2) + "\n")
    return record


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``python -m hst evaluate``'s options."""
    from hst.engine.restore import add_tile_options

    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="model.pt (or a checkpoint.pt) of a run")
    parser.add_argument("--set", dest="set_dir", required=True, metavar="SETDIR", help="normalised set folder (input/, target/)")
    parser.add_argument("--protocol", required=True, choices=PROTOCOL_NAMES, help="how to score (see hst.metrics.protocols)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--sampling", default="seeded", choices=SAMPLING_POLICIES, help="sampler policy at inference (default: seeded)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the seeded / ensemble draws (default 0)")
    parser.add_argument("--draws", type=int, default=None, help=f"passes averaged by --sampling ensemble (default {DEFAULT_ENSEMBLE_DRAWS})")
    parser.add_argument("--no-score", action="store_true", help="only restore and time; score later with `python -m hst score`")
    parser.add_argument("--no-save", action="store_true", help="do not keep the PNGs (scores come from memory)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (dynamic shapes); off by default: not yet measured to pay on a GPU")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_tile_options(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary line."""
    from hst.metrics.score import format_summary

    if args.threads:
        torch.set_num_threads(args.threads)
    record = evaluate(
        args.checkpoint, args.set_dir, args.protocol, args.out, sampling=args.sampling, seed=args.seed,
        draws=args.draws, score=not args.no_score, save=not args.no_save, device=args.device,
        progress=not args.no_progress, compile=args.compile, tile=args.tile, tile_overlap=args.tile_overlap,
    )
    print(f"{record['images']} images restored in {record['inference_seconds']:.1f} s ({args.sampling}, seed {args.seed})")
    if "summary" in record:
        print(format_summary(record["summary"]))
    return 0
