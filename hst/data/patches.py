"""Training patches: a uint8 memory-mapped cache of a set's pairs, and the patch dataset over it.

The cache is one flat ``pixels.u8`` (each pair's input then target, H x W x 3 uint8) and an
``index.json`` with every image's name, offset and shape. A patch is a pure function of
``(seed, epoch, i)``. Images smaller than the patch are reflect-padded up to it (our choice,
so that small sets such as the synthetic twins can train at any patch size).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hst.data.atomic import staged_dir
from hst.fsutil import atomic_write_text
from hst.data.io import read_image
from hst.data.pairs import Pair, list_pairs
from hst.errors import DataError

INDEX_FILE, PIXELS_FILE = "index.json", "pixels.u8"
# Says "this folder is a patch cache that may be replaced". Not index.json: that one is the
# pipeline's output, and Snakemake deletes an output before it runs the job again.
CACHE_MARKER = ".hst-cache"
_BATCH = 32  # pairs decoded at a time while the cache is written


def _fingerprint(pairs: list[Pair]) -> str:
    """A hash of the pairs' names, sizes and modification times: the cache is stale when it changes."""
    items = []
    for pair in pairs:
        a, b = pair.input.stat(), pair.target.stat()
        items.append([pair.name, a.st_size, a.st_mtime_ns, b.st_size, b.st_mtime_ns])
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def set_fingerprint(set_dir: str | os.PathLike) -> tuple[str, int]:
    """(the fingerprint that a patch cache of ``set_dir`` records, the number of pairs): what a training trains on."""
    pairs = list_pairs(Path(set_dir))
    return _fingerprint(pairs), len(pairs)


def _load_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Decode a pair, refusing one whose two images differ in size."""
    inp, tgt = read_image(pair.input), read_image(pair.target)
    if inp.shape != tgt.shape:
        raise DataError(f"{pair.input}: size {inp.shape[1]}x{inp.shape[0]} differs from its target's "
                        f"{tgt.shape[1]}x{tgt.shape[0]}")  # fmt: skip
    return inp, tgt


def prepare_cache(set_dir: str | os.PathLike, cache_dir: str | os.PathLike, *, workers: int | None = None) -> Path:
    """Write the memory-mappable cache of every pair of ``set_dir`` to ``cache_dir`` (kept when up to date)."""
    set_dir, cache_dir = Path(set_dir), Path(cache_dir)
    pairs = list_pairs(set_dir)
    fingerprint = _fingerprint(pairs)
    index_path = cache_dir / INDEX_FILE
    if index_path.exists():
        try:
            if json.loads(index_path.read_text(encoding="utf-8")).get("fingerprint") == fingerprint:
                return cache_dir
        except json.JSONDecodeError:
            pass
    elif cache_dir.exists() and not (cache_dir / CACHE_MARKER).exists() and any(cache_dir.iterdir()):
        raise DataError(f"{cache_dir}: not empty and not a patch cache (no {INDEX_FILE}); refusing to replace it")
    images, offset = [], 0
    with staged_dir(cache_dir, replace=True) as tmp:
        with open(tmp / PIXELS_FILE, "wb") as fh, ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
            for start in range(0, len(pairs), _BATCH):
                batch = pairs[start : start + _BATCH]
                for pair, (inp, tgt) in zip(batch, pool.map(_load_pair, batch)):
                    fh.write(inp.tobytes())
                    fh.write(tgt.tobytes())
                    images.append({"name": pair.name, "offset": offset, "height": inp.shape[0], "width": inp.shape[1]})
                    offset += 2 * inp.nbytes
        index = {"format": "hst-patch-cache", "version": 1, "set": str(set_dir), "fingerprint": fingerprint,
                 "bytes": offset, "images": images}  # fmt: skip
        atomic_write_text(tmp / INDEX_FILE, json.dumps(index) + "\n")
        atomic_write_text(tmp / CACHE_MARKER, "a patch cache written by `hst data prepare`, which may replace it\n")
    return cache_dir


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
