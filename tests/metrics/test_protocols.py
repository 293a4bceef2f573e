"""Tests of hst.metrics.protocols against hand computations, library code and the protocols' traps."""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hst.metrics import protocols as M
from hst.errors import DataError

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


# --------------------------------------------------------------------------- helpers


def natural(h: int = 321, w: int = 481) -> np.ndarray:
    """A natural RGB crop (skimage's bundled coffee picture, 400 x 600), no network needed."""
    return np.ascontiguousarray(data.coffee()[40 : 40 + h, 60 : 60 + w])


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image + rng.normal(0.0, sigma, image.shape), 0, 255).astype(np.uint8)


def grey(levels: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 with R = G = B = levels."""
    return np.repeat(np.asarray(levels, dtype=np.uint8)[..., None], 3, axis=2)


def y_float(rgb: np.ndarray) -> np.ndarray:
    """The common slip: BT.601 Y in float, not rounded to uint8."""
    a = rgb.astype(np.float64)
    return 16.0 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255.0


def psnr_of(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    return 20 * math.log10(peak / math.sqrt(np.mean(d * d)))


def matlab_ssim_kernel(ndim: int) -> np.ndarray:
    """The kernel of MATLAB R2014 ssim.m: exp(-r^2 / (2 * 1.5^2)) on an 11^ndim grid, eps-thresholded, normalised."""
    grids = np.mgrid[(slice(-5, 6),) * ndim]
    k = np.exp(-sum(g * g for g in grids) / (2 * 1.5**2))
    k[k < np.finfo(float).eps * k.max()] = 0
    return k / k.sum()


def matlab_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MATLAB's built-in ssim (R2014 form): one ndim-D kernel, imfilter 'replicate', 'same', mean of the map."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    k = matlab_ssim_kernel(a.ndim)

    def f(v):
        return ndimage.convolve(v, k, mode="nearest")

    mx, my = f(a), f(b)
    sx, sy, sxy = f(a * a) - mx * mx, f(b * b) - my * my, f(a * b) - mx * my
    return float(np.mean((2 * mx * my + C1) * (2 * sxy + C2) / ((mx * mx + my * my + C1) * (sx + sy + C2))))


def homography(h: int, w: int, dx: float = 2.5, dy: float = -1.8, degrees: float = 0.4) -> np.ndarray:
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    m[0, 2] += dx
    m[1, 2] += dy
    return np.vstack([m, [0.0, 0.0, 1.0]])


def official_realblur(restored: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """The official RealBlur evaluation written out from the protocol, float32 as the script reads images."""
    z = restored.astype(np.float32) / 255.0
    x = target.astype(np.float32) / 255.0
    zs = (np.sum(x * z) / np.sum(z * z)) * z
    warp = np.eye(3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 0)
    _, warp = cv2.findTransformECC(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.cvtColor(zs, cv2.COLOR_RGB2GRAY),
                                   warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 5)
    size = (x.shape[1], x.shape[0])
    zr = cv2.warpPerspective(zs, warp, size, flags=cv2.INTER_CUBIC + cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
    cr = cv2.warpPerspective(np.ones_like(zs, dtype="float32"), warp, size,
                             flags=cv2.INTER_NEAREST + cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    zr, xr = zr * cr, x * cr
    psnr = 10 * np.log10(1.0 / (np.sum((xr - zr) ** 2, dtype=np.float64) / np.sum(cr)))
    _, smap = structural_similarity(xr, zr, channel_axis=2, gaussian_weights=True, use_sample_covariance=False,
                                    data_range=1.0, full=True)
    smap = (smap * cr)[5:-5, 5:-5]
    # axis by axis, as the script does: a float32 sum over axis=(0, 1) at once accumulates naively
    # along strided memory and is off by ~4e-4 relative on a 321 x 481 map
    ssim = np.mean(smap.sum(axis=0).sum(axis=0) / cr[5:-5, 5:-5].sum(axis=0).sum(axis=0))
    return float(psnr), float(ssim)


ALL_METRICS = [M.psnr_y, M.ssim_y, M.psnr_rgb, M.ssim_volumetric, M.ssim_per_channel, M.psnr_aligned,
               M.ssim_aligned, M.realblur_scores]


@pytest.fixture(scope="module")
def warped_pair():
    """(restored, target): the target moved by a known small homography (2.5, -1.8 px, 0.4 degrees)."""
    target = natural()
    h, w = target.shape[:2]
    hom = homography(h, w)
    restored = cv2.warpPerspective(target, hom, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return restored, target, hom


# ----------------------------------------------------------------------------- PSNR


def test_psnr_rgb_hand_computed():
    target = np.zeros((2, 2, 3), np.uint8)
    restored = target.copy()
    restored[1, 0, 2] = 6  # one of 12 values off by 6: MSE = 36 / 12 = 3
    assert M.psnr_rgb(restored, target) == pytest.approx(10 * math.log10(255**2 / 3), abs=1e-12)


def test_psnr_y_hand_computed():
    # grey 0 -> Y 16, grey 255 -> Y 235 (65.481 + 128.553 + 24.966 = 219); one pixel of four differs
    target = grey(np.zeros((2, 2)))
    restored = grey([[0, 255], [0, 0]])
    rmse = math.sqrt(219**2 / 4)  # = 109.5
    assert M.psnr_y(restored, target) == pytest.approx(20 * math.log10(255 / rmse), abs=1e-12)


def test_psnr_rgb_equals_skimage():
    target = natural(64, 80)
    restored = noisy(target, 10)
    expected = peak_signal_noise_ratio(target, restored, data_range=255)
    assert M.psnr_rgb(restored, target) == pytest.approx(expected, abs=1e-10)


def test_identical_images_give_inf_psnr_and_unit_ssim():
    image = natural(40, 50)
    assert M.psnr_y(image, image) == math.inf
    assert M.psnr_rgb(image, image) == math.inf
    for ssim in (M.ssim_y, M.ssim_volumetric, M.ssim_per_channel):
        assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


def test_mean_psnr_caps_inf_and_values_above_the_cap():
    assert M.PSNR_CAP == 100.0
    assert M.mean_psnr([30.0, math.inf]) == pytest.approx(65.0)
    assert M.mean_psnr([30.0, 40.0]) == pytest.approx(35.0)
    assert M.mean_psnr([120.0, 20.0]) == pytest.approx(60.0)  # clipped, so inf never ranks below a finite value
    with pytest.raises(ValueError, match="no values"):
        M.mean_psnr([])
    with pytest.raises(ValueError, match="NaN"):
        M.mean_psnr([30.0, float("nan")])


# ------------------------------------------------------------------- Y conversion


def test_y_rounds_half_away_from_zero_like_matlab():
    half = np.array([[[6, 34, 182]]], np.uint8)  # Y is exactly 52.5 in double, in either summation order
    r, g, b = half[0, 0].astype(float)
    exact = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    assert exact == 52.5
    assert np.rint(exact) == 52  # numpy: half to even
    pixels = np.array([[[6, 34, 182], [0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    assert M.rgb_to_y(pixels).tolist() == [[53.0, 16.0, 235.0, 81.0]]  # MATLAB: half away from zero
    # a grey-53 pixel would not exist, so compare against a pixel whose Y is 53 without any tie
    near = np.array([[[7, 34, 182]]], np.uint8)  # Y = 52.757 -> 53 under any rounding rule
    assert M.rgb_to_y(near)[0, 0] == 53
    assert M.psnr_y(pixels[:, :1], near) == math.inf  # half-to-even would give 52 and a finite PSNR


def test_psnr_y_uses_rounded_not_float_y():
    target = natural()
    restored = noisy(target, 3)
    rounded = np.floor(y_float(restored) + 0.5), np.floor(y_float(target) + 0.5)
    assert M.psnr_y(restored, target) == pytest.approx(psnr_of(*rounded), abs=1e-9)
    slip = psnr_of(y_float(restored), y_float(target))
    assert abs(M.psnr_y(restored, target) - slip) > 0.1  # measured: 0.22 dB on this pair


def test_psnr_y_uses_rgb_weights_not_bgr():
    target = np.zeros((4, 4, 3), np.uint8)
    restored = target.copy()
    restored[..., 0] = 255  # pure red, in an RGB array
    # RGB: Y(red) = round(16 + 65.481) = 81; a BGR formula reads it as blue: round(16 + 24.966) = 41
    assert M.psnr_y(restored, target) == pytest.approx(20 * math.log10(255 / 65), abs=1e-12)
    assert abs(M.psnr_y(restored, target) - 20 * math.log10(255 / 25)) > 8


# ----------------------------------------------------------------------------- SSIM


def test_ssim_y_hand_computed_single_window():
    # 11 x 11: 'valid' leaves one window. Y = 89 + 73 s with s = -1 | 0 | +1 on the left | centre | right
    # columns (grey 0 | 85 | 170 -> Y 16 | 89 | 162); restored = the same pattern shifted by +73 in Y
    # (grey 85 | 170 | 255). s is antisymmetric, so the Gaussian means are 89 and 162, and a constant
    # shift leaves variances and covariance equal: SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1).
    s = np.sign(np.arange(11) - 5)[None, :].repeat(11, axis=0)
    target = grey(85 + 85 * s)
    restored = grey(170 + 85 * s)
    assert np.array_equal(M.rgb_to_y(target), 89 + 73 * s)
    expected = (2 * 89 * 162 + C1) / (89**2 + 162**2 + C1)
    assert M.ssim_y(restored, target) == pytest.approx(expected, abs=1e-12)


def test_ssim_per_channel_hand_computed_single_window():
    s = np.sign(np.arange(11) - 5)[None, :].repeat(11, axis=0)
    target = np.stack([100 + 50 * s, 60 + 40 * s, 200 + 20 * s], axis=2).astype(np.uint8)
    restored = (target.astype(np.int16) + np.array([30, 0, -50])).astype(np.uint8)  # a shift per channel
    per = [(2 * m * (m + c) + C1) / (m**2 + (m + c) ** 2 + C1) for m, c in ((100, 30), (60, 0), (200, -50))]
    assert M.ssim_per_channel(restored, target) == pytest.approx(np.mean(per), abs=1e-12)


def test_ssim_volumetric_hand_computed_constant_volumes():
    a, b = 40, 200  # every local mean is the constant, every variance 0
    target = np.full((7, 9, 3), a, np.uint8)
    restored = np.full((7, 9, 3), b, np.uint8)
    assert M.ssim_volumetric(restored, target) == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1), abs=1e-12)


def test_ssim_y_equals_skimage_on_rounded_y():
    target = natural(120, 150)
    restored = noisy(target, 12)
    expected = structural_similarity(M.rgb_to_y(restored), M.rgb_to_y(target), gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=255)
    assert M.ssim_y(restored, target) == pytest.approx(expected, abs=1e-9)


def test_ssim_per_channel_equals_skimage_channel_axis():
    target = natural(90, 110)
    restored = noisy(target, 15)
    expected = structural_similarity(restored.astype(np.float64), target.astype(np.float64), channel_axis=2,
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert M.ssim_per_channel(restored, target) == pytest.approx(expected, abs=1e-9)


def test_ssim_y_is_valid_filtering_not_same():
    # damage only a 5-pixel frame: 'valid' windows barely see it, padded 'same' windows centred on it do
    target = natural(40, 48)
    restored = target.copy()
    restored[:5], restored[-5:], restored[:, :5], restored[:, -5:] = 0, 0, 0, 0
    y_r, y_t = M.rgb_to_y(restored), M.rgb_to_y(target)
    _, full = structural_similarity(y_r, y_t, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=255, full=True)
    same = float(full.mean())  # the whole map, padded by reflection
    valid = float(full[5:-5, 5:-5].mean())
    assert M.ssim_y(restored, target) == pytest.approx(valid, abs=1e-12)
    assert abs(M.ssim_y(restored, target) - same) > 0.05


def test_ssim_volumetric_equals_matlab_r2014_3d_kernel():
    # R2014 ssim.m: one 11x11x11 kernel; R2021: three separable 11-tap kernels. Same filter.
    target = natural(24, 30)
    restored = noisy(target, 12, seed=3)
    assert M.ssim_volumetric(restored, target) == pytest.approx(matlab_ssim(restored, target), abs=1e-12)


def test_ssim_volumetric_on_grey_equals_matlab_2d_but_not_per_channel():
    # Replicate padding on the channel axis keeps R = G = B volumes channel-constant: the 3-D filter
    # reduces to the 2-D one, so volumetric SSIM = MATLAB's 2-D ssim of the grey plane ...
    plane = natural(30, 36)[..., 1]
    target, restored = grey(plane), grey(noisy(natural(30, 36), 12)[..., 1])
    vol = M.ssim_volumetric(restored, target)
    assert vol == pytest.approx(matlab_ssim(restored[..., 0], target[..., 0]), abs=1e-12)
    # ... but it is not the per-channel Wang SSIM: MATLAB pads ('same'), Wang crops ('valid')
    assert abs(vol - M.ssim_per_channel(restored, target)) > 0.01
    # interior windows never touch padding: there the two maps coincide
    x, y = restored.astype(np.float64), target.astype(np.float64)
    interior = M._matlab_ssim_volume_map(x, y, 255.0)[5:-5, 5:-5]
    assert np.allclose(interior, M._wang_ssim_valid_map(x, y, 255.0), atol=1e-12, rtol=0)


def test_ssim_volumetric_mixes_channels_on_colour():
    target = natural(30, 36)
    restored = noisy(target, 12)
    vol = M.ssim_volumetric(restored, target)
    per_channel_same = np.mean([matlab_ssim(restored[..., c], target[..., c]) for c in range(3)])
    assert abs(vol - per_channel_same) > 0.1  # not a border effect: the filter runs across R, G, B
    assert abs(vol - M.ssim_per_channel(restored, target)) > 0.1


# ------------------------------------------------------------------------- RealBlur


def test_alignment_recovers_a_known_homography(warped_pair):
    restored, target, hom = warped_pair
    h, w = target.shape[:2]
    alignment = M.align_realblur(restored, target)
    assert alignment.ecc_converged
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T

    def moved(t):
        p = t @ corners
        return p[:2] / p[2]

    assert np.abs(moved(alignment.warp) - moved(hom)).max() < 0.15  # pixels; measured 0.04
    assert M.psnr_aligned(restored, target) > M.psnr_rgb(restored, target) + 10  # measured 37.5 vs 20.1
    assert M.ssim_aligned(restored, target) > M.ssim_per_channel(restored, target) + 0.2


def test_realblur_inputs_are_scored_unaligned_as_the_official_script_does(warped_pair):
    """evaluation_RealBlur_ecc.py scores the blurred input with image_align commented out."""
    restored, target, _ = warped_pair
    # Without alignment, compute_psnr on [0, 1] floats is MATLAB's psnr on uint8: 10 log10(1 / mse).
    assert M.psnr_unaligned(restored, target) == pytest.approx(M.psnr_rgb(restored, target), abs=1e-9)
    assert M.psnr_unaligned(restored, target) < M.psnr_aligned(restored, target) - 10
    assert M.ssim_unaligned(target, target) == pytest.approx(1.0)
    assert M.ssim_unaligned(restored, target) < M.ssim_aligned(restored, target) - 0.2
    # No intensity match either: a uniformly darker copy is penalised unaligned, forgiven aligned.
    darker = (target.astype(np.float64) * 0.8).round().astype(np.uint8)
    assert M.psnr_unaligned(darker, target) < 25 < M.psnr_aligned(darker, target)
    assert M.PROTOCOLS[M.INPUT_PROTOCOL["realblur"]] == {"psnr": M.psnr_unaligned, "ssim": M.ssim_unaligned}


def test_realblur_scores_share_one_alignment(warped_pair):
    restored, target, _ = warped_pair
    first = M.align_realblur(restored, target)
    assert M.align_realblur(restored.copy(), target.copy()) is first  # keyed by content
    assert not first.restored.flags.writeable and not first.mask.flags.writeable
    assert M.realblur_scores(restored, target) == (M.psnr_aligned(restored, target),
                                                   M.ssim_aligned(restored, target))


def test_realblur_alignments_kept_are_the_last_four(warped_pair):
    """The alignments a PSNR and an SSIM of one image share are kept, a test set's worth is not: the oldest goes."""
    restored, target, _ = warped_pair
    restored, target = restored[:48, :48], target[:48, :48]  # small: six alignments
    pairs = [(np.roll(restored, shift, axis=1), target) for shift in range(M._ALIGN_CACHE_SIZE + 1)]
    first, *others = [M.align_realblur(r, t) for r, t in pairs]
    assert all(M.align_realblur(r, t) is a for (r, t), a in zip(pairs[1:], others))  # the last four: kept
    again = M.align_realblur(*pairs[0])  # the oldest was dropped: aligned anew, to the same result
    assert again is not first and np.array_equal(again.restored, first.restored)


def test_realblur_matches_the_official_float32_script(warped_pair):
    restored, target, _ = warped_pair
    psnr, ssim = M.realblur_scores(restored, target)
    ref_psnr, ref_ssim = official_realblur(restored, target)
    assert psnr == pytest.approx(ref_psnr, abs=1e-4)  # float64 here, float32 there
    assert ssim == pytest.approx(ref_ssim, abs=1e-5)


def test_aligned_scores_of_identical_images():
    image = natural(160, 200)
    psnr, ssim = M.realblur_scores(image, image)
    # ECC runs its 100 iterations even from the exact answer and drifts by ~1e-7 px, so the
    # official protocol gives a huge finite PSNR (or inf), which the set mean caps at 100 dB
    assert psnr >= M.PSNR_CAP
    assert M.mean_psnr([psnr]) == M.PSNR_CAP
    assert ssim == pytest.approx(1.0, abs=1e-6)


def test_ecc_failure_falls_back_to_identity_with_a_warning():
    target = natural(60, 80)
    restored = np.full_like(target, 128)  # a flat image: ECC raises "NaN encountered"
    with pytest.warns(M.AlignmentWarning, match="did not converge"):
        alignment = M.align_realblur(restored, target)
    assert not alignment.ecc_converged
    assert np.array_equal(alignment.warp, np.eye(3)) and alignment.mask.min() == 1.0
    x, z = target / 255.0, restored / 255.0
    zs = (np.sum(x * z) / np.sum(z * z)) * z  # the intensity match is kept
    expected = 10 * math.log10(1 / np.mean((x - zs) ** 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cached: no second ECC, no second warning
        assert M.psnr_aligned(restored, target) == pytest.approx(expected, abs=1e-4)  # float32 warp of zs


def test_float32_cubic_warp_is_exact_at_identity_float64_is_not():
    # why the RealBlur warp runs in float32: OpenCV 5.0.0's cubic remap of float64 images is wrong
    image = natural(40, 50).astype(np.float32) / 255
    eye = np.eye(3, dtype=np.float32)
    flags = cv2.INTER_CUBIC + cv2.WARP_INVERSE_MAP

    def warp(a):
        return cv2.warpPerspective(a, eye, (50, 40), flags=flags, borderMode=cv2.BORDER_REFLECT)

    assert np.array_equal(warp(image), image)
    if cv2.__version__ == "5.0.0":
        assert np.abs(warp(image.astype(np.float64)) - image).max() > 0.1


# --------------------------------------------------------------------- input checks


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "restored, target, message",
    [
        (np.zeros((16, 16, 3), np.float32), np.zeros((16, 16, 3), np.uint8), "restored must have dtype uint8"),
        (np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint16), "target must have dtype uint8"),
        (np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8),
         r"restored must be H x W x 3 .*got shape \(16, 16\)"),
        (np.zeros((16, 16, 4), np.uint8), np.zeros((16, 16, 4), np.uint8),
         r"restored must be H x W x 3 .*got shape \(16, 16, 4\)"),
        (np.zeros((16, 16, 3), np.uint8), np.zeros((16, 17, 3), np.uint8),
         r"restored and target differ in shape: \(16, 16, 3\) vs \(16, 17, 3\)"),
        ([[0, 0, 0]], np.zeros((16, 16, 3), np.uint8), "restored must be a numpy array .*got list"),
    ],
)
def test_bad_inputs_raise_a_clear_error(metric, restored, target, message):
    with pytest.raises(M.MetricInputError, match=f"{metric.__name__}: {message}") as info:
        metric(restored, target)
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("metric", [M.ssim_y, M.ssim_per_channel, M.ssim_aligned], ids=lambda f: f.__name__)
def test_valid_ssim_needs_an_11_by_11_window(metric):
    small = np.zeros((10, 40, 3), np.uint8)
    with pytest.raises(M.MetricInputError, match="at least 11 x 11 pixels.*got 10 x 40"):
        metric(small, small)


