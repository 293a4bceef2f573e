"""Gated-Dconv feed-forward network (GDFN), taken from Restormer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GDFN(nn.Module):
    """1x1 conv to 2 x hidden -> 3x3 depth-wise -> GELU(a) * b -> 1x1 conv (Sec. 3.2, Fig. 2d; Restormer)."""

    def __init__(self, dim: int, expansion: float = 2.66, bias: bool = False, inference_slices: int = 8) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.hidden = hidden
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)
        # Without autograd the hidden channels are processed in slices (the output is the same sum),
        # so the 2 x hidden x H x W map never exists whole: this bounds inference memory on large images.
        self.inference_slices = inference_slices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden
        n = 1 if torch.is_grad_enabled() else max(self.inference_slices, 1)
        bounds = [h * i // n for i in range(n + 1)]
        out = None
        for lo, hi in zip(bounds, bounds[1:]):
            part = self._gated(x, lo, hi)
            out = part if out is None else out.add_(part)
        if self.project_out.bias is not None:
            out = out + self.project_out.bias.view(1, -1, 1, 1)
        return out

    def _gated(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """project_out's share of hidden channels lo..hi: the gate half a and the value half b are each
        computed by their own convolutions on slices of the parameters (the function of the 2 x hidden
        convolution and chunk, without the strided halves and the concatenation in the backward)."""
        a = self._half(x, lo, hi)
        b = self._half(x, self.hidden + lo, self.hidden + hi)
        return F.conv2d(F.gelu(a) * b, self.project_out.weight[:, lo:hi])

    def _half(self, x: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        pin, dw = self.project_in, self.dwconv
        y = F.conv2d(x, pin.weight[lo:hi], None if pin.bias is None else pin.bias[lo:hi])
        return F.conv2d(y, dw.weight[lo:hi], None if dw.bias is None else dw.bias[lo:hi], padding=1, groups=hi - lo)
