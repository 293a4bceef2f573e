"""An architecture that exists only in the tests, registered through ``$HST_PLUGINS`` (hst.models): the
pipeline trains and scores it as a baseline, and the tables must list it under its own label with no
change to the package."""

from __future__ import annotations

import torch
from torch import nn

from hst.models import Arch, register
from tests.helpers.pipeline import TOY_LABEL


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


register("toynet", Arch(ToyNet, options={"width": {"type": "integer", "minimum": 1}}, defaults={},
                        build=lambda **options: ToyNet(**options), label=lambda options: TOY_LABEL,
                        settings=lambda cfg: {"blocks": "2 convolutions", "channels": str(cfg["width"]),
                                              "heads": "", "ratios": "", "sampler": ""}))
