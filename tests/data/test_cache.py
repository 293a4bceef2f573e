"""The patch cache (hst.data.cache): every pair's exact pixels, kept when fresh and made again when stale, foreign
folders and mismatched pairs refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.data.conftest import SIZES
from tests.helpers.data import image

from hst.data.cache import prepare_cache
from hst.data.io import write_png
from hst.errors import DataError


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


def test_a_cache_whose_index_was_removed_is_made_again(set_dir, tmp_path):
    """Snakemake removes index.json (the prepare rule's output) before it runs the rule again."""
    cache = tmp_path / "cache"
    prepare_cache(set_dir, cache)
    (cache / "index.json").unlink()
    prepare_cache(set_dir, cache)
    assert len(json.loads((cache / "index.json").read_text())["images"]) == 3
