"""PSNR and SSIM of the three evaluation protocols behind the paper's tables.

Every public metric has one signature, ``fn(restored, target) -> float``: both
arguments are H x W x 3 uint8 RGB arrays of the same shape (anything else raises
:class:`MetricInputError`, a :class:`~hst.errors.DataError` that is also a
``ValueError``), and the arithmetic is float64 (except where OpenCV needs float32,
see RealBlur). The protocols are those of ``shared/reference/evaluation.md``:

derain (Tables 3, 5, 6): :func:`psnr_y`, :func:`ssim_y`
    Y of MATLAB ``rgb2ycbcr`` on uint8, rounded to uint8 the MATLAB way (half away
    from zero, not numpy's half-to-even); PSNR over the whole image; Wang's 2003
    ``ssim_index.m`` (11x11 Gaussian, sigma 1.5, K = 0.01, 0.03, L = 255, 'valid'
    filtering, no down-sampling), the mean of the (H-10) x (W-10) map.

gopro (Table 4, GoPro and HIDE): :func:`psnr_rgb`, :func:`ssim_volumetric`, :func:`ssim_per_channel`
    MATLAB ``psnr`` on the uint8 RGB array. MATLAB's built-in ``ssim`` treats an
    H x W x 3 array as a volume; :func:`ssim_volumetric` reproduces it, and
    :func:`ssim_per_channel` is the mean of three per-channel Wang SSIMs, which is
    what most Python re-evaluations compute. Our reading of MATLAB's ``ssim.m``:
    R2014 (``imfilter(A, w, 'conv', 'replicate')`` with one 11x11x11 kernel
    ``exp(-(x^2+y^2+z^2)/(2*1.5^2))``, normalised) and R2021+ (three separable
    1-D kernels of size ``2*ceil(3*1.5)+1 = 11``, ``imfilter(..., 'replicate',
    'conv', 'same')``, variances clamped at 0) compute the same filter: a 3-D
    Gaussian, sigma 1.5 on every axis, 'replicate' padding on every axis
    (the channel axis too: with 3 channels the tap at offset +-1 reads the
    neighbouring channel and every farther tap reads the edge channel), 'same'
    output; SSIM is the mean of the whole H x W x 3 map, with L = 255 from uint8.
    Here: ``scipy.ndimage.gaussian_filter(sigma=1.5, radius=5, mode='nearest')``.
    Consequence (tested): on a grey image (R = G = B) the volumetric SSIM equals
    MATLAB's 2-D ``ssim`` of the grey plane (replicate-padded, 'same'), yet it still
    differs from :func:`ssim_per_channel`, whose Wang windows are 'valid'.

realblur (Table 4, RealBlur-R/J): :func:`psnr_aligned`, :func:`ssim_aligned`
    The official RealBlur script: images in [0, 1]; intensity match
    z' = (sum(x z) / sum(z z)) z; ``cv2.findTransformECC`` (homography, 100
    iterations, eps 0, gaussFiltSize 5) on grey images; ``warpPerspective``
    (cubic, inverse map, reflect border); mask = warp of ones (nearest, constant 0);
    PSNR over masked values; skimage SSIM map (Gaussian, sigma 1.5, population
    covariance, data_range 1) times the mask, 5-pixel border cropped, per channel
    sum(map) / sum(mask), channels averaged. The official script is float32
    throughout; here the scores are float64, while the ECC input and the cubic
    warp stay float32 (``cvtColor`` takes no float64, and OpenCV 5.0.0's cubic
    warp of float64 images is wrong: an identity warp moves values by up to 0.98).
    Against the official float32 script on ten warped/blurred/noisy 320 x 480
    pairs: |dPSNR| <= 7.4e-5 dB, |dSSIM| <= 1.5e-6.
    :func:`align_realblur` does the alignment once and keeps the last few results,
    so that scoring both columns aligns each pair once; :func:`realblur_scores`
    returns both numbers.

prenet (PReNet's own protocol, for reproducing its published figures): :func:`psnr_y_prenet`, :func:`ssim_y_prenet`
    Its MATLAB scripts (``statistic_rain100L.m``, ``psnr.m``, Wang's 2009 ``ssim.m``): Y of
    ``rgb2ycbcr`` on the DOUBLE image in [0, 1], not rounded; PSNR with peak 1 (``psnr.m``
    takes 2^8 - 1 only when the first image's maximum exceeds 2), MSE over every Y pixel;
    SSIM on Y x 255 with L = 255 and the "automatic downsampling": both images box-filtered
    (f x f, 'symmetric' padding, 'same') and subsampled by f = max(1, round(min(H, W) / 256))
    before the 'valid' 11x11 Gaussian windows (f = 1 for Rain100L's 481 x 321). Its test
    script saves outputs TRUNCATED to uint8 (``np.uint8(255 * out)``), not rounded:
    :data:`OUTPUT_ROUNDING` says so to the evaluation, which quantises before scoring.

Policies
--------
Identical images: a PSNR is +inf (as MATLAB's ``psnr`` and skimage give); the
    metrics return it unchanged. :func:`mean_psnr`, the set mean, clips every value
    at ``PSNR_CAP`` = 100 dB before averaging (MATLAB would report a mean of Inf, a
    number no table can use). 100 dB is a squared error of 1e-10 of the peak; uint8
    images that differ at all score at most 10 log10(255^2 N) dB (about 105 dB for
    one grey level in one value of a 481 x 321 x 3 image), so the clip only touches
    images that are identical or differ in a handful of values by one level. For
    the MATLAB protocols no published mean can be affected (MATLAB would have
    printed Inf); the RealBlur alignment of identical images gives ~160 dB or inf
    (ECC drifts by ~1e-7 px over its 100 iterations), also clipped to 100 dB.
ECC failure (``cv2.error``, e.g. a constant image: "NaN encountered"): the official
    script has no handler and would stop. Here the alignment falls back to the
    identity warp (the intensity match is kept, the mask is all ones) and an
    :class:`AlignmentWarning` names the image shape and OpenCV's message;
    ``RealBlurAlignment.ecc_converged`` is False. Escalate with
    ``warnings.simplefilter("error", AlignmentWarning)`` to get the official
    behaviour.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from hst.errors import DataError

__all__ = [
    "AlignmentWarning",
    "MetricInputError",
    "PROTOCOLS",
    "PSNR_CAP",
    "RealBlurAlignment",
    "align_realblur",
    "mean_psnr",
    "psnr_aligned",
    "psnr_rgb",
    "psnr_y",
    "psnr_y_prenet",
    "realblur_scores",
    "rgb_to_y",
    "ssim_aligned",
    "ssim_per_channel",
    "ssim_volumetric",
    "ssim_y",
    "ssim_y_prenet",
    "OUTPUT_ROUNDING",
]

PSNR_CAP = 100.0  # dB: the ceiling mean_psnr applies to each value (identical images give +inf)

_SIGMA = 1.5  # Gaussian window of every SSIM here
_RADIUS = 5  # = ceil(3 * 1.5) (MATLAB) = int(3.5 * 1.5 + 0.5) (skimage): an 11-tap window
_WINDOW = 2 * _RADIUS + 1
_K1, _K2 = 0.01, 0.03

# MATLAB rgb2ycbcr, uint8 input: T = (1/255) * [65.481 128.553 24.966], offset 16,
# evaluated by imlincomb as ((T1 R + T2 G) + T3 B) + 16 in double, then rounded.
_Y_COEFFS = tuple((1.0 / 255.0) * c for c in (65.481, 128.553, 24.966))
_Y_OFFSET = 16.0


class MetricInputError(DataError, ValueError):
    """Images a metric cannot score: wrong type, dtype, shape, or too small."""


class AlignmentWarning(RuntimeWarning):
    """RealBlur's ECC alignment did not converge; the identity warp was used instead."""


