"""The restorer: a loaded model plus a sampling policy at inference (seeded, grid or an ensemble of seeded
draws), whole-image or tiled; what :mod:`hst.engine.evaluate`, :mod:`hst.engine.restore` and the
benchmarks restore with. The policies and the per-image seed rule are documented in
:mod:`hst.engine.evaluate`."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hst.engine.checkpoint import load_model
from hst.engine.tensors import to_tensor, to_uint8
from hst.engine.tiles import DEFAULT_OVERLAP, check_tiling, restore_tiled
from hst.envinfo import resolve_device
from hst.errors import ConfigError, DataError
from hst.fsutil import sha256_of
from hst.engine.config import SAMPLING_POLICIES
from hst.models import ARCHS, arch_of, set_sampling

# How many seeded draws an ensemble (SAMPLING_POLICIES) averages unless asked for another number.
DEFAULT_ENSEMBLE_DRAWS = 8
COMPILE_BACKEND = "inductor"  # of `--compile`; the tests use "eager" (graph capture without a C++ build)
SEED_RULE = "per-image seed = first 8 bytes (big-endian, top bit cleared) of sha256(f'{seed}/{name}/{draw}')"
TILE_SEED_RULE = "; tiled: the tile at (top, left) uses the name f'{name}@{top},{left}', the one at (0, 0) the image's name"


def image_seed(seed: int, name: str, draw: int = 0) -> int:
    """The generator seed of one image (and one ensemble draw): a hash of (seed, name, draw)."""
    digest = hashlib.sha256(f"{seed}/{name}/{draw}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


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
                 tile_overlap: int | None = None, rounding: str | None = None) -> None:
        check_tiling(tile, tile_overlap)
        self.device = resolve_device(device)
        self.sampling, self.seed = sampling, int(seed)
        self.draws = resolve_draws(sampling, draws)
        self.checkpoint = Path(checkpoint)
        model, self.checkpoint_dict = load_model(self.checkpoint, map_location="cpu")
        # uint8 outputs: ``rounding`` when given (a protocol's own rule), else the architecture's release's, else round.
        self.rounding = rounding or ARCHS[arch_of(model)].output_rounding or "round"
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
            # A folder (a released model of several files): the SHA-256 of each of its files.
            "checkpoint_sha256": sha256_of(self.checkpoint) if self.checkpoint.is_file() else
            {p.name: sha256_of(p) for p in sorted(self.checkpoint.iterdir()) if p.is_file()},
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
