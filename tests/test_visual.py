"""Figs. 7-8 panels: the crop goes where the input differs most from the target."""

import numpy as np
import pytest

from hst.errors import DataError
from hst.visual import choose_panel, crop_psnr, plot_panels, worst_window


def _pair(h=40, w=50, box=(10, 20, 8)):
    target = np.full((h, w, 3), 100, np.uint8)
    inp = target.copy()
    y, x, s = box
    inp[y:y + s, x:x + s] = 250  # the degradation, in one place
    return inp, target


def test_worst_window_finds_the_degraded_region():
    inp, target = _pair()
    top, left, score = worst_window(inp, target, 8)
    assert (top, left) == (10, 20) and score == pytest.approx(150.0)


def test_worst_window_clips_the_crop_to_the_image():
    inp, target = _pair(h=12, w=30, box=(0, 0, 4))
    top, left, _ = worst_window(inp, target, 96)
    assert (top, left) == (0, 0)


def test_choose_panel_takes_the_image_with_the_largest_error_and_cuts_all_three_alike():
    mild_in, mild_t = _pair(box=(0, 0, 2))
    bad_in, bad_t = _pair(box=(30, 40, 8))
    restored = bad_t.copy()
    panel = choose_panel("Rain100H", "derain-tiny", [("a", mild_in, mild_t, mild_t), ("b", bad_in, restored, bad_t)], 8)
    assert (panel.image, panel.top, panel.left, panel.size) == ("b", 30, 40, 8)
    assert all(c.shape == (8, 8, 3) for c in panel.crops)
    p_in, p_out = panel.psnrs()
    assert p_out == float("inf") and p_in == pytest.approx(crop_psnr(bad_in[30:38, 40:48], bad_t[30:38, 40:48]))
    png = plot_panels([panel], "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_mismatched_sizes_are_a_clear_error():
    inp, target = _pair()
    with pytest.raises(DataError, match="differ in size"):
        worst_window(inp, target[:-1], 8)
    with pytest.raises(DataError, match="no images"):
        choose_panel("HIDE", "deblur-tiny", [], 8)
