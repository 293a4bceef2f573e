"""Tiled inference: restore an image one tile at a time and blend the tiles back over their overlaps.

The peak memory of a tiled restoration is that of one tile's forward pass plus the float output
(3 x H x W) and its blending weights (H x W), not the whole image's forward pass. Tiles are
``tile`` x ``tile`` (a multiple of the model's ``size_multiple``, so the model pads nothing); along
each side they start every ``tile - overlap`` pixels and the last one is flush with the image's
edge (so it may share more than ``overlap`` pixels with the one before), and every tile but those
of a side shorter than ``tile`` is full size. Across the pixels two neighbours share, their weights
ramp linearly and sum to 1; elsewhere a tile's weight is exactly 1, so a pixel that only one tile
covers is that tile's output bit for bit, and one tile covering the whole image is whole-image
restoration.

Global sparse attention (Sec. 3.3) attends over its tile only, so a tiled output differs from the
whole-image one; ``benchmarks/bench_tiles.py gap`` measures by how much at each overlap.
"""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np
import torch

from hst.engine.tensors import to_tensor
from hst.errors import ConfigError

DEFAULT_OVERLAP = 32  # pixels; benchmarks/bench_tiles.py gap, HST-tiny trained 300 iterations, 1280x720, tiles of 256:
# tiled vs whole 46.8 dB (largest pixel difference 62: seams) at overlap 0, 53.1 dB (9) at 16, 53.2 dB (10) at 32;
# past 16 what is left is the attention's smaller context, not seams. 32 leaves a margin for larger models.


def check_tiling(tile: int | None, overlap: int | None, multiple: int | None = None) -> None:
    """One-line ConfigError for options that cannot tile; ``multiple`` is the model's size multiple."""
    if tile is None:
        if overlap is not None:
            raise ConfigError("--tile-overlap: only makes sense with --tile")
        return
    if tile < 1:
        raise ConfigError(f"--tile: needs a positive size in pixels, got {tile}")
    if overlap is not None and not 0 <= overlap < tile:
        raise ConfigError(f"--tile-overlap: needs 0 <= overlap < tile ({tile}), got {overlap}")
    if multiple is not None and tile < multiple:
        raise ConfigError(f"--tile: {tile} is smaller than {multiple}, the model's size multiple; use a multiple of {multiple}")
    if multiple is not None and tile % multiple:
        lower, upper = tile // multiple * multiple, (tile // multiple + 1) * multiple
        raise ConfigError(f"--tile: {tile} is not a multiple of {multiple}, the model's size multiple; use {lower} or {upper}")


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the tiles along one side of ``length`` pixels; the last tile ends at the edge."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) of every tile of a ``height`` x ``width`` image, row by row."""
    return [(top, left, min(tile, height), min(tile, width))
            for top in tile_starts(height, tile, overlap) for left in tile_starts(width, tile, overlap)]


def ramps(length: int, tile: int, overlap: int) -> list[torch.Tensor]:
    """Blending weights along one side, one per tile of :func:`tile_starts`: a linear ramp over the pixels
    a tile shares with each neighbour, ``(j + 1) / (n + 1)`` for an overlap of ``n``, so that the two
    weights sum to 1 across it; exactly 1 elsewhere."""
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    weights = []
    for i, start in enumerate(starts):
        weight = torch.ones(size, dtype=torch.float32)
        if i > 0:  # the previous tile covers this one's first pixels
            n = starts[i - 1] + size - start
            weight[:n] = torch.minimum(weight[:n], torch.arange(1, n + 1, dtype=torch.float32) / (n + 1))
        if i + 1 < len(starts):  # the next tile covers this one's last pixels
            n = start + size - starts[i + 1]
            weight[size - n:] = torch.minimum(weight[size - n:], torch.arange(n, 0, -1, dtype=torch.float32) / (n + 1))
        weights.append(weight)
    return weights


def restore_tiled(image: np.ndarray, forward: Callable[[torch.Tensor, int, int], torch.Tensor], tile: int,
                  overlap: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Restore an H x W x 3 uint8 image tile by tile: ``forward(x, top, left)`` restores one 1 x 3 x h x w
    tile on ``device``; returns the blended 1 x 3 x H x W float32 output on the CPU."""
    height, width = image.shape[:2]
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    if len(rows) == len(cols) == 1:  # the tile covers the image: whole-image restoration, nothing to blend
        return forward(to_tensor(image, device), 0, 0).float().cpu()
    h, w = min(tile, height), min(tile, width)
    total = torch.zeros(1, 3, height, width, dtype=torch.float32)
    weights = torch.zeros(height, width, dtype=torch.float32)
    for top, row_weight in zip(rows, ramps(height, tile, overlap)):
        for left, col_weight in zip(cols, ramps(width, tile, overlap)):
            crop = np.ascontiguousarray(image[top:top + h, left:left + w])  # the layout of a whole image's tensor
            out = forward(to_tensor(crop, device), top, left).float().cpu()
            weight = row_weight[:, None] * col_weight[None, :]
            total[..., top:top + h, left:left + w].addcmul_(out, weight)
            weights[top:top + h, left:left + w] += weight
    return total.div_(weights)


def add_tile_options(parser: argparse.ArgumentParser) -> None:
    """``--tile`` and ``--tile-overlap``, shared by ``restore`` and ``evaluate``."""
    parser.add_argument("--tile", type=int, default=None, metavar="N",
                        help="restore N x N pixels at a time (a multiple of the model's size multiple; default: whole image)")
    parser.add_argument("--tile-overlap", type=int, default=None, metavar="M",
                        help=f"pixels shared by neighbouring tiles, blended (default {DEFAULT_OVERLAP} with --tile)")
