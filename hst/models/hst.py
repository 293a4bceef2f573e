"""HST: the U-shaped hierarchical sparse transformer built from LGL blocks."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hst.models.lgl_block import LGLBlock
from hst.models.norm import LayerNorm2d
from hst.models import SAMPLERS


def _stage(n: int, dim: int, heads: int, ratio: int, sampler: str, ffn_expansion: float, bias: bool) -> nn.Sequential:
    return nn.Sequential(*(LGLBlock(dim, heads, ratio, sampler, ffn_expansion, bias) for _ in range(n)))


# How a level of c channels is brought to c/2 channels at twice the size (the paper does not say).
UPSAMPLERS = ("conv3x3-shuffle", "conv1x1-shuffle", "transposed2x2", "bilinear-conv1x1")


def _upsample(kind: str, c: int, bias: bool) -> nn.Module:
    if kind == "conv3x3-shuffle":
        return nn.Sequential(nn.Conv2d(c, c * 2, 3, padding=1, bias=bias), nn.PixelShuffle(2))
    if kind == "conv1x1-shuffle":
        return nn.Sequential(nn.Conv2d(c, c * 2, 1, bias=bias), nn.PixelShuffle(2))
    if kind == "transposed2x2":
        return nn.ConvTranspose2d(c, c // 2, 2, stride=2, bias=bias)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c, c // 2, 1, bias=bias))


class HST(nn.Module):
    """Stem, 3 encoder levels, a bottom level and a symmetric 3-level decoder with skip connections;
    output I' = I + M (Sec. 3.1, Fig. 2a)."""

    def __init__(
        self,
        in_channels: int = 3,
        dim: int = 32,
        num_blocks: Sequence[int] = (1, 1, 1, 1),
        heads: Sequence[int] = (1, 2, 4, 8),
        ratios: Sequence[int] = (4, 2, 2, 1),
        sampler: str = "stochastic",
        ffn_expansion: float = 2.66,
        bias: bool = False,
        pad_mode: str = "reflect",
        zero_head: bool = False,
        check_inputs: bool = True,
        upsampler: str = "conv3x3-shuffle",
        decoder0_width: int = 1,
    ) -> None:
        # Paper (Sec. 3.1, Table 1): dim 32, widths x2 per level, heads 1/2/4/8, one LGL block per level
        # (HST-tiny). Our choices, where the paper is silent: ratios 4/2/2/1 (EdgeViT's), GDFN
        # expansion 2.66 (Restormer's), bias-free convolutions (Restormer's), reflect padding to the
        # size every level divides, upsampling as conv + PixelShuffle(2), LayerNorm with bias, and a
        # decoder level 0 as wide as the encoder's (C; Restormer keeps 2C there: decoder0_width=2).
        super().__init__()
        num_blocks, heads, ratios = list(num_blocks), list(heads), list(ratios)
        for name, value in (("num_blocks", num_blocks), ("heads", heads), ("ratios", ratios)):
            if len(value) != 4 or any(int(v) != v or v < 1 for v in value):
                raise ValueError(f"{name} must be 4 positive integers (3 encoder levels + bottom), got {value}")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if pad_mode not in ("reflect", "replicate", "constant"):
            raise ValueError(f"pad_mode must be reflect, replicate or constant, got {pad_mode!r}")
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"unknown upsampler {upsampler!r}; choose one of {', '.join(UPSAMPLERS)}")
        if decoder0_width not in (1, 2):
            raise ValueError(f"decoder0_width must be 1 (C) or 2 (2C), got {decoder0_width!r}")
        self.config = dict(
            in_channels=in_channels, dim=dim, num_blocks=num_blocks, heads=heads, ratios=ratios,
            sampler=sampler, ffn_expansion=ffn_expansion, bias=bias, pad_mode=pad_mode, zero_head=zero_head,
            check_inputs=check_inputs, upsampler=upsampler, decoder0_width=decoder0_width,
        )
        self.in_channels = in_channels
        self.pad_mode = pad_mode
        self.check_inputs = check_inputs
        widths = [dim * 2**i for i in range(4)]
        # Every level l (of stride 2^l) must split into whole r_l x r_l regions, and the three
        # down/up-samplings need a multiple of 8: pad to the least common multiple of both.
        self.size_multiple = math.lcm(8, *(2**i * r for i, r in enumerate(ratios)))
        stage = lambda i: _stage(num_blocks[i], widths[i], heads[i], ratios[i], sampler, ffn_expansion, bias)  # noqa: E731

        self.stem = nn.Sequential(nn.Conv2d(in_channels, dim, 3, padding=1, bias=bias), LayerNorm2d(dim))
        self.encoders = nn.ModuleList(stage(i) for i in range(3))
        self.downs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=bias) for i in range(3))
        self.bottom = stage(3)
        # Upsample a level of 2C channels to C channels at twice the size (default: conv to 4C, PixelShuffle(2)).
        self.ups = nn.ModuleList(_upsample(upsampler, widths[i + 1], bias) for i in range(3))
        # Skip concatenation (2C), then a 1x1 conv back to C; at level 0 with decoder0_width=2 the decoder
        # works on the 2C concatenation itself (no reduction), as Restormer's.
        self.reduces = nn.ModuleList(
            nn.Identity() if i == 0 and decoder0_width == 2 else nn.Conv2d(widths[i] * 2, widths[i], 1, bias=bias)
            for i in range(3)
        )
        dec0 = _stage(num_blocks[0], dim * decoder0_width, heads[0], ratios[0], sampler, ffn_expansion, bias)
        self.decoders = nn.ModuleList([dec0, stage(1), stage(2)])
        self.head = nn.Conv2d(dim * decoder0_width, in_channels, 3, padding=1, bias=bias)
        if zero_head:  # our choice for short trainings: M = 0 at start, so I' = I until the model learns
            nn.init.zeros_(self.head.weight)
        # The convolution weights are stored channels-last (O x kh x kw x I in memory), as the activations
        # are kept: otherwise every convolution reorders its weight on every call (forward and backward),
        # about a tenth of a CPU training step at 32x32. Values, state_dict keys and shapes are unchanged.
        self.to(memory_format=torch.channels_last)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"HST expects a B x {self.in_channels} x H x W tensor, got shape {tuple(x.shape)}")
        if x.shape[0] == 0 or x.shape[2] == 0 or x.shape[3] == 0:
            raise ValueError(f"HST got an empty tensor of shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("HST input contains NaN or infinite values")

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        if not ph and not pw:
            return x
        # Reflection needs the pad to be smaller than the side; tiny inputs fall back to replicate.
        mode = self.pad_mode
        if mode == "reflect" and (ph >= h or pw >= w):
            mode = "replicate"
        return F.pad(x, (0, pw, 0, ph), mode=mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.check_inputs:
            self._check(x)
        h, w = x.shape[-2:]
        inp = self._pad(x)
        # Activations stay channels-last (B x H x W x C in memory) through the whole network: LayerNorm
        # is then a contiguous last-dim op and the depth-wise convolutions run about twice as fast on
        # the CPU; the values are those of the NCHW computation.
        feat = self.stem(inp.contiguous(memory_format=torch.channels_last))
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            feat = encoder(feat)
            skips.append(feat)
            feat = down(feat)
        feat = self.bottom(feat)
        for i in reversed(range(3)):
            feat = self.ups[i](feat)
            feat = self.reduces[i](torch.cat([feat, skips[i]], dim=1))
            feat = self.decoders[i](feat)
        out = inp + self.head(feat)
        return out[..., :h, :w]
