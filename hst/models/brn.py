"""BRN, the bilateral recurrent network for single-image deraining (Shang, Zhu, Ren, Shi, ICASSP 2020;
Ren, Shang, Zhu, Hu, Meng, Zuo, TIP 2020), a deraining baseline with released weights.

Written from the papers (Sec. 2 of the ICASSP paper: two recurrent branches, a rain-streak branch F_r
and a background branch F_x, coupled by bilateral LSTMs) and the facts in
``shared/reference/baselines/weights.md``. The module names are those of the authors' released
checkpoints (``conv0_r.0``, ``conv_i_r.0`` ... ``res_conv1_r.0`` ... ``conv_r.0`` for the rain branch,
``conv0.0``, ``conv_i.0`` ... ``res_conv5.2``, ``conv.0`` for the background branch), so
``load_state_dict(strict=True)`` takes them as they are. The releases build five residual blocks in
the rain branch but call three: ``res_conv4_r`` and ``res_conv5_r`` (36,992 parameters) are kept so that
the released files load strictly, and frozen (``requires_grad = False``): the parameters counted are
the 375,526 the network uses (4 or 8 stages alike: the stages share their weights).

Conventions of the authors' test scripts: RGB in [0, 1], the whole image (no padding), the output
clamped to [0, 1] and saved by truncation (``np.uint8(255 * out)``, PReNet's test script's rule, which
``hst.metrics.protocols.OUTPUT_ROUNDING`` applies under the prenet protocol). The stage count is the
release's: 4 for shangwei5/BRN (ICASSP), 8 for csdwren/RecDerain (TIP).
"""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = 32  # both releases


def _conv(cin: int, cout: int, *after: nn.Module) -> nn.Sequential:
    """A 3x3 convolution (stride 1, padding 1) and what follows it; the weight is named ``<module>.0``."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), *after)


def _res_block(channels: int) -> nn.Sequential:
    """The body of a residual block: conv, ReLU, conv, ReLU (the block adds its input, then a ReLU)."""
    return _conv(channels, channels, nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1), nn.ReLU())


class BRN(nn.Module):
    """T stages of the bilateral recurrence (ICASSP 2020 Sec. 2, Fig. 1), x_0 = r_0 = y, h and c zero:

        r_t = F_r([y, r_{t-1}]; LSTM_r over [f_r, h_r, h_x])   (3 residual blocks, 32 -> 3)
        x_t = F_x([y, x_{t-1}, r_t]; LSTM_x over [f_x, h_x, h_r])  (5 residual blocks, 32 -> 3)

    returns x_T, the background estimate itself (no residual to the input, unlike PReNet)."""

    RAIN_BLOCKS, BACKGROUND_BLOCKS = 3, 5

    def __init__(self, stages: int = 4) -> None:
        super().__init__()
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        self.config = {"stages": stages}
        self.stages = stages
        self.in_channels = 3
        self.size_multiple = 1  # stride-1 convolutions only: any size, no padding (tiles need no rounding)
        c = CHANNELS
        # Background branch F_x: [y, x_{t-1}, r_t] (9 channels) -> 32, LSTM gates over [f_x, h_x, h_r].
        self.conv0 = _conv(9, c, nn.ReLU())
        for k in range(1, self.BACKGROUND_BLOCKS + 1):
            self.add_module(f"res_conv{k}", _res_block(c))
        self.conv_i = _conv(3 * c, c, nn.Sigmoid())
        self.conv_f = _conv(3 * c, c, nn.Sigmoid())
        self.conv_g = _conv(3 * c, c, nn.Tanh())
        self.conv_o = _conv(3 * c, c, nn.Sigmoid())
        self.conv = _conv(c, 3)
        # Rain branch F_r: [y, r_{t-1}] (6 channels) -> 32, LSTM gates over [f_r, h_r, h_x].
        self.conv0_r = _conv(6, c, nn.ReLU())
        for k in range(1, 6):  # five built, RAIN_BLOCKS called (the releases' layout)
            self.add_module(f"res_conv{k}_r", _res_block(c))
        for k in range(self.RAIN_BLOCKS + 1, 6):
            getattr(self, f"res_conv{k}_r").requires_grad_(False)
        self.conv_i_r = _conv(3 * c, c, nn.Sigmoid())
        self.conv_f_r = _conv(3 * c, c, nn.Sigmoid())
        self.conv_g_r = _conv(3 * c, c, nn.Tanh())
        self.conv_o_r = _conv(3 * c, c, nn.Sigmoid())
        self.conv_r = _conv(c, 3)

    @staticmethod
    def _lstm(z: torch.Tensor, c: torch.Tensor, gates: tuple[nn.Module, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """One ConvLSTM step: c = f * c + i * g, h = o * tanh(c); returns (h, c)."""
        gi, gf, gg, go = gates
        c = gf(z) * c + gi(z) * gg(z)
        return go(z) * torch.tanh(c), c

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        h = y.new_zeros(y.shape[0], CHANNELS, *y.shape[2:])
        c, h_r, c_r = torch.zeros_like(h), torch.zeros_like(h), torch.zeros_like(h)
        x = r = y
        for _ in range(self.stages):
            # F_r: the rain streaks, from the input and the last rain estimate.
            z = torch.cat((self.conv0_r(torch.cat((y, r), 1)), h_r, h), 1)
            h_r, c_r = self._lstm(z, c_r, (self.conv_i_r, self.conv_f_r, self.conv_g_r, self.conv_o_r))
            z = h_r
            for k in range(1, self.RAIN_BLOCKS + 1):
                z = torch.relu(getattr(self, f"res_conv{k}_r")(z) + z)
            r = self.conv_r(z)
            # F_x: the background, from the input, the last background and the new rain estimate.
            z = torch.cat((self.conv0(torch.cat((y, x, r), 1)), h, h_r), 1)
            h, c = self._lstm(z, c, (self.conv_i, self.conv_f, self.conv_g, self.conv_o))
            z = h
            for k in range(1, self.BACKGROUND_BLOCKS + 1):
                z = torch.relu(getattr(self, f"res_conv{k}")(z) + z)
            x = self.conv(z)
        return x
