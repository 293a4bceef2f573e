"""Restoring a user's own images: any size, PNG or JPG, outputs named after inputs, errors before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hst.cli import main
from hst.data.io import read_image, read_photo
from hst.errors import CheckpointError, DataError, HSTError
from hst.engine.restorer import Restorer
from hst.engine.tensors import to_tensor
from hst.engine.restore import restore_images
from hst.engine.tiles import DEFAULT_OVERLAP, restore_tiled, tile_boxes, tile_starts

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
        gray = src.stem == "scan"
        with Image.open(dst) as im:
            assert im.mode == ("L" if gray else "RGB") and im.size == Image.open(src).size
            image = np.asarray(im)
        expected, _ = restorer.restore(read_image(src), src.stem, gray=gray)
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


# ----------------------------------------------------------------------------- tiles


@pytest.mark.parametrize("height,width,tile,overlap", [(19, 27, 8, 0), (19, 27, 8, 3), (40, 17, 16, 8), (5, 100, 32, 31),
                                                       (64, 64, 32, 0), (65, 64, 32, 16), (7, 9, 16, 4)])
def test_tiles_cover_the_image_exactly(height, width, tile, overlap):
    boxes = tile_boxes(height, width, tile, overlap)
    covered = np.zeros((height, width), int)
    for top, left, h, w in boxes:
        assert top >= 0 and left >= 0 and top + h <= height and left + w <= width
        assert (h, w) == (min(tile, height), min(tile, width))  # full tiles only: the last one is flush with the edge
        covered[top:top + h, left:left + w] += 1
    assert covered.min() >= 1
    for side, length in ((0, height), (1, width)):
        starts = sorted({box[side] for box in boxes})
        assert starts == tile_starts(length, tile, overlap)
        # neighbours overlap by at least `overlap`, and by exactly `overlap` but for the last one
        gaps = np.diff(starts)
        assert all(tile - g >= overlap for g in gaps) and all(g == tile - overlap for g in gaps[:-1])
    assert len(boxes) == len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def test_blending_weights_sum_to_one_and_ramp_over_the_overlap():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 37, 3), dtype=np.uint8)
    x = to_tensor(image)
    # The identity through tiles gives the image back: the weights of overlapping tiles sum to 1 there.
    assert torch.allclose(restore_tiled(image, lambda t, top, left: t, 16, 5), x, atol=1e-6)
    exact = image[:16, :32]  # two tiles side by side, no overlap: nothing blended, bit for bit
    assert torch.equal(restore_tiled(exact, lambda t, top, left: t, 16, 0), to_tensor(np.ascontiguousarray(exact)))
    # A constant per tile: one tile's value where it alone covers, a linear ramp across an exact overlap.
    value = {left: float(i) for i, left in enumerate(tile_starts(37, 16, 5))}  # lefts 0, 11, 21
    out = restore_tiled(image, lambda t, top, left: torch.full_like(t, value[left]), 16, 5)[0, 0, 0]
    assert torch.equal(out[:11], torch.zeros(11)) and torch.equal(out[16:21], torch.ones(5))
    j = torch.arange(5, dtype=torch.float32)
    assert torch.allclose(out[11:16], ((j + 1) / 6) * 1.0, atol=1e-6)  # tile 0 (value 0) fades out, tile 1 in
    # The last tile is flush with the edge and shares 6 columns with tile 1: the ramp spans all 6.
    k = torch.arange(6, dtype=torch.float32)
    assert torch.allclose(out[21:27], (6 - k) / 7 * 1.0 + (k + 1) / 7 * 2.0, atol=1e-6)
    assert torch.equal(out[27:], torch.full((10,), 2.0))


def test_a_tile_larger_than_the_image_is_whole_image_restoration(checkpoint, photos):
    image = read_image(photos[0])  # 19 x 27
    for sampling, draws in (("seeded", None), ("grid", None), ("ensemble", 2)):
        whole = Restorer(checkpoint, device="cpu", seed=3, sampling=sampling, draws=draws)
        tiled = Restorer(checkpoint, device="cpu", seed=3, sampling=sampling, draws=draws, tile=32, tile_overlap=8)
        assert torch.equal(tiled.restore_float(image, "a"), whole.restore_float(image, "a"))


def test_the_model_never_sees_more_than_a_tile(checkpoint, photos):
    image = read_image(photos[0])  # 19 x 27
    restorer = Restorer(checkpoint, device="cpu", seed=1, tile=16, tile_overlap=4)
    shapes = []
    restorer.model.register_forward_hook(lambda module, args, out: shapes.append(tuple(args[0].shape)))
    tiled = restorer.restore_float(image, "a")
    assert shapes == [(1, 3, 16, 16)] * len(tile_boxes(19, 27, 16, 4)) and len(shapes) == 4
    assert tiled.shape == (1, 3, 19, 27)
    # Each tile is the model's output on that crop: pixels only one tile covers are that tile's, bit for bit.
    first = Restorer(checkpoint, device="cpu", seed=1).restore_float(np.ascontiguousarray(image[:16, :16]), "a")
    assert torch.equal(tiled[..., :3, :11], first[..., :3, :11])  # rows 3-15 and columns 11-15 are shared
    assert not torch.equal(tiled, Restorer(checkpoint, device="cpu", seed=1).restore_float(image, "a"))


def test_tiled_restore_cli(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["restore", str(photos[0]), "--checkpoint", str(checkpoint), "-o", str(out), "--tile", "16",
                 "--tile-overlap", "4", "--seed", "2"]) == 0
    assert "holiday.png (27x19, tiles 16 overlap 4" in capsys.readouterr().out
    expected, _ = Restorer(checkpoint, device="cpu", seed=2, tile=16, tile_overlap=4).restore(read_image(photos[0]), "holiday")
    assert np.array_equal(read_image(out / "holiday.png"), expected)
    default = Restorer(checkpoint, device="cpu", tile=64)
    assert default.tile_overlap == DEFAULT_OVERLAP and Restorer(checkpoint, device="cpu").tile_overlap is None


@pytest.mark.parametrize("options,message", [
    (["--tile", "12"], "--tile: 12 is not a multiple of 8, the model's size multiple; use 8 or 16"),
    (["--tile", "4"], "--tile: 4 is smaller than 8, the model's size multiple; use a multiple of 8"),
    (["--tile", "0"], "--tile: needs a positive size in pixels, got 0"),
    (["--tile", "16", "--tile-overlap", "16"], "--tile-overlap: needs 0 <= overlap < tile (16), got 16"),
    (["--tile", "16", "--tile-overlap", "-1"], "--tile-overlap: needs 0 <= overlap < tile (16), got -1"),
    (["--tile-overlap", "8"], "--tile-overlap: only makes sense with --tile"),
])
def test_bad_tile_options_stop_before_any_work(checkpoint, photos, tmp_path, capsys, options, message):
    out = tmp_path / "out"
    assert main(["restore", str(photos[0]), "--checkpoint", str(checkpoint), "-o", str(out), *options]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not list(out.glob("*.png"))


# ----------------------------------------------------------------------------- photos as users have them


def test_exif_orientation_is_honoured_when_restoring_but_not_in_datasets(checkpoint, tmp_path):
    stored = np.zeros((16, 24, 3), np.uint8)  # stored 24 wide, 16 high; a bright left column block
    stored[:, :6] = 230
    stored[:4, :, 1] = 120
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; viewers rotate 90 degrees clockwise
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    raw = read_image(path)
    assert raw.shape == (16, 24, 3)  # datasets: the stored pixels, as the published scores use them
    upright, gray = read_photo(path)
    assert not gray and np.array_equal(upright, np.rot90(raw, -1))
    written = restore_images([path], checkpoint, tmp_path / "out", seed=5)[0]
    expected, _ = Restorer(checkpoint, device="cpu", seed=5).restore(np.ascontiguousarray(np.rot90(raw, -1)), "phone")
    assert np.array_equal(read_image(written), expected) and expected.shape == (24, 16, 3)


@pytest.mark.parametrize("mode", ["L", "LA", "I;16", "1"])
def test_grayscale_in_grayscale_out(checkpoint, tmp_path, mode):
    rng = np.random.default_rng(2)
    gray8 = rng.integers(0, 256, (13, 21), dtype=np.uint8)
    path = tmp_path / "scan.png"
    if mode == "I;16":
        Image.fromarray(gray8.astype(np.uint16) * 257).save(path)
    elif mode == "LA":
        Image.fromarray(np.dstack([gray8, np.full_like(gray8, 200)]), mode="LA").save(path)
    else:
        Image.fromarray(gray8).convert(mode).save(path)
    with Image.open(path) as im:
        assert im.mode == mode
    rgba = tmp_path / "logo.png"  # alpha is dropped, colour stays colour
    Image.fromarray(np.dstack([gray8, gray8, gray8, gray8]), mode="RGBA").save(rgba)
    written, written_rgba = restore_images([path, rgba], checkpoint, tmp_path / "out", seed=1, tile=8, tile_overlap=2)
    with Image.open(written_rgba) as im:
        assert im.mode == "RGB" and im.size == (21, 13)
    with Image.open(written) as im:
        assert im.mode == "L" and im.size == (21, 13)
        restored = np.asarray(im)
    restorer = Restorer(checkpoint, device="cpu", seed=1, tile=8, tile_overlap=2)
    image = read_image(path)
    out = restorer.restore_float(image, "scan").double().numpy()[0]
    mean = out.astype(np.float32).mean(axis=0)  # the mean of the restored channels, then rounded half up
    assert np.abs(restored.astype(int) - np.floor(np.clip(mean, 0, 1) * 255 + 0.5)).max() <= 1
    rgb, _ = restorer.restore(image, "scan")
    assert not np.array_equal(rgb[..., 0], rgb[..., 1])  # the model's channels differ: a choice had to be made
    assert np.array_equal(restored, restorer.restore(image, "scan", gray=True)[0])



def test_outputs_are_rounded_as_the_architectures_release_saved_them_unless_the_protocol_says(tmp_path):
    """DMPHN's release truncated its saved outputs (hst.models.ARCHS["dmphn"].output_rounding): its restorations
    truncate, HST's round, and a protocol's own rule (``rounding``, e.g. PReNet's truncation) comes first."""
    from hst.engine.checkpoint import save_checkpoint
    from hst.engine.tensors import to_uint8
    from hst.models import build_arch, build_model

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "dmphn.pt", build_arch("dmphn", {"levels": "1-2-4", "stacks": 1}))
    save_checkpoint(tmp_path / "hst.pt", build_model("tiny", dim=8))
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    dmphn = Restorer(tmp_path / "dmphn.pt", device="cpu")
    assert dmphn.rounding == "truncate" and Restorer(tmp_path / "hst.pt", device="cpu").rounding == "round"
    assert Restorer(tmp_path / "dmphn.pt", device="cpu", rounding="round").rounding == "round"
    out, _ = dmphn.restore(image, "a.png")
    with torch.no_grad():
        raw = dmphn.model(to_tensor(image)).clamp(0, 1)
    assert np.array_equal(out, to_uint8(raw, "truncate")) and not np.array_equal(out, to_uint8(raw, "round"))
