"""Synthetic twins: every registry set, the right layout and counts, deterministic, degradations as documented."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from hst.data.check import check_set
from hst.data.io import read_image
from hst.data.registry import SET_NAMES
from hst.data.synth import RAIN, TWINS, add_blur, add_rain, make_twin, make_twins, motion_kernel, twin_count
from hst.errors import DataError


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    start = time.perf_counter()
    make_twins(root)
    return root, time.perf_counter() - start


def files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_set_has_a_twin_of_the_right_shape(twins):
    root, seconds = twins
    assert set(TWINS) == set(SET_NAMES)
    assert seconds < 15  # seconds, not minutes (about 1.5 s on two cores)
    for name in SET_NAMES:
        train = TWINS[name].split == "train"
        report = check_set(root / name, expected=16 if train else 6)
        assert report.ok and not report.converted, report.format()
        first = sorted((root / name / "input").iterdir())[0]
        assert read_image(first).shape == ((160, 160, 3) if train else (96, 128, 3))
        meta = json.loads((root / name / "twin.json").read_text())
        assert meta["set"] == name and meta["seed"] == 0 and len(meta["pairs"]) == meta["count"]
        assert twin_count(root / name) == meta["count"]
    assert sorted(p.name for p in (root / "GoPro-test" / "input").iterdir())[0] == "GOPR0372_11_00_000001.png"
    assert sorted(p.name for p in (root / "Rain100H" / "target").iterdir()) == [f"{i}.png" for i in range(1, 7)]


def test_same_seed_same_bytes_other_seed_other_bytes(twins, tmp_path):
    root, _ = twins
    make_twins(tmp_path / "again")
    assert files(tmp_path / "again") == files(root)
    make_twin("Rain100L", tmp_path / "seed1", seed=1)
    assert files(tmp_path / "seed1" / "Rain100L") != files(root / "Rain100L")


def test_count_size_and_rain_profiles(tmp_path):
    make_twin("Rain100H", tmp_path, count=3, size=(40, 56), seed=5)
    make_twin("Rain100L", tmp_path, count=3, size=(40, 56), seed=5)
    meta = {n: json.loads((tmp_path / n / "twin.json").read_text()) for n in ("Rain100H", "Rain100L")}
    assert meta["Rain100H"]["count"] == 3 and meta["Rain100H"]["size"] == [40, 56]
    assert {p["profile"] for p in meta["Rain100H"]["pairs"]} == {"heavy"}
    assert {p["profile"] for p in meta["Rain100L"]["pairs"]} == {"light"}

    def rain_amount(name):
        return np.mean([(read_image(p).astype(int) - read_image(tmp_path / name / "target" / p.name)).mean()
                        for p in (tmp_path / name / "input").iterdir()])  # fmt: skip

    assert rain_amount("Rain100H") > 2 * rain_amount("Rain100L") > 0


def test_rain_is_additive_and_clipped():
    rng = np.random.default_rng(0)
    clean = np.full((64, 64, 3), 200, np.uint8)
    rainy, layers = add_rain(clean, rng, RAIN["heavy"])
    assert (rainy >= clean).all() and rainy.max() == 255 and (rainy > clean).any()
    assert 2 <= len(layers) <= 3 and all(-30 <= l["angle"] <= 30 for l in layers)


def test_motion_kernel_and_blur():
    kernel = motion_kernel(np.random.default_rng(1), 15)
    assert kernel.shape == (15, 15) and abs(kernel.sum() - 1) < 1e-5 and (kernel >= 0).all()
    assert (kernel > 0).sum() > 3  # a trajectory, not a point
    clean = (np.random.default_rng(2).random((48, 48, 3)) * 255).astype(np.uint8)
    blurred, params = add_blur(clean, np.random.default_rng(3))
    assert blurred.shape == clean.shape and params["kernel_size"] == 7
    assert cv2.Laplacian(blurred, cv2.CV_64F).var() < cv2.Laplacian(clean, cv2.CV_64F).var() / 2


def test_realblur_twins_are_misaligned_by_a_homography(twins):
    root, _ = twins
    meta = json.loads((root / "RealBlur-J" / "twin.json").read_text())
    for pair in meta["pairs"]:
        homography = np.array(pair["homography"])
        corners = np.float32([[[0, 0]], [[127, 0]], [[127, 95]], [[0, 95]]])
        moved = cv2.perspectiveTransform(corners, homography)
        shift = np.abs(moved - corners).max()
        assert 0.1 < shift <= 3.0 + 1e-4
    assert "homography" not in json.loads((root / "HIDE" / "twin.json").read_text())["pairs"][0]


def test_real_data_is_never_overwritten(tmp_path):
    (tmp_path / "Rain100H" / "input").mkdir(parents=True)
    with pytest.raises(DataError, match="not a twin"):
        make_twin("Rain100H", tmp_path)
    assert list((tmp_path / "Rain100H").iterdir()) == [tmp_path / "Rain100H" / "input"]
    with pytest.raises(DataError, match="no synthetic twin for 'Rain200H'"):
        make_twin("Rain200H", tmp_path)
    make_twin("Rain100L", tmp_path, count=2)
    make_twin("Rain100L", tmp_path, count=1)  # an older twin is replaced whole
    assert len(list((tmp_path / "Rain100L" / "input").iterdir())) == 1
