"""Reading any dataset image as 8-bit RGB, and writing PNGs atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hst.errors import DataError
from hst.fsutil import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# Modes converted by Pillow itself, and what the conversion is called in a report.
_CONVERTED = {
    "1": "1-bit",
    "L": "grayscale",
    "LA": "grayscale with alpha",
    "P": "palette",
    "PA": "palette with alpha",
    "RGBA": "RGBA (alpha dropped)",
    "RGBX": "RGBX",
}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")
_GRAY = ("1", "L", "LA", *_SIXTEEN_BIT)


def decode_image(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """Decode ``path`` to H x W x 3 uint8 RGB; also say which conversion, if any, was applied."""
    array, note, _ = _decode(path, orient=False)
    return array, note


def read_photo(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """A user's photo as H x W x 3 uint8 RGB turned upright by its EXIF orientation, and whether it was
    single-channel (grayscale, 1-bit or 16-bit grayscale, with or without alpha)."""
    array, _, gray = _decode(path, orient=True)
    return array, gray


def _decode(path: str | os.PathLike, orient: bool) -> tuple[np.ndarray, str | None, bool]:
    """:func:`decode_image`, optionally through the EXIF orientation, plus whether the image was gray.

    Datasets are read without orientation (``orient=False``): the published scores come from the
    stored pixel arrays (MATLAB's imread ignores the tag), and an input and its target must stay aligned.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            raw = im.tile[0].args if im.tile else None
            sixteen = isinstance(raw, str) and raw.endswith((";16B", ";16L", ";16"))
            im.load()
            gray = im.mode in _GRAY
            upright = ImageOps.exif_transpose(im) if orient else im
            array, note = _to_rgb(upright, path)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None
    if sixteen and im.mode in ("RGB", "RGBA"):
        note = "16-bit RGB converted to 8-bit" + (" (alpha dropped)" if im.mode == "RGBA" else "")
    return array, note, gray


def _to_rgb(im: Image.Image, path: Path) -> tuple[np.ndarray, str | None]:
    """The pixel conversion of :func:`decode_image` for an already loaded image."""
    if im.mode == "RGB":
        return np.asarray(im, dtype=np.uint8).copy(), None
    if im.mode in _CONVERTED:
        note = f"{_CONVERTED[im.mode]} converted to RGB"
        if im.mode in ("P", "PA"):  # through RGBA, so that a transparent palette entry converts too
            im = im.convert("RGBA")
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy(), note
    if im.mode in _SIXTEEN_BIT:
        gray = np.asarray(im).astype(np.int64)
        if gray.min() < 0 or gray.max() > 65535:
            raise DataError(f"{path}: 32-bit integer image with values outside 0..65535 is not supported")
        gray8 = (gray >> 8).astype(np.uint8)
        return np.repeat(gray8[..., None], 3, axis=2), "16-bit grayscale converted to 8-bit RGB"
    raise DataError(f"{path}: image mode {im.mode!r} is not supported (convert it to 8-bit RGB first)")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """H x W x 3 uint8 RGB of ``path``; grayscale, RGBA, palette and 16-bit are converted."""
    return decode_image(path)[0]


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an H x W x 3 (or H x W) uint8 array as PNG, atomically."""
    path = Path(path)
    array = np.asarray(array)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise DataError(f"{path}: write_png needs H x W x 3 or H x W uint8, got {array.dtype} {array.shape}")
    atomic_write(path, lambda fh: Image.fromarray(array).save(fh, format="PNG"), fsync=False)
