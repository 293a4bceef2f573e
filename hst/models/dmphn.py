"""DMPHN, the deep multi-patch hierarchical network for deblurring (Zhang, Dai, Li, Koniusz, CVPR 2019),
and its stacked form Stack(N)-DMPHN: the deblurring baseline of the paper's Table 4.

Written from the paper (Sec. 3, Fig. 2; stacking Sec. 3.3) and the facts in
``shared/reference/baselines/weights.md``. :class:`Encoder` and :class:`Decoder` carry the layer names
of the authors' ``models.py`` (``layer1`` ... ``layer11``, ``layer13`` ... ``layer24``), so each
released file loads into one of them strictly; :class:`DMPHN` holds one encoder and one decoder per
stack ``s`` and level ``k`` under ``encoder.s{s}_lv{k}`` / ``decoder.s{s}_lv{k}`` (the weights registry
says which released file is which part).

Level k of ``levels`` (``"1-2-4"``: 3 levels, ``"1-2-4-8"``: 4) cuts the image into 2^(k-1) patches,
each level halving every patch of the level above it: the height at level 2, the width at level 3, the
height again at level 4. From the finest level up (Sec. 3.1, eqs. 1-3):

    F_k = E_k(B_k + S_{k+1}) + F_{k+1},   S_k = D_k(F_k joined to level k-1's patches),
    output = D_1(F_1)   (no residual to the input at level 1)

with S_{L+1} = 0 and F_{L+1} = 0. Stack s > 1 (Sec. 3.3) restores the output of stack s-1, adds stack
s-1's features at every level, and, as the authors' test scripts do, adds stack 1's output (not the
previous stack's) to its level-2 residual.

Conventions of the authors' test scripts, kept here: the network works on RGB in [-0.5, 0.5]
(``ToTensor() - 0.5``, output ``+ 0.5``): :class:`DMPHN` takes and returns [0, 1] like every model of
the harness and shifts inside. An encoder-decoder pass returns 4 * ceil(n / 4) pixels per side, so
every patch side must be a multiple of 4: H and W multiples of 8 for "1-2-4" (H of 16 for "1-2-4-8").
The scripts fed only such sizes (GoPro's 1280 x 720); for others this port pads the image by
reflection at the bottom and right to the next multiples and crops the output back (the patch
boundaries are then those of the padded image: an extension of ours, not the authors'). Outputs
were saved by torchvision's ``save_image`` of the time (``mul(255).clamp(0, 255).byte()``, truncation),
which the committed ``test_results`` of DMPHN_1_2_4 and SDNet4 follow.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hst.models import DMPHN_LEVELS, DMPHN_MAX_STACKS  # the options' values, in the registry


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1)


def _res(channels: int) -> nn.Sequential:
    """The body of a residual block (conv, ReLU, conv); the block adds its input."""
    return nn.Sequential(_conv(channels, channels), nn.ReLU(), _conv(channels, channels))


class Encoder(nn.Module):
    """E_k (Sec. 3.1, Fig. 3): 3 -> 32 -> 64 -> 128 channels, two stride-2 convolutions, two residual
    blocks per scale: a patch of h x w -> 128 x ceil(h/4) x ceil(w/4) features."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1, self.layer2, self.layer3 = _conv(3, 32), _res(32), _res(32)
        self.layer5, self.layer6, self.layer7 = _conv(32, 64, 2), _res(64), _res(64)
        self.layer9, self.layer10, self.layer11 = _conv(64, 128, 2), _res(128), _res(128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(x)
        x = self.layer2(x) + x
        x = self.layer3(x) + x
        x = self.layer5(x)
        x = self.layer6(x) + x
        x = self.layer7(x) + x
        x = self.layer9(x)
        x = self.layer10(x) + x
        return self.layer11(x) + x


class Decoder(nn.Module):
    """D_k (Sec. 3.1, Fig. 3): the encoder mirrored, two stride-2 transposed convolutions, 128 -> 3."""

    def __init__(self) -> None:
        super().__init__()
        self.layer13, self.layer14 = _res(128), _res(128)
        self.layer16 = nn.ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1)
        self.layer17, self.layer18 = _res(64), _res(64)
        self.layer20 = nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1)
        self.layer21, self.layer22 = _res(32), _res(32)
        self.layer24 = _conv(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer13(x) + x
        x = self.layer14(x) + x
        x = self.layer16(x)
        x = self.layer17(x) + x
        x = self.layer18(x) + x
        x = self.layer20(x)
        x = self.layer21(x) + x
        x = self.layer22(x) + x
        return self.layer24(x)


def _split_dim(level: int) -> int:
    """The tensor dimension level ``level`` (>= 2) halves its parent patches along: H at 2, W at 3, H at 4."""
    return 2 if level % 2 == 0 else 3


def _split(patches: list[torch.Tensor], dim: int) -> list[torch.Tensor]:
    """Each patch cut in two halves along ``dim`` (the first half int(n / 2)), in order: children 2j, 2j + 1."""
    out = []
    for p in patches:
        n = p.shape[dim] // 2
        out += [p.narrow(dim, 0, n), p.narrow(dim, n, p.shape[dim] - n)]
    return out


def _join(patches: list[torch.Tensor], dim: int) -> list[torch.Tensor]:
    """The inverse of :func:`_split`: children 2j and 2j + 1 side by side along ``dim``."""
    return [torch.cat((patches[j], patches[j + 1]), dim) for j in range(0, len(patches), 2)]


class DMPHN(nn.Module):
    """DMPHN(1-2-4) / DMPHN(1-2-4-8) (Sec. 3.1) and Stack(N)-DMPHN (Sec. 3.3): see the module docstring."""

    def __init__(self, levels: str = "1-2-4", stacks: int = 1) -> None:
        super().__init__()
        if levels not in DMPHN_LEVELS:
            raise ValueError(f"levels must be one of {', '.join(DMPHN_LEVELS)}, got {levels!r}")
        if not 1 <= stacks <= DMPHN_MAX_STACKS:
            raise ValueError(f"stacks must be 1 to {DMPHN_MAX_STACKS}, got {stacks}")
        self.config = {"levels": levels, "stacks": stacks}
        self.levels, self.stacks = DMPHN_LEVELS[levels], stacks
        self.in_channels = 3
        splits = [_split_dim(k) for k in range(2, self.levels + 1)]
        # Every patch side a multiple of 4 (the encoder's two stride-2 convolutions).
        self.multiple_hw = (4 * 2 ** splits.count(2), 4 * 2 ** splits.count(3))
        self.size_multiple = math.lcm(*self.multiple_hw)
        names = [f"s{s}_lv{k}" for s in range(1, stacks + 1) for k in range(1, self.levels + 1)]
        self.encoder = nn.ModuleDict({n: Encoder() for n in names})
        self.decoder = nn.ModuleDict({n: Decoder() for n in names})

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        mh, mw = self.multiple_hw
        ph, pw = (-x.shape[-2]) % mh, (-x.shape[-1]) % mw
        if not ph and not pw:
            return x
        mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"  # reflection needs pad < side
        return F.pad(x, (0, pw, 0, ph), mode=mode)

    def _stack(self, s: int, x: torch.Tensor, previous: list[list[torch.Tensor]] | None,
               first: torch.Tensor | None) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
        """One DMPHN pass of stack ``s`` over ``x`` (in [-0.5, 0.5]); ``previous``: stack s-1's features per
        level (index k-1, each a list of level k's patches); ``first``: stack 1's output (stacks > 1).
        Returns the output and this stack's features per level."""
        patches = [[x]]
        for k in range(2, self.levels + 1):
            patches.append(_split(patches[-1], _split_dim(k)))
        features: list[list[torch.Tensor]] = [[] for _ in range(self.levels)]
        deeper, residual = None, None  # F_{k+1} and S_{k+1}, in level k's patches
        for k in range(self.levels, 0, -1):
            enc = self.encoder[f"s{s}_lv{k}"]
            inputs = patches[k - 1] if residual is None else [p + r for p, r in zip(patches[k - 1], residual)]
            feats = [enc(p) for p in inputs]
            if deeper is not None:
                feats = [f + d for f, d in zip(feats, deeper)]
            if previous is not None:
                feats = [f + p for f, p in zip(feats, previous[k - 1])]
            features[k - 1] = feats
            if k == 1:
                return self.decoder[f"s{s}_lv1"](feats[0]), features
            deeper = _join(feats, _split_dim(k))
            residual = [self.decoder[f"s{s}_lv{k}"](f) for f in deeper]
            if k == 2 and first is not None:
                residual = [r + first for r in residual]
        raise AssertionError("unreachable")

    def forward(self, blurred: torch.Tensor) -> torch.Tensor:
        h, w = blurred.shape[-2:]
        x = self._pad(blurred) - 0.5
        first = previous = None
        for s in range(1, self.stacks + 1):
            x, previous = self._stack(s, x, previous, first)
            first = x if s == 1 else first
        return x[..., :h, :w] + 0.5
