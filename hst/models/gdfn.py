"""Gated-Dconv feed-forward network (GDFN), taken from Restormer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GDFN(nn.Module):
    """1x1 conv to 2 x hidden -> 3x3 depth-wise -> GELU(a) * b -> 1x1 conv (Sec. 3.2, Fig. 2d; Restormer)."""

    def __init__(self, dim: int, expansion: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)
