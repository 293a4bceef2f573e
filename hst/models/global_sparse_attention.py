"""Global sparse attention (GSA): multi-head self-attention over the sampled delegate tokens."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hst.models.sampler import build_sampler


class GlobalSparseAttention(nn.Module):
    """Sample one token per r x r region, Q/K/V by 1x1 then 3x3 depth-wise convs, and
    V . Softmax(Q K^T / beta) per head with a learnable beta (Sec. 3.3)."""

    def __init__(self, dim: int, heads: int, ratio: int, sampler: str = "stochastic", bias: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"channels ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.sampler = build_sampler(sampler, ratio)
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dw = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=bias)
        # Our choice: beta starts at sqrt(head dim), so training starts from standard scaled attention.
        self.beta = nn.Parameter(torch.full((heads, 1, 1), math.sqrt(dim // heads)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.sampler(x)
        b, c, h, w = tokens.shape
        qkv = self.qkv_dw(self.qkv(tokens)).reshape(b, 3, self.heads, c // self.heads, h * w)
        # B x heads x N x d, contiguous: the fused (flash) kernels need it, else SDPA falls back to
        # the math path that materialises the N x N matrix.
        q, k, v = qkv.permute(1, 0, 2, 4, 3).contiguous().unbind(0)
        # softmax(Q K^T / beta) V with beta folded into Q: memory grows with N, not N^2.
        out = F.scaled_dot_product_attention(q / self.beta.to(q.dtype), k, v, scale=1.0)
        return out.transpose(-1, -2).reshape(b, c, h, w)
