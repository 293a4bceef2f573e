"""The patch cache and PatchDataset: exact pixels, determinism by (seed, epoch, i), augmentations, padding."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from tests.helpers.data import image
from torch.utils.data import DataLoader

from hst.data.io import write_png
from hst.data.cache import prepare_cache
from hst.data.patches import PatchDataset
from hst.errors import DataError

SIZES = {"a": (20, 24), "b": (18, 30), "c": (24, 20)}


@pytest.fixture
def set_dir(tmp_path):
    root = tmp_path / "S"
    for k, (name, (h, w)) in enumerate(SIZES.items()):
        write_png(root / "input" / f"{name}.png", image(k, h, w))
        write_png(root / "target" / f"{name}.png", image(k + 10, h, w))
    return root


@pytest.fixture
def cache(set_dir, tmp_path):
    return prepare_cache(set_dir, tmp_path / "cache")


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


def test_cache_holds_every_pair_exactly(cache):
    index = json.loads((cache / "index.json").read_text())
    assert [e["name"] for e in index["images"]] == ["a", "b", "c"]
    pixels = np.memmap(cache / "pixels.u8", dtype=np.uint8, mode="r")
    for k, entry in enumerate(index["images"]):
        h, w, off = entry["height"], entry["width"], entry["offset"]
        assert (h, w) == SIZES[entry["name"]]
        n = h * w * 3
        assert np.array_equal(pixels[off : off + n].reshape(h, w, 3), image(k, h, w))
        assert np.array_equal(pixels[off + n : off + 2 * n].reshape(h, w, 3), image(k + 10, h, w))
    assert pixels.size == index["bytes"]


def test_cache_kept_when_fresh_rebuilt_when_stale(set_dir, cache):
    mtime = (cache / "pixels.u8").stat().st_mtime_ns
    prepare_cache(set_dir, cache)
    assert (cache / "pixels.u8").stat().st_mtime_ns == mtime
    write_png(set_dir / "input" / "d.png", image(9, 16, 16))
    write_png(set_dir / "target" / "d.png", image(19, 16, 16))
    prepare_cache(set_dir, cache)
    assert len(json.loads((cache / "index.json").read_text())["images"]) == 4


def test_cache_refuses_bad_sets_and_foreign_folders(set_dir, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not a patch cache"):
        prepare_cache(set_dir, other)
    assert (other / "keep.txt").read_text() == "mine"
    write_png(set_dir / "target" / "a.png", image(0, 21, 24))
    with pytest.raises(DataError, match=r"a\.png: size 24x20 differs"):
        prepare_cache(set_dir, tmp_path / "cache2")
    assert not (tmp_path / "cache2").exists()


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


def test_a_cache_whose_index_was_removed_is_made_again(set_dir, tmp_path):
    """Snakemake removes index.json (the prepare rule's output) before it runs the rule again."""
    cache = tmp_path / "cache"
    prepare_cache(set_dir, cache)
    (cache / "index.json").unlink()
    prepare_cache(set_dir, cache)
    assert len(json.loads((cache / "index.json").read_text())["images"]) == 3
