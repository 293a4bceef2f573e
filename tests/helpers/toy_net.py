"""ToyNet, the network of the test-only architecture that tests/helpers/toy_arch.py registers (imported
when a ToyNet is built, as the registry imports every architecture's class)."""

from __future__ import annotations

import torch
from torch import nn


class ToyNet(nn.Module):
    """I' = I + conv(relu(conv(I))): two 3x3 convolutions around a residual."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.config = {"width": width}
        self.in_channels = 3
        self.size_multiple = 1
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.tail = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.tail(torch.relu(self.head(x)))