# -------------------------------------------------------------------- prenet protocol


def test_psnr_y_prenet_hand_computed():
    # white against black: Y differs by (65.481 + 128.553 + 24.966) / 255 = 219 / 255 everywhere; peak 1
    white, black = grey(np.full((4, 5), 255)), grey(np.zeros((4, 5)))
    assert M.psnr_y_prenet(white, black) == pytest.approx(10 * math.log10(1 / (219 / 255) ** 2), abs=1e-12)


def test_psnr_y_prenet_uses_unrounded_y_where_the_derain_protocol_rounds():
    # one level of red moves Y by 65.481 / 255 / 255 = 0.001007 (unrounded) but not its rounded value
    a, b = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    a[..., 0] = 1
    assert M.psnr_y(a, b) == math.inf
    assert M.psnr_y_prenet(a, b) == pytest.approx(10 * math.log10(1 / (65.481 / 255 / 255) ** 2), abs=1e-9)


def test_psnr_y_prenet_is_the_derain_psnr_shifted_only_by_y_rounding():
    # same images, same MSE definition: peak 1 on Y in [0, 1] equals peak 255 on Y x 255; the two
    # protocols differ by the rounding of Y alone (evaluation.md: about 0.06 dB on Rain100L).
    clean = natural()
    rainy = noisy(clean, 12)
    y1, y2 = y_float(rainy), y_float(clean)
    assert M.psnr_y_prenet(rainy, clean) == pytest.approx(psnr_of(y1, y2), abs=1e-9)
    assert M.psnr_y_prenet(rainy, clean) != pytest.approx(M.psnr_y(rainy, clean), abs=1e-3)


