"""PatchDataset over a patch cache: exact pixels, determinism by (seed, epoch, i), augmentations, padding."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from tests.data.conftest import SIZES
from tests.helpers.data import image
from torch.utils.data import DataLoader

from hst.data.patches import PatchDataset
from hst.errors import DataError


def dihedral(array: np.ndarray) -> list[np.ndarray]:
    """The 8 flips/rotations of an H x W x C array."""
    return [np.rot90(a, k) for a in (array, array[:, ::-1]) for k in range(4)]


def locate(patch: np.ndarray, full: np.ndarray) -> set[tuple[int, int, int]]:
    """Every (transform, y, x) such that ``patch`` is that transform of the crop of ``full`` at (y, x)."""
    p = patch.shape[0]
    found = set()
    for t, candidate in enumerate(dihedral(patch)):
        for y in range(full.shape[0] - p + 1):
            for x in range(full.shape[1] - p + 1):
                if np.array_equal(dihedral(full[y : y + p, x : x + p])[t], patch):
                    found.add((t, y, x))
    return found


def as_uint8(t: torch.Tensor) -> np.ndarray:
    return np.round(t.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)


def test_items_are_crops_of_the_right_image_with_the_same_transform(cache):
    ds = PatchDataset(cache, patch_size=8, patches_per_image=4, seed=3)
    assert len(ds) == 12
    transforms = set()
    for i in range(len(ds)):
        inp, tgt = ds[i]
        assert inp.shape == tgt.shape == (3, 8, 8) and inp.dtype == torch.float32
        assert 0 <= inp.min() and inp.max() <= 1
        k = i % 3
        h, w = list(SIZES.values())[k]
        where = locate(as_uint8(inp), image(k, h, w)) & locate(as_uint8(tgt), image(k + 10, h, w))
        assert where, f"item {i} is not one transform of one crop of image {k} (input and target alike)"
        transforms |= {t for t, _, _ in where}
    plain = PatchDataset(cache, patch_size=8, augment=False)
    assert all(0 in {t for t, _, _ in locate(as_uint8(plain[i][0]), image(i, *list(SIZES.values())[i]))}
               for i in range(3))  # fmt: skip
    assert len(transforms) >= 4  # flips and rotations do occur


def test_item_is_a_pure_function_of_seed_epoch_index(cache):
    a, b = PatchDataset(cache, patch_size=8, seed=1), PatchDataset(cache, patch_size=8, seed=1)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(3))
    assert torch.equal(a[2][1], a[2][1])
    a.set_epoch(5)
    assert not all(torch.equal(a[i][0], b[i][0]) for i in range(3))
    b.set_epoch(5)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(3))
    c = PatchDataset(cache, patch_size=8, seed=2)
    c.set_epoch(5)
    assert not all(torch.equal(a[i][0], c[i][0]) for i in range(3))
    # item i of a larger epoch-dataset does not depend on what was read before
    d = PatchDataset(cache, patch_size=8, seed=1)
    d.set_epoch(5)
    assert torch.equal(d[1][0], a[1][0])


def test_small_images_reflect_padded(cache):
    ds = PatchDataset(cache, patch_size=32, augment=False)
    inp, _ = ds[0]
    assert inp.shape == (3, 32, 32)
    crop = as_uint8(inp)
    full = image(0, 20, 24)
    assert np.array_equal(crop[:20, :24], full)
    assert np.array_equal(crop[20, :24], full[18]) and np.array_equal(crop[:20, 24], full[:, 22])  # reflect, not edge


def test_dataloader_workers_and_pickling(cache):
    ds = PatchDataset(cache, patch_size=8, patches_per_image=4, seed=0)
    ds[0]  # opens the memory map
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._pixels is None and torch.equal(clone[0][0], ds[0][0])
    batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert [tuple(b[0].shape) for b in batches] == [(4, 3, 8, 8)] * 3
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.stack([ds[i][0] for i in range(12)]))


def test_bad_arguments_and_missing_cache(cache, tmp_path):
    with pytest.raises(DataError, match="no patch cache here"):
        PatchDataset(tmp_path / "nothing")
    with pytest.raises(DataError, match="patch_size >= 1"):
        PatchDataset(cache, patch_size=0)
    with pytest.raises(IndexError):
        PatchDataset(cache)[3]
    (cache / "pixels.u8").write_bytes(b"short")
    with pytest.raises(DataError, match="does not match index.json"):
        PatchDataset(cache)
