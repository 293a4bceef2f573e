"""Patches/s of PatchDataset (memory-mapped uint8 cache) vs decoding the PNGs for every item, in one run.

    .venv/bin/python benchmarks/bench_loader.py [--count 32] [--size 720x1280] [--batches 30] [--workers 2]

Both loaders cut the same random 128x128 crops with the same flips/rotations from a
GoPro-train twin of full-frame size, through a torch DataLoader at batch 32.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hst.data.cli import parse_size
from hst.data.io import read_image
from hst.data.pairs import list_pairs
from hst.data.cache import prepare_cache
from hst.data.patches import PatchDataset, dihedral
from hst.data.synth import make_twin


class PngPatches(Dataset):
    """The naive baseline: decode both PNGs of the pair for every item, then crop and augment alike."""

    def __init__(self, set_dir: Path, patch_size: int, patches_per_image: int = 1, seed: int = 0):
        self.pairs, self.patch_size, self.seed = list_pairs(set_dir), patch_size, seed
        self.patches_per_image = patches_per_image

    def __len__(self) -> int:
        return len(self.pairs) * self.patches_per_image

    def __getitem__(self, i: int):
        pair = self.pairs[i % len(self.pairs)]
        inp, tgt = read_image(pair.input), read_image(pair.target)
        rng = np.random.default_rng([self.seed, 0, i])
        p, (h, w) = self.patch_size, inp.shape[:2]
        y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        flip, turns = int(rng.integers(2)), int(rng.integers(4))
        return tuple(
            torch.from_numpy(np.ascontiguousarray(dihedral(a[y : y + p, x : x + p], flip, turns).transpose(2, 0, 1)))
            .float()
            .div_(255.0)
            for a in (inp, tgt)
        )


def patches_per_second(dataset: Dataset, batches: int, workers: int, batch_size: int = 32) -> float:
    """Patches/s over ``batches`` batches, after two warm-up batches (worker start-up excluded)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))  # fmt: skip

    def endless():
        while True:
            yield from loader

    it = endless()
    for _ in range(2):
        next(it)
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        seen += next(it)[0].shape[0]
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=32, help="pairs in the set (default 32)")
    parser.add_argument("--size", type=parse_size, default=(720, 1280), help="HxW of each image (default 720x1280, GoPro)")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patch", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        set_dir = make_twin("GoPro-train", tmp, count=args.count, size=args.size)
        made = time.perf_counter() - start
        start = time.perf_counter()
        cache = prepare_cache(set_dir, Path(tmp) / "cache")
        prepared = time.perf_counter() - start
        print(f"set: {args.count} pairs of {args.size[0]}x{args.size[1]} (twin made in {made:.1f}s, "
              f"cache prepared in {prepared:.1f}s); batch 32, {args.patch}x{args.patch}, {args.workers} worker(s), "
              f"{args.batches} batches, torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
        per_image = max(1, args.batches * 32 // args.count + 1)
        cached = patches_per_second(PatchDataset(cache, args.patch, per_image), args.batches, args.workers)
        naive = patches_per_second(PngPatches(set_dir, args.patch, per_image), args.batches, args.workers)
        print(f"PatchDataset (memory-mapped cache): {cached:10.1f} patches/s")
        print(f"PNG decoded per item (baseline):    {naive:10.1f} patches/s")
        print(f"ratio: {cached / naive:.1f}x")


if __name__ == "__main__":
    main()
