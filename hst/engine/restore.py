"""Restore your own images with a trained checkpoint.

``python -m hst restore IMAGE... --checkpoint CKPT -o DIR [--tile N [--tile-overlap M]] [--seed S]
[--sampling seeded|grid|ensemble] [--draws K]``

Any size, PNG or JPG (anything Pillow reads). Photos as users have them: turned upright by their
EXIF orientation before restoring (datasets are read as stored, see :mod:`hst.data.io`); RGBA,
palette and 16-bit images are restored as 8-bit RGB (alpha dropped); a single-channel image
(grayscale, 1-bit, 16-bit grayscale) goes through the RGB model as three equal channels and is
saved as 8-bit grayscale, the mean of the three restored channels (the nearest gray image to the
output; the model's channels can differ slightly where the input's were equal). Each output is
``DIR/<input stem>.png``, written atomically. Every input is decoded, the options and the output
folder checked and the checkpoint loaded before the first image is restored, so a bad input,
option or folder stops the command before any work. Sampling and seeding are those of ``python -m
hst evaluate`` (the per-image seed hashes the input's stem).

``--tile N`` restores the image N x N pixels at a time (N a multiple of the model's size multiple,
8 for HST-tiny), blending overlapping tiles (``--tile-overlap``, default
:data:`hst.engine.tiles.DEFAULT_OVERLAP`): the peak memory is that of one tile, not of the image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hst.data.io import read_photo, write_png
from hst.engine.restorer import DEFAULT_ENSEMBLE_DRAWS, SAMPLING_POLICIES, Restorer, resolve_draws
from hst.engine.tiles import add_tile_options, check_tiling
from hst.errors import DataError, HSTError
from hst.fsutil import ensure_output_dir
from hst.options import add_device, add_out


def plan_outputs(images: list[Path], out_dir: Path) -> list[Path]:
    """``out_dir/<stem>.png`` per input; refuses two inputs with one stem and overwriting an input."""
    outputs, seen = [], {}
    inputs = {p.resolve() for p in images}
    for path in images:
        if path.stem in seen:
            raise DataError(f"{path}: same output name {path.stem}.png as {seen[path.stem]}; rename one of them")
        seen[path.stem] = path
        target = out_dir / f"{path.stem}.png"
        if target.resolve() in inputs:
            raise HSTError(f"{target}: would overwrite an input image; choose another -o folder")
        outputs.append(target)
    return outputs


def restore_images(images: list[str | Path], checkpoint: str | Path, out_dir: str | Path, *, seed: int = 0,
                   sampling: str = "seeded", draws: int | None = None, device: str = "auto",
                   tile: int | None = None, tile_overlap: int | None = None) -> list[Path]:
    """Restore ``images`` into ``out_dir``, whole or tile by tile; return the written paths."""
    if not images:
        raise HSTError("restore: give at least one image")
    paths = [Path(p) for p in images]
    out_dir = Path(out_dir)
    resolve_draws(sampling, draws)
    check_tiling(tile, tile_overlap)
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such image file")
        read_photo(path)  # a clear DataError naming the file if it cannot be decoded
    outputs = plan_outputs(paths, out_dir)
    ensure_output_dir(out_dir)
    restorer = Restorer(checkpoint, device=device, sampling=sampling, seed=seed, draws=draws, tile=tile,
                        tile_overlap=tile_overlap)
    for path, target in zip(paths, outputs):
        image, gray = read_photo(path)
        restored, seconds = restorer.restore(image, path.stem, gray=gray)
        del image
        write_png(target, restored)
        tiling = f", tiles {restorer.tile} overlap {restorer.tile_overlap}" if restorer.tile else ""
        print(f"{target} ({restored.shape[1]}x{restored.shape[0]}{', grayscale' if gray else ''}{tiling}, {seconds:.2f} s)")
    return outputs


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``python -m hst restore``'s options."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="images to restore (PNG, JPG, any size)")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="a run's model.pt")
    add_out(parser, "output folder (created if needed)", metavar="DIR")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler's draws (default 0)")
    parser.add_argument("--sampling", default="seeded", choices=SAMPLING_POLICIES, help="sampler policy (default: seeded)")
    parser.add_argument("--draws", type=int, default=None, help=f"passes averaged by --sampling ensemble (default {DEFAULT_ENSEMBLE_DRAWS})")
    add_device(parser)
    add_tile_options(parser)


def run(args: argparse.Namespace) -> int:
    """Restore the images given on the command line."""
    restore_images(args.images, args.checkpoint, args.out, seed=args.seed, sampling=args.sampling,
                   draws=args.draws, device=args.device, tile=args.tile, tile_overlap=args.tile_overlap)
    return 0
