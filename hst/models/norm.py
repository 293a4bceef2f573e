"""Channel LayerNorm for C x H x W maps (Restormer's "WithBias" variant, used throughout HST)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel of a B x C x H x W map (Sec. 3.1, 'LN')."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.layer_norm over the B x H x W x C view: one fused kernel (forward and backward) instead of
        # var_mean and five element-wise ops; the view is contiguous when x is channels_last (as HST
        # keeps its activations), so no copy is made.
        xc = x.permute(0, 2, 3, 1)
        low = xc.dtype in (torch.float16, torch.bfloat16)
        if not low and not torch.is_autocast_enabled(x.device.type):
            return F.layer_norm(xc, xc.shape[-1:], self.weight, self.bias, self.eps).permute(0, 3, 1, 2)
        # Under autocast (any device) or on a half-precision input: mean and variance in float32, as
        # the float32 models this one borrows from train; the result in the input's dtype.
        with torch.autocast(x.device.type, enabled=False):
            xf = xc.float() if low else xc
            y = F.layer_norm(xf, xf.shape[-1:], self.weight.to(xf.dtype), self.bias.to(xf.dtype), self.eps)
        return y.to(x.dtype).permute(0, 3, 1, 2)
