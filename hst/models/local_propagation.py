"""Local propagation (LP): spread the attended delegate tokens back to their r x r neighbourhoods."""

from __future__ import annotations

import torch
from torch import nn


class LocalPropagation(nn.Module):
    """3x3 conv expanding C to C r^2, then pixel shuffle by r back to C x H x W (Sec. 3.2, 'Local propagation')."""

    def __init__(self, dim: int, ratio: int, bias: bool = False) -> None:
        # Our choice: no output projection after attention in GSA; this conv is the projection.
        super().__init__()
        self.expand = nn.Conv2d(dim, dim * ratio * ratio, 3, padding=1, bias=bias)
        self.shuffle = nn.PixelShuffle(ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.expand(x))
