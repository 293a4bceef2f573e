"""The local-global-local (LGL) transformer block."""

from __future__ import annotations

import torch
from torch import nn

from hst.models.gdfn import GDFN
from hst.models.global_sparse_attention import GlobalSparseAttention
from hst.models.local_aggregation import LocalAggregation
from hst.models.local_propagation import LocalPropagation
from hst.models.norm import LayerNorm2d


class LGLBlock(nn.Module):
    """X' = LA(X) + X;  X'' = LP(GSA(LN(X'))) + X';  X_l = GDFN(LN(X'')) + X'' (Sec. 3.2, Fig. 2b)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        ratio: int,
        sampler: str = "stochastic",
        ffn_expansion: float = 2.66,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.la = LocalAggregation(dim, bias)
        self.norm1 = LayerNorm2d(dim)
        self.gsa = GlobalSparseAttention(dim, heads, ratio, sampler, bias)
        self.lp = LocalPropagation(dim, ratio, bias)
        self.norm2 = LayerNorm2d(dim)
        self.ffn = GDFN(dim, ffn_expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.la(x)
        x = x + self.lp(self.gsa(self.norm1(x)))
        return x + self.ffn(self.norm2(x))
