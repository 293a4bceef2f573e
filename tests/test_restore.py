"""Restoring a user's own images: any size, PNG or JPG, outputs named after inputs, errors before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hst.cli import main
from hst.data.io import read_image
from hst.errors import CheckpointError, DataError, HSTError
from hst.evaluate import Restorer
from hst.restore import restore_images

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def photos(tmp_path) -> list[Path]:
    """A 19 x 27 PNG, a 33 x 14 JPG and a grayscale PNG."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    a, b, c = folder / "holiday.png", folder / "street.jpg", folder / "scan.png"
    Image.fromarray(rng.integers(0, 256, (19, 27, 3), dtype=np.uint8)).save(a)
    Image.fromarray(rng.integers(0, 256, (33, 14, 3), dtype=np.uint8)).save(b, quality=90)
    Image.fromarray(rng.integers(0, 256, (12, 20), dtype=np.uint8)).save(c)
    return [a, b, c]


def test_restores_any_size_png_and_jpg(checkpoint, photos, tmp_path):
    out = tmp_path / "out"
    written = restore_images(photos, checkpoint, out, seed=4)
    assert [p.name for p in written] == ["holiday.png", "street.png", "scan.png"]
    restorer = Restorer(checkpoint, device="cpu", seed=4)
    for src, dst in zip(photos, written):
        image = read_image(dst)
        assert image.shape == read_image(src).shape and image.dtype == np.uint8
        expected, _ = restorer.restore(read_image(src), src.stem)
        assert np.array_equal(image, expected)


def test_seed_and_policy_change_the_result(checkpoint, photos, tmp_path):
    a = read_image(restore_images(photos[:1], checkpoint, tmp_path / "a", seed=0)[0])
    b = read_image(restore_images(photos[:1], checkpoint, tmp_path / "b", seed=0)[0])
    c = read_image(restore_images(photos[:1], checkpoint, tmp_path / "c", seed=9)[0])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    g1 = read_image(restore_images(photos[:1], checkpoint, tmp_path / "g1", sampling="grid", seed=0)[0])
    g2 = read_image(restore_images(photos[:1], checkpoint, tmp_path / "g2", sampling="grid", seed=9)[0])
    assert np.array_equal(g1, g2)


def test_unreadable_input_stops_before_any_work(checkpoint, photos, tmp_path):
    broken = photos[0].parent / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=rf"^{broken}: cannot decode image"):
        restore_images([photos[0], broken], checkpoint, out)
    assert not out.exists()
    with pytest.raises(DataError, match=rf"^{photos[0].parent / 'missing.png'}: no such image file"):
        restore_images([photos[0].parent / "missing.png"], checkpoint, out)


def test_unwritable_output_folder_is_checked_before_the_model(photos, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # The checkpoint does not exist either: the folder error must come first.
    with pytest.raises(HSTError, match=rf"^{blocker / 'out'}: output folder cannot be written"):
        restore_images(photos, tmp_path / "no-such.pt", blocker / "out")


def test_two_inputs_with_one_name_and_overwriting_an_input(checkpoint, photos, tmp_path):
    twin = tmp_path / "other" / "holiday.jpg"
    twin.parent.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(twin)
    with pytest.raises(DataError, match="same output name holiday.png"):
        restore_images([photos[0], twin], checkpoint, tmp_path / "out")
    with pytest.raises(HSTError, match="would overwrite an input image"):
        restore_images([photos[0]], checkpoint, photos[0].parent)


def test_foreign_checkpoint(photos, tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match=rf"^{path}: not an HST checkpoint"):
        restore_images(photos, path, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.png"))


def test_cli(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["restore", *map(str, photos[:2]), "--checkpoint", str(checkpoint), "-o", str(out), "--seed", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["holiday.png", "street.png"]
    assert "holiday.png (27x19" in capsys.readouterr().out
    assert main(["restore", str(tmp_path / "nope.png"), "--checkpoint", str(checkpoint), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope.png'}: no such image file"
