"""Local aggregation (LA): point-wise and depth-wise convolutions for the local context."""

from __future__ import annotations

import torch
from torch import nn

from hst.models.norm import LayerNorm2d


class LocalAggregation(nn.Module):
    """LN -> 1x1 conv -> 3x3 depth-wise conv -> LN -> 1x1 conv (Sec. 3.2, 'Local aggregation')."""

    def __init__(self, dim: int, bias: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            LayerNorm2d(dim),
            nn.Conv2d(dim, dim, 1, bias=bias),
            nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias),
            LayerNorm2d(dim),
            nn.Conv2d(dim, dim, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
