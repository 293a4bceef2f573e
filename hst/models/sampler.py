"""Samplers of global sparse attention: one element per r x r region (Sec. 3.4, Algorithm 1) and the
pooling alternatives of the ablation (Sec. 4.4.2, Table 6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hst.models import SAMPLERS


def _check_divisible(x: torch.Tensor, ratio: int) -> None:
    if x.dim() != 4:
        raise ValueError(f"sampler expects a B x C x H x W map, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % ratio or w % ratio:
        raise ValueError(
            f"sampling ratio {ratio} does not divide the feature map size {h}x{w}; "
            "HST pads its input so that every level divides (see HST.size_multiple)"
        )


def region_offsets_to_index(offsets: torch.Tensor, ratio: int, width: int) -> torch.Tensor:
    """Turn per-region offsets in [0, r*r) of shape B x h x w into flat indices into an H x W map."""
    b, h, w = offsets.shape
    dy, dx = offsets.div(ratio, rounding_mode="floor"), offsets.remainder(ratio)
    rows = torch.arange(h, device=offsets.device).view(1, h, 1) * ratio + dy
    cols = torch.arange(w, device=offsets.device).view(1, 1, w) * ratio + dx
    return (rows * width + cols).view(b, h * w)


class StochasticSampler(nn.Module):
    """Keep one element (all its channels) per r x r region, at a position drawn anew per region,
    image and pass (Sec. 3.4, Fig. 3, Algorithm 1)."""

    def __init__(self, ratio: int) -> None:
        super().__init__()
        if int(ratio) != ratio or ratio < 1:
            raise ValueError(f"sampling ratio must be a positive integer, got {ratio!r}")
        self.ratio = int(ratio)
        # Inference draws come from a generator that `set_sampling` installs (one shared by every
        # sampler of a model); training draws come from torch's global RNG.
        self.eval_policy = "seeded"
        self.generator: torch.Generator | None = None
        # Data-parallel training (`shard_sampling`): this process is `rank` of `world`, each with an
        # equal slice of the global batch; every process draws the whole batch and keeps its rows.
        self.rank, self.world = 0, 1

    def draw_offsets(self, batch: int, h: int, w: int, device: torch.device) -> torch.Tensor:
        """Offsets in [0, r*r) for every region, B x h x w, by the current mode and policy."""
        n = self.ratio * self.ratio
        if not self.training and self.eval_policy == "grid":
            return torch.zeros(batch, h, w, dtype=torch.long, device=device)
        if not self.training and self.generator is not None:
            return torch.randint(n, (batch, h, w), generator=self.generator).to(device)
        if self.world == 1:
            return torch.randint(n, (batch, h, w), device=device)
        return torch.randint(n, (batch * self.world, h, w), device=device)[self.rank * batch : (self.rank + 1) * batch]

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """Flat indices into H x W of the elements this pass keeps, B x (H/r * W/r)."""
        _check_divisible(x, self.ratio)
        b, _, hh, ww = x.shape
        offsets = self.draw_offsets(b, hh // self.ratio, ww // self.ratio, x.device)
        return region_offsets_to_index(offsets, self.ratio, ww)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ratio == 1:
            return x
        b, c, hh, ww = x.shape
        idx = self.positions(x)
        h, w = hh // self.ratio, ww // self.ratio
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            # Channels-last map (as HST keeps them): gather whole pixels of the B x HW x C view, no copy of x.
            out = x.permute(0, 2, 3, 1).reshape(b, hh * ww, c).gather(1, idx.unsqueeze(2).expand(b, idx.shape[1], c))
            return out.view(b, h, w, c).permute(0, 3, 1, 2)
        out = x.flatten(2).gather(2, idx.unsqueeze(1).expand(b, c, idx.shape[1]))
        return out.view(b, c, h, w)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}"


class GridSampler(StochasticSampler):
    """Always the top-left element of each r x r region, as EdgeViT does (ablation, our addition)."""

    def draw_offsets(self, batch: int, h: int, w: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(batch, h, w, dtype=torch.long, device=device)


class MaxSampler(nn.Module):
    """Max pooling over r x r regions in place of the stochastic sampler (Sec. 4.4.2, Table 6)."""

    def __init__(self, ratio: int) -> None:
        super().__init__()
        self.ratio = int(ratio)

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """Flat indices of each region's maximum, per channel: B x C x (H/r * W/r)."""
        _check_divisible(x, self.ratio)
        _, idx = F.max_pool2d(x, self.ratio, return_indices=True)
        return idx.flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ratio == 1:
            return x
        _check_divisible(x, self.ratio)
        return F.max_pool2d(x, self.ratio)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}"


class AvgSampler(MaxSampler):
    """Average pooling over r x r regions in place of the stochastic sampler (Sec. 4.4.2, Table 6)."""

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """Every element of every region contributes: all flat indices, B x (H * W)."""
        _check_divisible(x, self.ratio)
        b, _, hh, ww = x.shape
        return torch.arange(hh * ww, device=x.device).expand(b, hh * ww)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ratio == 1:
            return x
        _check_divisible(x, self.ratio)
        return F.avg_pool2d(x, self.ratio)


# The samplers by name (hst.models.SAMPLERS, in its order): the paper's stochastic one (Sec. 3.4), the pooling
# of its ablation (Table 6), and our grid (EdgeViT's fixed element).
SAMPLER_CLASSES: dict[str, type[nn.Module]] = dict(zip(SAMPLERS, (StochasticSampler, MaxSampler, AvgSampler, GridSampler),
                                                       strict=True))


def build_sampler(kind: str, ratio: int) -> nn.Module:
    """The sampler named ``kind`` (one of :data:`SAMPLERS`) at sampling ratio ``ratio``."""
    if kind not in SAMPLER_CLASSES:
        raise ValueError(f"unknown sampler {kind!r}; choose one of {', '.join(SAMPLERS)}")
    return SAMPLER_CLASSES[kind](ratio)
