"""Fig. 6: how often each position of the first level is picked over many passes, stochastic sampler
vs max pooling (Sec. 4.4.2).

The feature map that the first level's sampler sees (after the stem, LA and LN) does not depend
on the sampling, so it is computed once per model and the sampler is then asked for its picks
``passes`` times. The stochastic sampler draws anew at every pass (seeded, so the figure is
reproducible); max pooling picks each channel's maximum of every region, the same at every pass.
A position's count is the number of (pass, channel) picks that landed on it, divided by the
channel count.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hst.engine.checkpoint import load_model
from hst.data.io import read_image
from hst.data.pairs import list_pairs
from hst.engine.tensors import to_tensor
from hst.fsutil import atomic_write_bytes, atomic_write_text
from hst.models import set_sampling
from hst.models.sampler import AvgSampler
from hst.options import add_data, add_out


def first_level_features(model: torch.nn.Module, image: np.ndarray) -> torch.Tensor:
    """The map the first LGL block's sampler receives for ``image`` (H x W x 3 uint8), C x H' x W'."""
    block = model.encoders[0][0]
    captured: dict[str, torch.Tensor] = {}
    hook = block.gsa.register_forward_pre_hook(lambda mod, args: captured.setdefault("x", args[0].detach()))
    x = to_tensor(image, next(model.parameters()).device)
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        hook.remove()
    return captured["x"][0]


def pick_counts(sampler: torch.nn.Module, feat: torch.Tensor, passes: int) -> np.ndarray:
    """How often each position of ``feat`` (C x H x W) is picked over ``passes`` passes, per channel."""
    c, h, w = feat.shape
    counts = torch.zeros(h * w, dtype=torch.float64)
    for _ in range(passes):
        idx = sampler.positions(feat.unsqueeze(0))[0]  # (N,) shared by all channels, or (C, N) per channel
        weight = 1.0 if idx.dim() == 1 else 1.0 / c
        counts.index_add_(0, idx.reshape(-1).cpu(), torch.full((idx.numel(),), weight, dtype=torch.float64))
    return counts.view(h, w).numpy()


def coverage_stats(name: str, counts: np.ndarray, passes: int) -> dict[str, Any]:
    return {"sampler": name, "passes": passes, "positions": counts.size,
            "ever_picked_pct": round(100.0 * float((counts > 0).mean()), 2),
            "max_count": float(counts.max()), "mean_count": float(counts.mean()),
            "cv": float(counts.std() / counts.mean()) if counts.mean() else float("nan")}


def heatmaps(checkpoints: list[str], image: np.ndarray, passes: int, seed: int = 0,
             device: str = "cpu") -> list[tuple[str, np.ndarray]]:
    from hst.envinfo import resolve_device

    out = []
    for path in checkpoints:
        model, _ = load_model(path, map_location=resolve_device(device))
        set_sampling(model, "seeded", seed)
        sampler = model.encoders[0][0].gsa.sampler
        if isinstance(sampler, AvgSampler):
            raise ValueError(f"{path}: average pooling picks no position; Fig. 6 compares stochastic and max")
        feat = first_level_features(model, image)
        out.append((f"{model.config['sampler']} (r={sampler.ratio})", pick_counts(sampler, feat, passes)))
    return out


def plot(maps: list[tuple[str, np.ndarray]], passes: int) -> bytes:
    from hst.paper.plots import png_bytes, pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 3.6), squeeze=False)
    vmax = max(float(m.max()) for _, m in maps)
    for ax, (name, counts) in zip(axes[0], maps):
        im = ax.imshow(counts, cmap="inferno", vmin=0, vmax=vmax)
        ax.set_title(f"{name}: {100 * (counts > 0).mean():.0f}% ever picked", fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=f"picks over {passes} passes")
    fig.suptitle("Fig. 6: positions picked at the first level", fontsize=10)
    return png_bytes(fig, dpi=110)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoints", nargs="+", required=True, help="models to compare, e.g. the stochastic and the max run")
    add_data(parser, "normalised set folder; the image comes from its input/")
    parser.add_argument("--image", type=int, default=0, help="index of the image, by name order (default 0)")
    parser.add_argument("--passes", type=int, default=200, help="forward passes whose draws are counted (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samplers' draws over the passes (default 0)")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                        help="where the models run (default cpu; the pipeline passes its recipe's device)")
    add_out(parser, "the figure (PNG)", old=("--png",))
    parser.add_argument("--csv", required=True, help="the coverage statistics per model (CSV)")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    pairs = list_pairs(args.set_dir)
    if not 0 <= args.image < len(pairs):
        raise ValueError(f"--image {args.image}: {args.set_dir} has {len(pairs)} images")
    maps = heatmaps(args.checkpoints, read_image(pairs[args.image].input), args.passes, args.seed, args.device)
    stats = pd.DataFrame([coverage_stats(n, c, args.passes) for n, c in maps])
    atomic_write_bytes(args.out, plot(maps, args.passes))
    atomic_write_text(args.csv, stats.to_csv(index=False))
    print(stats.to_string(index=False))
    print(Path(args.out))
    return 0
