"""PReNet, the progressive recurrent deraining network (Ren et al., CVPR 2019), a Table 3 baseline.

Written from the paper (Sec. 3) and the facts in ``shared/reference/baselines/weights.md``. The
module names are those of the authors' released checkpoints (``conv0.0``, ``conv_i.0`` ...
``conv_o.0``, ``res_conv1.0`` ... ``res_conv5.2``, ``conv.0``), so ``load_state_dict`` takes them
as they are (168,963 parameters in the paper's configuration).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(cin: int, cout: int, *after: nn.Module) -> nn.Sequential:
    """A 3x3 convolution (stride 1, padding 1) and what follows it; the weight is named ``<module>.0``."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), *after)


class PReNet(nn.Module):
    """T stages of x_t = y + f_out(R(LSTM(f_in([y, x_{t-1}])))), x_0 = y; returns x_T (PReNet Sec. 3, Fig. 2)."""

    def __init__(self, stages: int = 6, channels: int = 32, blocks: int = 5) -> None:
        super().__init__()
        if min(stages, channels, blocks) < 1:
            raise ValueError(f"stages, channels and blocks must be >= 1, got {stages}, {channels}, {blocks}")
        self.config = {"stages": stages, "channels": channels, "blocks": blocks}
        self.stages, self.channels, self.blocks = stages, channels, blocks
        self.in_channels = 3
        self.size_multiple = 1  # stride-1 convolutions only: any size, no padding (tiles need no rounding)
        self.conv0 = _conv(6, channels, nn.ReLU())  # f_in: the rainy image beside the current estimate
        # The ConvLSTM's gates, each a 3x3 conv of [features, h] (Sec. 3.1).
        self.conv_i = _conv(2 * channels, channels, nn.Sigmoid())
        self.conv_f = _conv(2 * channels, channels, nn.Sigmoid())
        self.conv_g = _conv(2 * channels, channels, nn.Tanh())
        self.conv_o = _conv(2 * channels, channels, nn.Sigmoid())
        # R: residual blocks z <- ReLU(z + ReLU(conv(ReLU(conv(z))))).
        for k in range(1, blocks + 1):
            self.add_module(f"res_conv{k}", _conv(channels, channels, nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1),
                                                  nn.ReLU()))
        self.conv = _conv(channels, 3)  # f_out

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        h = y.new_zeros(y.shape[0], self.channels, *y.shape[2:])
        c = torch.zeros_like(h)
        x = y
        for _ in range(self.stages):
            xh = torch.cat([self.conv0(torch.cat([y, x], 1)), h], 1)
            c = self.conv_f(xh) * c + self.conv_i(xh) * self.conv_g(xh)
            h = self.conv_o(xh) * torch.tanh(c)
            z = h
            for k in range(1, self.blocks + 1):
                z = torch.relu(z + getattr(self, f"res_conv{k}")(z))
            x = y + self.conv(z)
        return x
