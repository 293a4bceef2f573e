"""Images in and out of the network: uint8 H x W x 3 arrays <-> float tensors in [0, 1], and the rounding
each protocol's test script used to save its outputs."""

from __future__ import annotations

import numpy as np
import torch

from hst.errors import ConfigError


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """An H x W x 3 uint8 image -> 1 x 3 x H x W float32 in [0, 1] on ``device``."""
    return torch.from_numpy(image).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_uint8(restored: torch.Tensor, rounding: str = "round") -> np.ndarray:
    """A 1 x 3 x H x W (or 3 x H x W) float output -> H x W x 3 uint8, clamped to [0, 1]: ``round`` half up
    (MATLAB's im2uint8), or ``truncate`` as ``np.uint8(255 * out)`` on float32 (PReNet's test script)."""
    array = restored.detach().float().cpu().numpy()
    if array.ndim == 4:
        array = array[0]
    if rounding == "truncate":
        array = np.clip(array, np.float32(0.0), np.float32(1.0))  # a copy: the model's output stays as it is
        array *= np.float32(255.0)  # np.uint8(255 * out) on float32, as PReNet's test script
    elif rounding == "round":
        # float64, then in place: a 12-megapixel output is 288 MB, and every temporary would be another.
        array = array.astype(np.float64)
        np.clip(array, 0.0, 1.0, out=array)
        array *= 255.0
        array += 0.5
        np.floor(array, out=array)
    else:
        raise ConfigError(f"rounding: unknown rule {rounding!r}; choose round or truncate")
    return np.ascontiguousarray(array.transpose(1, 2, 0).astype(np.uint8))
