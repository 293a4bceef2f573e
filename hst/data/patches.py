"""Training patches: the dataset of random crops over a set's patch cache (:mod:`hst.data.cache`).

A patch is a pure function of ``(seed, epoch, i)``. Images smaller than the patch are reflect-padded
up to it (our choice, so that small sets such as the synthetic twins can train at any patch size).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hst.data.cache import INDEX_FILE, PIXELS_FILE
from hst.errors import DataError


def dihedral(array: np.ndarray, flip: int, turns: int) -> np.ndarray:
    """Mirror left-right when ``flip``, then rotate by ``turns`` x 90 degrees."""
    if flip:
        array = array[:, ::-1]
    return np.rot90(array, turns)


class PatchDataset(Dataset):
    """Item ``i``: (input, target) float32 3 x P x P in [0, 1], a crop of image ``i % n_images``."""

    def __init__(
        self,
        cache_dir: str | os.PathLike,
        patch_size: int = 128,
        patches_per_image: int = 1,
        seed: int = 0,
        augment: bool = True,
    ):
        self.cache_dir = Path(cache_dir)
        if patch_size < 1 or patches_per_image < 1 or seed < 0:
            raise DataError(f"{cache_dir}: need patch_size >= 1, patches_per_image >= 1 and seed >= 0")
        index_path = self.cache_dir / INDEX_FILE
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            self.images = index["images"]
            size = (self.cache_dir / PIXELS_FILE).stat().st_size
        except FileNotFoundError as exc:
            raise DataError(f"{exc.filename}: no patch cache here (run `python -m hst data prepare`)") from None
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{index_path}: not a patch cache index ({exc})") from None
        if size != index.get("bytes") or not self.images:
            raise DataError(f"{self.cache_dir}: {PIXELS_FILE} does not match {INDEX_FILE}; prepare the cache again")
        self.patch_size, self.patches_per_image = patch_size, patches_per_image
        self.seed, self.augment, self.epoch = seed, augment, 0
        self._pixels: np.memmap | None = None

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def set_epoch(self, epoch: int) -> None:
        """Move to epoch ``epoch``: every item is drawn anew, reproducibly."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_pixels"] = None  # each DataLoader worker maps the file itself
        return state

    def _image_pair(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of image ``k``'s input and target in the memory map."""
        if self._pixels is None:
            self._pixels = np.memmap(self.cache_dir / PIXELS_FILE, dtype=np.uint8, mode="r")
        entry = self.images[k]
        h, w, off = entry["height"], entry["width"], entry["offset"]
        n = h * w * 3
        return self._pixels[off : off + n].reshape(h, w, 3), self._pixels[off + n : off + 2 * n].reshape(h, w, 3)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"patch {i} out of range 0..{len(self) - 1}")
        inp, tgt = self._image_pair(i % len(self.images))
        rng = np.random.default_rng([self.seed, self.epoch, i])
        p = self.patch_size
        h, w = inp.shape[:2]
        ph, pw = min(p, h), min(p, w)
        y, x = int(rng.integers(h - ph + 1)), int(rng.integers(w - pw + 1))
        flip, turns = (int(rng.integers(2)), int(rng.integers(4))) if self.augment else (0, 0)
        out = []
        for image in (inp, tgt):
            crop = image[y : y + ph, x : x + pw]
            if (ph, pw) != (p, p):
                crop = np.pad(crop, ((0, p - ph), (0, p - pw), (0, 0)), mode="reflect")
            crop = dihedral(crop, flip, turns)
            out.append(torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float().div_(255.0))
        return out[0], out[1]