# ----------------------------------------------------------------------------- input


def _check_image(image: object, name: str, metric: str) -> None:
    """Raise MetricInputError unless `image` is an H x W x 3 uint8 array."""
    if not isinstance(image, np.ndarray):
        raise MetricInputError(
            f"{metric}: {name} must be a numpy array (H x W x 3 uint8 RGB), got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise MetricInputError(f"{metric}: {name} must have dtype uint8 (H x W x 3 RGB in 0..255), got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise MetricInputError(f"{metric}: {name} must be H x W x 3 (RGB, channels last), got shape {image.shape}")
    if image.size == 0:
        raise MetricInputError(f"{metric}: {name} is empty, shape {image.shape}")


def _check_pair(restored: object, target: object, metric: str, min_side: int = 1) -> None:
    """Raise MetricInputError unless both are equal-shape H x W x 3 uint8 arrays, H, W >= min_side."""
    _check_image(restored, "restored", metric)
    _check_image(target, "target", metric)
    assert isinstance(restored, np.ndarray) and isinstance(target, np.ndarray)  # for type checkers
    if restored.shape != target.shape:
        raise MetricInputError(f"{metric}: restored and target differ in shape: {restored.shape} vs {target.shape}")
    h, w = target.shape[:2]
    if h < min_side or w < min_side:
        raise MetricInputError(
            f"{metric}: needs images of at least {min_side} x {min_side} pixels (an 11 x 11 SSIM window), "
            f"got {h} x {w}"
        )


def _matlab_round(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, as MATLAB's round and its cast to integer types do."""
    a = np.abs(x)
    f = np.floor(a)
    return np.copysign(f + (a - f >= 0.5), x)


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Y of MATLAB rgb2ycbcr on a uint8 RGB image (rounded to [16, 235]), as float64 H x W."""
    _check_image(image, "image", "rgb_to_y")
    rgb = image.astype(np.float64)
    y = _Y_COEFFS[0] * rgb[..., 0] + _Y_COEFFS[1] * rgb[..., 1]
    y = y + _Y_COEFFS[2] * rgb[..., 2]
    return _matlab_round(y + _Y_OFFSET)


# ------------------------------------------------------------------------ primitives


def _psnr_from_mse(mse: float, peak: float) -> float:
    """10 log10(peak^2 / mse); +inf for mse == 0."""
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak * peak / mse))


def _gaussian(image: np.ndarray, axes: tuple[int, ...], mode: str) -> np.ndarray:
    """Normalised 11-tap Gaussian (sigma 1.5) along `axes`, 'same' size, padded by `mode`."""
    from scipy import ndimage

    return ndimage.gaussian_filter(image, sigma=_SIGMA, radius=_RADIUS, mode=mode, axes=axes)


def _ssim_map(x: np.ndarray, y: np.ndarray, peak: float, filt: Callable[[np.ndarray], np.ndarray],
              clamp_variance: bool = False) -> np.ndarray:
    """Wang et al. (2004) eq. 13 map, local statistics from the linear filter `filt`."""
    c1, c2 = (_K1 * peak) ** 2, (_K2 * peak) ** 2
    mu_x, mu_y = filt(x), filt(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = filt(x * x) - mu_xx
    var_y = filt(y * y) - mu_yy
    if clamp_variance:  # MATLAB R2021+ does this; R2014 and Wang's code do not (a ~1e-12 effect)
        var_x, var_y = np.maximum(var_x, 0.0), np.maximum(var_y, 0.0)
    cov = filt(x * y) - mu_xy
    return ((2 * mu_xy + c1) * (2 * cov + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))


def _wang_ssim_valid_map(x: np.ndarray, y: np.ndarray, peak: float) -> np.ndarray:
    """Wang's ssim_index map, 'valid' part only: (H-10) x (W-10)[ x C] (2-D filter per channel)."""
    full = _ssim_map(x, y, peak, lambda a: _gaussian(a, (0, 1), "reflect"))
    return full[_RADIUS:-_RADIUS, _RADIUS:-_RADIUS]  # windows that never touch the padding


def _matlab_ssim_volume_map(x: np.ndarray, y: np.ndarray, peak: float) -> np.ndarray:
    """MATLAB ssim map of an H x W x 3 volume: 3-D Gaussian, 'replicate' padding, 'same' size."""
    return _ssim_map(x, y, peak, lambda a: _gaussian(a, (0, 1, 2), "nearest"), clamp_variance=True)


# ------------------------------------------------------------------- derain protocol


def psnr_y(restored: np.ndarray, target: np.ndarray) -> float:
    """Deraining PSNR: 20 log10(255 / RMSE) on MATLAB-rounded rgb2ycbcr Y, whole image (evaluation.md)."""
    _check_pair(restored, target, "psnr_y")
    diff = rgb_to_y(restored) - rgb_to_y(target)
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else float(20.0 * np.log10(255.0 / np.sqrt(mse)))


def ssim_y(restored: np.ndarray, target: np.ndarray) -> float:
    """Deraining SSIM: Wang's ssim_index (11x11 Gaussian 1.5, L 255, 'valid') on rounded Y (evaluation.md)."""
    _check_pair(restored, target, "ssim_y", min_side=_WINDOW)
    return float(np.mean(_wang_ssim_valid_map(rgb_to_y(restored), rgb_to_y(target), 255.0)))


# -------------------------------------------------------------------- prenet protocol


def _y_double(image: np.ndarray) -> np.ndarray:
    """Y of MATLAB rgb2ycbcr on im2double(image): ((T1 R + T2 G) + T3 B) + 16/255, in [0, 1], unrounded."""
    rgb = image.astype(np.float64) / 255.0
    y = _Y_COEFFS[0] * rgb[..., 0] + _Y_COEFFS[1] * rgb[..., 1]
    return (y + _Y_COEFFS[2] * rgb[..., 2]) + _Y_OFFSET / 255.0


def _box_downsample(image: np.ndarray, f: int) -> np.ndarray:
    """Wang's ssim.m: imfilter(img, ones(f)/f^2, 'symmetric', 'same'), then img(1:f:end, 1:f:end)."""
    if f == 1:
        return image
    before = (f - 1) // 2  # imfilter's centre of an even kernel is floor((f + 1) / 2), 1-based
    padded = np.pad(image, ((before, f - 1 - before),) * 2, mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (f, f))
    return windows.mean(axis=(2, 3))[::f, ::f]


def ssim_downsample_factor(height: int, width: int) -> int:
    """f = max(1, round(min(H, W) / 256)), MATLAB's round (half away from zero)."""
    return max(1, int(_matlab_round(np.array(min(height, width) / 256.0))))


def psnr_y_prenet(restored: np.ndarray, target: np.ndarray) -> float:
    """PReNet's PSNR: psnr.m on unrounded Y of the double image, peak 1 (module doc)."""
    _check_pair(restored, target, "psnr_y_prenet")
    x, y = _y_double(restored), _y_double(target)
    peak = 255.0 if x.max() > 2 else 1.0  # psnr.m's k = 8 branch: never taken for Y in [0, 1]
    diff = x - y
    return _psnr_from_mse(float(np.sum(diff * diff) / diff.size), peak)


def ssim_y_prenet(restored: np.ndarray, target: np.ndarray) -> float:
    """PReNet's SSIM: Wang's 2009 ssim.m on Y x 255 with its automatic downsampling (module doc)."""
    _check_pair(restored, target, "ssim_y_prenet", min_side=_WINDOW)
    f = ssim_downsample_factor(*target.shape[:2])
    x = _box_downsample(_y_double(restored) * 255.0, f)
    y = _box_downsample(_y_double(target) * 255.0, f)
    if min(x.shape) < _WINDOW:
        raise MetricInputError(f"ssim_y_prenet: {target.shape[0]} x {target.shape[1]} downsampled by {f} is "
                               f"smaller than the 11 x 11 window")
    return float(np.mean(_wang_ssim_valid_map(x, y, 255.0)))


# -------------------------------------------------------------------- gopro protocol


def psnr_rgb(restored: np.ndarray, target: np.ndarray) -> float:
    """GoPro/HIDE PSNR: MATLAB psnr on uint8 RGB, 10 log10(255^2 / MSE) over all values (evaluation.md)."""
    _check_pair(restored, target, "psnr_rgb")
    diff = restored.astype(np.float64) - target.astype(np.float64)
    return _psnr_from_mse(float(np.mean(diff * diff)), 255.0)


def ssim_volumetric(restored: np.ndarray, target: np.ndarray) -> float:
    """GoPro/HIDE SSIM as MATLAB's built-in ssim on H x W x 3: 3-D Gaussian 1.5, replicate, 'same' (module doc)."""
    _check_pair(restored, target, "ssim_volumetric")
    x, y = restored.astype(np.float64), target.astype(np.float64)
    return float(np.mean(_matlab_ssim_volume_map(x, y, 255.0)))


def ssim_per_channel(restored: np.ndarray, target: np.ndarray) -> float:
    """GoPro/HIDE alternative: mean of Wang's 'valid' SSIM over R, G and B (evaluation.md)."""
    _check_pair(restored, target, "ssim_per_channel", min_side=_WINDOW)
    x, y = restored.astype(np.float64), target.astype(np.float64)
    return float(np.mean(_wang_ssim_valid_map(x, y, 255.0)))


# ----------------------------------------------------------------- realblur protocol


class RealBlurAlignment(NamedTuple):
    """One pair after the official RealBlur alignment (float64, read-only arrays)."""

    restored: np.ndarray  # intensity-matched, warped onto the target, times mask; H x W x 3 in ~[0, 1]
    target: np.ndarray  # target / 255 times mask; H x W x 3
    mask: np.ndarray  # 1 where the warp sampled inside the restored image, else 0; H x W x 3
    warp: np.ndarray  # 3 x 3 homography, used with WARP_INVERSE_MAP: aligned(p) = restored(warp p)
    ecc_converged: bool  # False: ECC raised, the identity warp was used (AlignmentWarning issued)


_ECC_ITERATIONS, _ECC_EPS = 100, 0  # ECC stops after 100 iterations (or at eps 0)
_ALIGN_CACHE: OrderedDict[tuple, RealBlurAlignment] = OrderedDict()
_ALIGN_CACHE_SIZE = 4
_ALIGN_LOCK = threading.Lock()


def _align(restored: np.ndarray, target: np.ndarray) -> RealBlurAlignment:
    """The official RealBlur image_align(), float64 except the float32 ECC input and cubic warp."""
    import cv2  # here, not at import: a study or a table reads the protocols' names, not OpenCV

    x = target.astype(np.float64) / 255.0
    z = restored.astype(np.float64) / 255.0
    zz = np.sum(z * z)
    zs = (np.sum(x * z) / zz) * z if zz > 0 else z  # an all-black z stays black under any scale
    zs32 = zs.astype(np.float32)
    warp = np.eye(3, dtype=np.float32)
    converged = True
    try:
        _, warp = cv2.findTransformECC(
            cv2.cvtColor(x.astype(np.float32), cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(zs32, cv2.COLOR_RGB2GRAY),
            warp, cv2.MOTION_HOMOGRAPHY,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, _ECC_ITERATIONS, _ECC_EPS), None, 5,
        )
    except cv2.error as exc:
        converged = False
        warp = np.eye(3, dtype=np.float32)
        message = " ".join(str(exc).split())
        warnings.warn(
            f"RealBlur alignment: ECC did not converge on a {target.shape[0]} x {target.shape[1]} pair "
            f"({message}); scoring it with the identity warp",
            AlignmentWarning,
            stacklevel=3,
        )
    size = (target.shape[1], target.shape[0])
    zr = cv2.warpPerspective(zs32, warp, size, flags=cv2.INTER_CUBIC + cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT).astype(np.float64)
    mask = cv2.warpPerspective(np.ones_like(zs32), warp, size, flags=cv2.INTER_NEAREST + cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float64)
    arrays = (zr * mask, x * mask, mask, warp.astype(np.float64))
    for a in arrays:
        a.setflags(write=False)
    return RealBlurAlignment(*arrays, converged)


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest()


def align_realblur(restored: np.ndarray, target: np.ndarray) -> RealBlurAlignment:
    """Official RealBlur alignment of restored onto target (module doc); the last 4 results are kept."""
    _check_pair(restored, target, "align_realblur")
    key = (restored.shape, _digest(restored), _digest(target))
    with _ALIGN_LOCK:
        hit = _ALIGN_CACHE.get(key)
        if hit is not None:
            _ALIGN_CACHE.move_to_end(key)
            return hit
    result = _align(restored, target)
    with _ALIGN_LOCK:
        _ALIGN_CACHE[key] = result
        while len(_ALIGN_CACHE) > _ALIGN_CACHE_SIZE:
            _ALIGN_CACHE.popitem(last=False)
    return result


def _aligned_psnr(a: RealBlurAlignment) -> float:
    """Official compute_psnr: 10 log10(1 / (sum((x - z')^2) / sum(mask)))."""
    diff = a.target - a.restored
    return _psnr_from_mse(float(np.sum(diff * diff) / np.sum(a.mask)), 1.0)


def _aligned_ssim(a: RealBlurAlignment) -> float:
    """Official compute_ssim: skimage map times mask, 5-pixel border cropped, per-channel sum ratio, mean."""
    from skimage.metrics import structural_similarity

    _, ssim_map = structural_similarity(
        a.target, a.restored, channel_axis=2, gaussian_weights=True, sigma=_SIGMA,
        use_sample_covariance=False, data_range=1.0, full=True,
    )
    inner = (slice(_RADIUS, -_RADIUS), slice(_RADIUS, -_RADIUS))
    masked = (ssim_map * a.mask)[inner]
    per_channel = masked.sum(axis=(0, 1)) / a.mask[inner].sum(axis=(0, 1))
    return float(np.mean(per_channel))


def psnr_aligned(restored: np.ndarray, target: np.ndarray) -> float:
    """RealBlur PSNR: official script, ECC-aligned and masked (evaluation.md)."""
    _check_pair(restored, target, "psnr_aligned")
    return _aligned_psnr(align_realblur(restored, target))


def ssim_aligned(restored: np.ndarray, target: np.ndarray) -> float:
    """RealBlur SSIM: official script, ECC-aligned, masked, border-cropped skimage SSIM (evaluation.md)."""
    _check_pair(restored, target, "ssim_aligned", min_side=_WINDOW)
    return _aligned_ssim(align_realblur(restored, target))


def _unaligned(restored: np.ndarray, target: np.ndarray) -> RealBlurAlignment:
    """The pair as the official script sees it with its image_align call commented out: no intensity
    match, identity warp, every pixel valid."""
    arrays = (restored.astype(np.float64) / 255.0, target.astype(np.float64) / 255.0,
              np.ones(target.shape, np.float64), np.eye(3))
    return RealBlurAlignment(*arrays, True)


def psnr_unaligned(restored: np.ndarray, target: np.ndarray) -> float:
    """RealBlur degraded-input PSNR: the official compute_psnr without alignment (evaluation.md)."""
    _check_pair(restored, target, "psnr_unaligned")
    return _aligned_psnr(_unaligned(restored, target))


def ssim_unaligned(restored: np.ndarray, target: np.ndarray) -> float:
    """RealBlur degraded-input SSIM: the official compute_ssim without alignment (the script reports
    none for inputs; the same formula, for the table's input row)."""
    _check_pair(restored, target, "ssim_unaligned", min_side=_WINDOW)
    return _aligned_ssim(_unaligned(restored, target))


def realblur_scores(restored: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """RealBlur (PSNR, SSIM) from one alignment: (psnr_aligned, ssim_aligned) at the cost of one ECC."""
    _check_pair(restored, target, "realblur_scores", min_side=_WINDOW)
    alignment = align_realblur(restored, target)
    return _aligned_psnr(alignment), _aligned_ssim(alignment)


# ------------------------------------------------------------------------- set means


def mean_psnr(values: Iterable[float]) -> float:
    """Set mean of PSNRs, each clipped at PSNR_CAP (so identical images count as 100 dB; module doc)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_psnr: no values to average")
    if np.isnan(v).any():
        raise ValueError(f"mean_psnr: {int(np.isnan(v).sum())} of {v.size} values are NaN")
    return float(np.mean(np.minimum(v, PSNR_CAP)))


# ------------------------------------------------------------------------ protocols

Metric = Callable[[np.ndarray, np.ndarray], float]

PROTOCOLS: dict[str, dict[str, Metric]] = {
    "derain": {"psnr": psnr_y, "ssim": ssim_y},
    # GoPro and HIDE. The tables' "ssim" column is the volumetric one, because the
    # published GoPro/HIDE numbers were computed with MATLAB's built-in ssim on the
    # RGB array; the per-channel mean is kept alongside, named, for comparison.
    "gopro": {"psnr": psnr_rgb, "ssim": ssim_volumetric, "ssim_per_channel": ssim_per_channel},
    # RealBlur-R and RealBlur-J. Both columns share one cached alignment per pair.
    "realblur": {"psnr": psnr_aligned, "ssim": ssim_aligned},
    # RealBlur's degraded inputs: the official script scores them without alignment
    # (its image_align call is commented out) and aligns only restorations.
    "realblur-input": {"psnr": psnr_unaligned, "ssim": ssim_unaligned},
    # PReNet's own scripts (its published Rain100H / Rain100L figures): not the tables' protocol.
    "prenet": {"psnr": psnr_y_prenet, "ssim": ssim_y_prenet},
}
# The protocol that scores a set's degraded inputs, where it differs from the restorations'.
INPUT_PROTOCOL = {"realblur": "realblur-input"}
# How an evaluation turns a float output into the uint8 image it saves and scores: "round"
# (half up, MATLAB's im2uint8) unless the protocol's own test script did otherwise, or, under a protocol
# without a rule here, the architecture's release did (hst.models.Arch.output_rounding: DMPHN truncates).
OUTPUT_ROUNDING = {"prenet": "truncate"}  # PReNet's test_PReNet.py: np.uint8(255 * out)
# The protocols a restoration is scored with (`--protocol`): every one but those of degraded inputs only.
PROTOCOL_NAMES = tuple(p for p in PROTOCOLS if p not in INPUT_PROTOCOL.values())
