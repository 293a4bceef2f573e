"""Inference over a set: restored PNGs and per-image times, then (unless told not to) the scores.

``python -m hst evaluate --checkpoint CKPT --data SETDIR --protocol derain|gopro|realblur|prenet --out DIR
[--sampling seeded|grid|ensemble] [--seed S] [--draws K] [--no-score] [--no-save] [--tile N [--tile-overlap M]]``

Every input is restored at full resolution (the model pads internally and crops back), clamped
to [0, 1] and rounded to uint8 half up (``floor(255 x + 0.5)``, MATLAB's ``im2uint8``), except
under a protocol whose own test script saved its outputs otherwise (``hst.metrics.protocols.OUTPUT_ROUNDING``:
PReNet's truncates) or, under any other protocol, for an architecture whose release did
(``hst.models.Arch.output_rounding``: DMPHN's truncates). The whole image goes through the model at once unless ``--tile N
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
- ``per_image.csv``, ``summary.csv``: see :mod:`hst.engine.score`. With ``--no-save`` the scores are
  computed from the same uint8 arrays in memory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from hst.data.atomic import staged_dir
from hst.data.io import read_image, write_png
from hst.data.pairs import list_pairs
from hst.engine.restorer import DEFAULT_ENSEMBLE_DRAWS, SAMPLING_POLICIES, Restorer, resolve_draws
from hst.engine.score import check_same_size, csv_text, finish, format_summary, protocol_columns, score_dir, score_one
from hst.engine.tiles import add_tile_options
from hst.envinfo import environment
from hst.fsutil import atomic_write_text, ensure_output_dir
from hst.metrics.protocols import OUTPUT_ROUNDING, PROTOCOL_NAMES
from hst.options import add_data, add_device, add_out

def evaluate(checkpoint: str | os.PathLike, set_dir: str | os.PathLike, protocol: str, out_dir: str | os.PathLike, *,
             sampling: str = "seeded", seed: int = 0, draws: int | None = None, score: bool = True, save: bool = True,
             device: str = "auto", progress: bool = False, compile: bool = False, tile: int | None = None,
             tile_overlap: int | None = None) -> dict[str, Any]:
    """Restore every image of ``set_dir`` into ``out_dir`` and score it; return what eval.json holds."""
    from tqdm import tqdm

    set_dir, out_dir = Path(set_dir), Path(out_dir)
    columns = protocol_columns(protocol)  # an unknown protocol fails here, before any work
    resolve_draws(sampling, draws)
    pairs = list_pairs(set_dir)
    restorer = Restorer(checkpoint, device=device, sampling=sampling, seed=seed, draws=draws, compile=compile,
                        tile=tile, tile_overlap=tile_overlap, rounding=OUTPUT_ROUNDING.get(protocol))
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
            summary = score_dir(out_dir / "restored", set_dir, protocol, out_dir, progress=progress)
        else:
            summary = finish(rows, set_dir, protocol, out_dir, dict(times))
        record["scoring_seconds"] = time.perf_counter() - score_start
        record["summary"] = summary
    atomic_write_text(out_dir / "eval.json", json.dumps(record, indent=2) + "\n")
    return record


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``python -m hst evaluate``'s options."""
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="model.pt (or a checkpoint.pt) of a run")
    add_data(parser)
    parser.add_argument("--protocol", required=True, choices=PROTOCOL_NAMES, help="how to score (see hst.metrics.protocols)")
    add_out(parser, "output folder (restored/, times.csv, eval.json, the scores)", metavar="DIR")
    parser.add_argument("--sampling", default="seeded", choices=SAMPLING_POLICIES, help="sampler policy at inference (default: seeded)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the seeded / ensemble draws (default 0)")
    parser.add_argument("--draws", type=int, default=None, help=f"passes averaged by --sampling ensemble (default {DEFAULT_ENSEMBLE_DRAWS})")
    parser.add_argument("--no-score", action="store_true", help="only restore and time; score later with `python -m hst score`")
    parser.add_argument("--no-save", action="store_true", help="do not keep the PNGs (scores come from memory)")
    add_device(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (dynamic shapes); off by default: not yet measured to pay on a GPU")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_tile_options(parser)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary line."""
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
