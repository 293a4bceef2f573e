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
        # Channels-last (B x h x w x 3C, as HST keeps its activations): the 3C channels split into
        # (q/k/v, head, d); one copy makes the 3 x B x heads x N x d layout the fused (flash) kernels
        # need (else SDPA falls back to the math path that materialises the N x N matrix).
        qkv = self.qkv_dw(self.qkv(tokens)).permute(0, 2, 3, 1).reshape(b, h * w, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).contiguous().unbind(0)
        # softmax(Q K^T / beta) V with beta folded into Q: memory grows with N, not N^2.
        out = F.scaled_dot_product_attention(q / self.beta.to(q.dtype), k, v, scale=1.0)
        # B x heads x N x d -> B x h x w x C (channel = head * d + j), returned as a channels-last map.
        return out.transpose(1, 2).reshape(b, h, w, c).permute(0, 3, 1, 2)
