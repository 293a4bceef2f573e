"""Figs. 7-8 panels: the crop goes where the model removes the most error, or where the input is worst."""

import numpy as np
import pytest

from hst.errors import DataError
from hst.metrics.protocols import psnr_rgb
from hst.paper.visual import best_window, choose_panel, gain_window, plot_panels, worst_window


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
    assert p_out == float("inf") and p_in == pytest.approx(psnr_rgb(bad_in[30:38, 40:48], bad_t[30:38, 40:48]))
    png = plot_panels([panel], "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_mismatched_sizes_are_a_clear_error():
    inp, target = _pair()
    with pytest.raises(DataError, match="differ in size"):
        worst_window(inp, target[:-1], 8)
    with pytest.raises(DataError, match="no images"):
        choose_panel("HIDE", "deblur-tiny", [], 8)


def test_best_window_sums_by_hand():
    score = np.array([[1.0, 0.0, 0.0], [0.0, 5.0, 2.0], [0.0, 2.0, -9.0]])
    # 2x2 sums: (0,0) 6, (0,1) 7, (1,0) 7, (1,1) 0; the first largest in row-major order wins
    assert best_window(score, 2) == (0, 1, pytest.approx(7 / 4))
    assert best_window(score, 1) == (1, 1, pytest.approx(5.0))
    assert best_window(score, 10) == (0, 0, pytest.approx(1 / 9))  # clipped to the whole map


def _two_degradations():
    """An input with a worse degradation the model left alone (top left) and a milder one it removed
    (bottom right)."""
    target = np.full((40, 50, 3), 100, np.uint8)
    inp = target.copy()
    inp[0:8, 0:8] = 250     # error 150, left in the restoration
    inp[30:38, 40:48] = 180  # error 80, removed by it
    restored = inp.copy()
    restored[30:38, 40:48] = 100
    return inp, restored, target


def test_gain_window_goes_where_the_model_removed_error_not_where_the_input_is_worst():
    inp, restored, target = _two_degradations()
    assert worst_window(inp, target, 8)[:2] == (0, 0)
    top, left, removed = gain_window(inp, restored, target, 8)
    assert (top, left) == (30, 40) and removed == pytest.approx(80.0**2)


def test_gain_window_counts_what_the_model_made_worse():
    target = np.full((10, 10, 3), 100, np.uint8)
    inp = target.copy()
    restored = target.copy()
    restored[:, :5] = 110  # the model added an error of 10 on the left half, removed nothing
    top, left, removed = gain_window(inp, restored, target, 5)
    assert (top, left) == (0, 5) and removed == 0.0
    assert gain_window(inp, restored, target, 10)[2] == pytest.approx(-50.0)


def test_choose_panel_by_gain_or_by_degradation():
    inp, restored, target = _two_degradations()
    images = [("a", inp, restored, target)]
    by_gain = choose_panel("GoPro-test", "deblur-tiny", images, 8)
    by_input = choose_panel("GoPro-test", "deblur-tiny", images, 8, choose="degradation")
    assert (by_gain.top, by_gain.left) == (30, 40) and by_gain.psnrs()[1] == float("inf")
    assert (by_input.top, by_input.left) == (0, 0) and by_input.psnrs()[0] == by_input.psnrs()[1]
    with pytest.raises(DataError, match="choose: 'best' is not one of gain, degradation"):
        choose_panel("GoPro-test", "deblur-tiny", images, 8, choose="best")


def test_a_restoration_of_another_size_is_named():
    inp, restored, target = _two_degradations()
    with pytest.raises(DataError, match=r"HIDE/x: input \(40, 50, 3\) and restoration \(39, 50, 3\) differ in size"):
        choose_panel("HIDE", "deblur-tiny", [("x", inp, restored[:-1], target)], 8)
