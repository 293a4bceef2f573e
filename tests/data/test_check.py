"""Reading images in every mode, pairing by name, and a checker that lists every bad file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.helpers.data import image
from PIL import Image

from hst.data.check import check_set
from hst.data.io import decode_image, read_image, write_png
from hst.data.pairs import list_pairs
from hst.errors import DataError


def test_modes_converted_to_8bit_rgb(tmp_path):
    rgb = image(1)
    gray16 = (np.arange(80, dtype=np.uint16).reshape(8, 10) * 800)
    rgb16 = (rgb.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "g16.png"), gray16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((8, 10), 7, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")

    g16, note = decode_image(tmp_path / "g16.png")
    assert g16.shape == (8, 10, 3) and g16.dtype == np.uint8 and "16-bit grayscale" in note
    assert np.array_equal(g16[..., 1], (gray16 >> 8).astype(np.uint8))
    c16, note = decode_image(tmp_path / "c16.png")
    assert np.array_equal(c16, rgb) and note == "16-bit RGB converted to 8-bit"
    gray, note = decode_image(tmp_path / "gray.png")
    assert np.array_equal(gray, np.repeat(rgb[..., :1], 3, axis=2)) and note.startswith("grayscale")
    rgba, note = decode_image(tmp_path / "rgba.png")
    assert np.array_equal(rgba, rgb) and "alpha dropped" in note
    pal, note = decode_image(tmp_path / "pal.png")
    assert pal.shape == (8, 10, 3) and note.startswith("palette")
    assert decode_image(tmp_path / "gray.png")[0].flags.writeable


def test_unsupported_missing_and_corrupt_images_named(tmp_path):
    Image.new("CMYK", (4, 4)).save(tmp_path / "cmyk.jpg")
    with pytest.raises(DataError, match=r"cmyk\.jpg: image mode 'CMYK' is not supported"):
        read_image(tmp_path / "cmyk.jpg")
    with pytest.raises(DataError, match=r"absent\.png: no such image"):
        read_image(tmp_path / "absent.png")
    write_png(tmp_path / "ok.png", image(2))
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    with pytest.raises(DataError, match=r"cut\.png: cannot decode image"):
        read_image(tmp_path / "cut.png")


def test_write_png_round_trip_atomic_and_strict(tmp_path):
    write_png(tmp_path / "sub" / "a.png", image(3))
    assert np.array_equal(read_image(tmp_path / "sub" / "a.png"), image(3))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.png"]
    with pytest.raises(DataError, match=r"b\.png: write_png needs"):
        write_png(tmp_path / "b.png", image(3).astype(np.float32))
    assert not (tmp_path / "b.png").exists() and len(list(tmp_path.iterdir())) == 1


def make_set(root, names, **overrides):
    """A set folder with pairs ``names``; ``overrides`` maps 'input/x.png' -> bytes or array."""
    for side in ("input", "target"):
        (root / side).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            write_png(root / side / name, image(i))
    for rel, content in overrides.items():
        path = root / rel
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            cv2.imwrite(str(path), content) if content.dtype == np.uint16 else write_png(path, content)
    return root


def test_list_pairs_sorted_and_every_unpaired_file_listed(tmp_path):
    good = make_set(tmp_path / "good", ["b.png", "a.png", "c.jpg"])
    (good / "input" / "notes.txt").write_text("x")
    assert [p.name for p in list_pairs(good)] == ["a", "b", "c"]
    bad = make_set(tmp_path / "bad", ["1.png", "2.png", "3.png"], **{"input/1.png": None, "target/3.png": None})
    with pytest.raises(DataError) as err:
        list_pairs(bad)
    assert "target/1.png: no input" in str(err.value) and "input/3.png: no target" in str(err.value)
    with pytest.raises(DataError, match="no image pairs"):
        list_pairs(make_set(tmp_path / "empty", []))


def test_checker_reports_every_bad_file(tmp_path):
    corrupt = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    gray16 = np.full((8, 10), 4000, np.uint16)
    root = make_set(
        tmp_path / "Rain100H",
        [f"{i}.png" for i in range(1, 9)],
        **{
            "input/1.png": None,  # target without input
            "target/2.png": None,  # input without target
            "input/3.png": corrupt,  # corrupt input
            "target/4.png": corrupt,  # corrupt target
            "target/5.png": image(5, h=9),  # size mismatch
            "input/6.png": gray16,  # 16-bit gray: converted, not bad
        },
    )
    Image.fromarray(image(7)[..., 0]).save(root / "target" / "7.png")  # grayscale: converted, not bad
    report = check_set(root, expected=8)
    bad = {(p.path.removeprefix(str(root)).lstrip("/"), p.reason.split(" (")[0]) for p in report.problems}
    assert bad == {
        ("", "6 pairs, expected 8"),
        ("target/1.png", "no input"),
        ("input/2.png", "no target"),
        ("input/3.png", "cannot decode image"),
        ("target/4.png", "cannot decode image"),
        ("input/5.png", "size 10x8 differs from its target's 10x9"),
    }
    converted = {p.path.rsplit("/", 2)[-2] + "/" + p.path.rsplit("/", 1)[-1]: p.reason for p in report.converted}
    assert converted == {"input/6.png": "16-bit grayscale converted to 8-bit RGB",
                         "target/7.png": "grayscale converted to RGB"}  # fmt: skip
    assert not report.ok and report.to_dict()["ok"] is False
    text = report.format()
    assert text.count("BAD ") == 6 and "converted" in text
    assert check_set(make_set(tmp_path / "fine", ["a.png"]), expected=1).ok


def test_checker_on_missing_folders(tmp_path):
    (tmp_path / "S" / "input").mkdir(parents=True)
    report = check_set(tmp_path / "S")
    assert [(p.path, p.reason) for p in report.problems] == [(str(tmp_path / "S" / "target"), "missing folder")]
    assert check_set(tmp_path / "absent").problems[0].reason == "no such set folder"
