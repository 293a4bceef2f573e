"""The patch cache: a uint8 memory-mappable copy of a set's pairs that trainings crop from.

The cache is one flat ``pixels.u8`` (each pair's input then target, H x W x 3 uint8) and an
``index.json`` with every image's name, offset and shape. NumPy only: ``hst data prepare`` writes it
without importing torch; the patch dataset over it is :mod:`hst.data.patches`.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

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