def test_ssim_downsample_factor_rounds_half_away_from_zero():
    assert M.ssim_downsample_factor(321, 481) == 1  # Rain100L: no downsampling
    assert M.ssim_downsample_factor(383, 500) == 1
    assert M.ssim_downsample_factor(384, 500) == 2  # 1.5 -> 2 (numpy's round would agree here)
    assert M.ssim_downsample_factor(640, 960) == 3  # 2.5 -> 3, where numpy's half-to-even gives 2
    assert M.ssim_downsample_factor(720, 1280) == 3


def test_box_downsample_hand_computed():
    a = np.arange(16, dtype=np.float64).reshape(4, 4)
    # f = 2: imfilter's even kernel covers (i, i+1); the last row/column reflect ('symmetric')
    np.testing.assert_allclose(M._box_downsample(a, 2), [[2.5, 4.5], [10.5, 12.5]])
    # f = 3, centred: rows -1 and 4 mirror rows 0 and 3 (edge value repeated, not skipped)
    b = np.arange(36, dtype=np.float64).reshape(6, 6)
    out = M._box_downsample(b, 3)
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(np.mean(b[[0, 0, 1]][:, [0, 0, 1]]))
    assert out[1, 1] == pytest.approx(np.mean(b[2:5, 2:5]))


def test_ssim_y_prenet_on_rain100l_size_is_wang_on_unrounded_y():
    clean = natural()
    rainy = noisy(clean, 12)
    expected = structural_similarity(y_float(rainy), y_float(clean), gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=255.0)
    # skimage crops the same 5-pixel border ('valid' windows) from a 'reflect' map: equal to ssim.m's 'valid'
    assert M.ssim_y_prenet(rainy, clean) == pytest.approx(expected, abs=1e-9)
    assert M.ssim_y_prenet(clean, clean) == pytest.approx(1.0, abs=1e-12)


