"""Tiled restoration (``--tile``): what it costs in fidelity and what it saves in memory, on the CPU.

    python benchmarks/bench_tiles.py gap --checkpoint RUN/model.pt [--tile 256 --overlaps 0 16 32 64 --threads 2]
    python benchmarks/bench_tiles.py photo --checkpoint RUN/model.pt [--width 4000 --height 3000 --tile 512]

``gap``: a 1280x720 rainy image (a synthetic Rain13K-style pair, the size of bench_memory.py's image)
restored whole and tiled at each overlap, with the grid sampler (deterministic, so only the tiling
differs) and with the default seeded sampler; prints the PSNR of every tiled output against the
whole-image one (RGB, uint8), the largest pixel difference, and each output's PSNR-Y against the
clean target. For the seeded sampler it also prints the gap between two whole-image restorations
with different seeds: the draws alone move the output that much. Use a TRAINED checkpoint: an
untrained zero-head model is the identity, and tiles of the identity show no gap.

``photo``: a width x height JPEG restored by ``python -m hst restore --tile`` in a child process;
prints its wall time and peak resident memory (ru_maxrss of the child).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def rainy_image(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """A synthetic rainy image and its clean target, made as the Rain13K twin makes its pairs."""
    from hst.data.synth import TWINS, make_pair

    degraded, clean, info = make_pair(TWINS["Rain13K"], np.random.default_rng(seed), (height, width))
    return degraded, clean, info["profile"]


def gap(args: argparse.Namespace) -> None:
    from hst.engine.restorer import Restorer
    from hst.engine.tensors import to_uint8
    from hst.metrics.protocols import psnr_rgb, psnr_y

    torch.set_num_threads(args.threads)
    image, clean, profile = rainy_image(args.height, args.width, args.seed)
    print(f"image: {args.width}x{args.height} synthetic rain ({profile} profile, seed {args.seed}); "
          f"checkpoint {args.checkpoint}; {args.threads} threads; tile {args.tile}")
    print(f"{'sampling':>8} {'overlap':>7} {'tiles':>5} {'seconds':>8} {'PSNR vs whole (dB)':>19} {'max |diff|':>10} "
          f"{'PSNR-Y vs clean':>15}")
    print(f"{'input':>8} {'':>7} {'':>5} {'':>8} {'':>19} {'':>10} {psnr_y(image, clean):>15.2f}")
    for sampling in args.sampling:
        t0 = time.perf_counter()
        whole = to_uint8(Restorer(args.checkpoint, device="cpu", sampling=sampling, seed=0).restore_float(image, "bench"))
        print(f"{sampling:>8} {'whole':>7} {1:>5} {time.perf_counter() - t0:>8.1f} {'':>19} {'':>10} "
              f"{psnr_y(whole, clean):>15.2f}", flush=True)
        if sampling == "seeded":
            other = to_uint8(Restorer(args.checkpoint, device="cpu", sampling=sampling, seed=1).restore_float(image, "bench"))
            print(f"{'seed 1':>8} {'whole':>7} {1:>5} {'':>8} {psnr_rgb(other, whole):>19.2f} "
                  f"{int(np.abs(other.astype(int) - whole).max()):>10} {psnr_y(other, clean):>15.2f}", flush=True)
            del other
        for overlap in args.overlaps:
            from hst.engine.tiles import tile_boxes

            restorer = Restorer(args.checkpoint, device="cpu", sampling=sampling, seed=0, tile=args.tile,
                                tile_overlap=overlap)
            t0 = time.perf_counter()
            tiled = to_uint8(restorer.restore_float(image, "bench"))
            seconds = time.perf_counter() - t0
            print(f"{sampling:>8} {overlap:>7} {len(tile_boxes(args.height, args.width, args.tile, overlap)):>5} "
                  f"{seconds:>8.1f} {psnr_rgb(tiled, whole):>19.2f} {int(np.abs(tiled.astype(int) - whole).max()):>10} "
                  f"{psnr_y(tiled, clean):>15.2f}", flush=True)


def photo(args: argparse.Namespace) -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        image, _, profile = rainy_image(args.height, args.width, args.seed)
        Image.fromarray(image).save(path, quality=92)
        del image
        command = [sys.executable, "-m", "hst", "restore", str(path), "--checkpoint", str(args.checkpoint),
                   "-o", str(Path(tmp) / "out"), "--tile", str(args.tile), "--device", "cpu"]
        if args.overlap is not None:
            command += ["--tile-overlap", str(args.overlap)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        t0 = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # Linux reports KiB
    print(f"{args.width}x{args.height} photo ({profile} rain), tile {args.tile}, overlap "
          f"{'default' if args.overlap is None else args.overlap}, {args.threads} threads: "
          f"{seconds:.1f} s wall (process start to exit), peak RSS {peak:.2f} GB "
          f"-> {'under' if peak < 2 else 'NOT under'} 2 GB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    g = sub.add_parser("gap", help="tiled versus whole-image restoration of a 1280x720 image")
    g.add_argument("--checkpoint", required=True)
    g.add_argument("--height", type=int, default=720)
    g.add_argument("--width", type=int, default=1280)
    g.add_argument("--tile", type=int, default=256)
    g.add_argument("--overlaps", type=int, nargs="+", default=[0, 16, 32, 64])
    g.add_argument("--sampling", nargs="+", default=["grid", "seeded"], choices=("grid", "seeded"))
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--seed", type=int, default=0, help="seed of the synthetic image")
    p = sub.add_parser("photo", help="a large photo restored tile by tile: wall time and peak RSS")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic image")
    args = ap.parse_args()
    gap(args) if args.what == "gap" else photo(args)


if __name__ == "__main__":
    main()
