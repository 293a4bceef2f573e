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
        if torch.is_grad_enabled() or self.inference_slices <= 1:
            a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
            return self.project_out(F.gelu(a) * b)
        return self._forward_sliced(x)

    def _forward_sliced(self, x: torch.Tensor) -> torch.Tensor:
        h, n = self.hidden, self.inference_slices
        bounds = [h * i // n for i in range(n + 1)]
        out = None
        for lo, hi in zip(bounds, bounds[1:]):
            idx = torch.cat([torch.arange(lo, hi), torch.arange(h + lo, h + hi)]).to(x.device)
            w_in, w_dw = self.project_in.weight[idx], self.dwconv.weight[idx]
            b_in = None if self.project_in.bias is None else self.project_in.bias[idx]
            b_dw = None if self.dwconv.bias is None else self.dwconv.bias[idx]
            a, b = F.conv2d(F.conv2d(x, w_in, b_in), w_dw, b_dw, padding=1, groups=len(idx)).chunk(2, dim=1)
            part = F.conv2d(F.gelu(a) * b, self.project_out.weight[:, lo:hi])
            out = part if out is None else out.add_(part)
        if self.project_out.bias is not None:
            out = out + self.project_out.bias.view(1, -1, 1, 1)
        return out