def test_ssim_y_prenet_downsamples_large_images():
    big = np.ascontiguousarray(data.astronaut()[:400, :400])  # min side 400 -> f = 2
    worse = noisy(big, 20)
    x = M._box_downsample(y_float(worse), 2)
    y = M._box_downsample(y_float(big), 2)
    expected = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255.0)
    assert M.ssim_y_prenet(worse, big) == pytest.approx(expected, abs=1e-9)
    full = structural_similarity(y_float(worse), y_float(big), gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=255.0)
    assert abs(M.ssim_y_prenet(worse, big) - full) > 1e-3  # downsampling changes the score


# ------------------------------------------------------------------------ protocols


def test_protocols_map_columns_to_the_documented_functions():
    assert list(M.PROTOCOLS) == ["derain", "gopro", "realblur", "realblur-input", "prenet"]
    assert M.PROTOCOLS["prenet"] == {"psnr": M.psnr_y_prenet, "ssim": M.ssim_y_prenet}
    assert M.OUTPUT_ROUNDING == {"prenet": "truncate"}
    assert M.PROTOCOLS["derain"] == {"psnr": M.psnr_y, "ssim": M.ssim_y}
    assert list(M.PROTOCOLS["gopro"]) == ["psnr", "ssim", "ssim_per_channel"]
    assert M.PROTOCOLS["gopro"]["ssim"] is M.ssim_volumetric  # the published GoPro/HIDE tables: MATLAB ssim
    assert M.PROTOCOLS["gopro"]["ssim_per_channel"] is M.ssim_per_channel
    assert M.PROTOCOLS["realblur"] == {"psnr": M.psnr_aligned, "ssim": M.ssim_aligned}
    assert M.PROTOCOLS["realblur-input"] == {"psnr": M.psnr_unaligned, "ssim": M.ssim_unaligned}
