"""Synthetic twins of the registry sets, made offline and deterministically from scikit-image's sample images.

A twin has the real set's layout (``<root>/<SET>/{input,target}/``, paired PNGs) and a
``twin.json`` with its parameters. Rain twins add streaks to a clean crop (additive,
clipped); blur twins convolve it with a random-walk motion kernel; RealBlur twins also
warp it by a small random homography first, so input and target are misaligned by a few
pixels. The target is always the clean crop. The same seed gives byte-identical files
(with the same scikit-image, OpenCV and Pillow versions).
"""

from __future__ import annotations

import functools
import json
import os
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage
import skimage.data

from hst.data.atomic import staged_dir
from hst.fsutil import atomic_write_text
from hst.data.io import write_png
from hst.errors import DataError

TWIN_FILE = "twin.json"
# scikit-image sample images that ship with the package (no download); gray ones become RGB.
SOURCES = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
    "coins", "camera", "cat", "retina", "moon", "brick", "grass", "gravel",
)  # fmt: skip
TRAIN_COUNT, TEST_COUNT = 16, 6
TRAIN_SIZE, TEST_SIZE = (160, 160), (96, 128)  # height, width


@dataclass(frozen=True)
class RainParams:
    """Ranges that each streak layer draws from: density (share of pixels that seed a streak), angle
    from vertical (degrees), length (pixels), brightness (added intensity in [0, 1]), layers."""

    density: tuple[float, float]
    angle: tuple[float, float]
    length: tuple[int, int]
    brightness: tuple[float, float]
    layers: tuple[int, int]


RAIN = {
    "light": RainParams((0.001, 0.002), (-10.0, 10.0), (8, 16), (0.2, 0.4), (1, 1)),
    "medium": RainParams((0.002, 0.004), (-20.0, 20.0), (12, 24), (0.3, 0.5), (1, 2)),
    "heavy": RainParams((0.003, 0.006), (-30.0, 30.0), (20, 36), (0.3, 0.5), (2, 3)),
}


@dataclass(frozen=True)
class TwinSpec:
    """How a set's twin is made: ``kind`` rain / blur / realblur, the rain ``profile``, and file names."""

    kind: str
    split: str
    profile: str = ""
    naming: str = "number"

    def file_name(self, i: int) -> str:
        """The ``i``-th pair's file name, in the style of the real set."""
        if self.naming == "gopro":
            return f"GOPR{372 + i // 8:04d}_11_00_{i % 8 + 1:06d}.png"
        if self.naming == "scene":
            return f"scene{i // 4 + 1:03d}-{i % 4 + 1}.png"
        return f"{i + 1}.png"


TWINS = {
    "Rain13K": TwinSpec("rain", "train", "mixed"),
    "RainTrainH": TwinSpec("rain", "train", "heavy"),
    "Test100": TwinSpec("rain", "test", "mixed"),
    "Rain100H": TwinSpec("rain", "test", "heavy"),
    "Rain100L": TwinSpec("rain", "test", "light"),
    "Test2800": TwinSpec("rain", "test", "mixed"),
    "Test1200": TwinSpec("rain", "test", "mixed"),
    "GoPro-train": TwinSpec("blur", "train", naming="gopro"),
    "GoPro-test": TwinSpec("blur", "test", naming="gopro"),
    "HIDE": TwinSpec("blur", "test", naming="scene"),
    "RealBlur-R": TwinSpec("realblur", "test", naming="scene"),
    "RealBlur-J": TwinSpec("realblur", "test", naming="scene"),
}


@functools.cache
def _source(name: str) -> np.ndarray:
    """A scikit-image sample image as H x W x 3 uint8."""
    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def clean_crop(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, dict]:
    """A random scaled, cropped and maybe flipped sample image of ``size`` (height, width)."""
    name = SOURCES[rng.integers(len(SOURCES))]
    image = _source(name)
    h, w = size
    low = max(h / image.shape[0], w / image.shape[1])
    scale = float(rng.uniform(low, max(low, 1.0)))
    rh, rw = max(h, int(np.ceil(image.shape[0] * scale))), max(w, int(np.ceil(image.shape[1] * scale)))
    resized = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    y, x = int(rng.integers(rh - h + 1)), int(rng.integers(rw - w + 1))
    crop = resized[y : y + h, x : x + w]
    flip = bool(rng.integers(2))
    if flip:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop), {"source": name, "scale": round(scale, 6), "crop": [y, x], "flip": flip}


def _line_kernel(length: int, angle: float) -> np.ndarray:
    """An anti-aliased line of ``length`` pixels at ``angle`` degrees from vertical, peak 1."""
    size = length | 1
    canvas = np.zeros((size, size), np.uint8)
    c, r = size // 2, (length - 1) / 2
    dx, dy = r * np.sin(np.radians(angle)), r * np.cos(np.radians(angle))
    p0 = (round(c - dx), round(c - dy))
    p1 = (round(c + dx), round(c + dy))
    cv2.line(canvas, p0, p1, 255, 1, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255.0


def add_rain(clean: np.ndarray, rng: np.random.Generator, params: RainParams) -> tuple[np.ndarray, list[dict]]:
    """``clean`` plus rain streaks drawn from ``params`` (additive, clipped); returns (rainy, layers drawn)."""
    h, w = clean.shape[:2]
    rain = np.zeros((h, w), np.float32)
    layers = []
    for _ in range(int(rng.integers(params.layers[0], params.layers[1] + 1))):
        layer = {
            "density": round(float(rng.uniform(*params.density)), 6),
            "angle": round(float(rng.uniform(*params.angle)), 4),
            "length": int(rng.integers(params.length[0], params.length[1] + 1)),
            "brightness": round(float(rng.uniform(*params.brightness)), 4),
        }
        seeds = (rng.random((h, w)) < layer["density"]) * rng.uniform(0.5, 1.0, (h, w))
        kernel = _line_kernel(layer["length"], layer["angle"])
        streaks = cv2.filter2D(seeds.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
        streaks = cv2.GaussianBlur(streaks, (3, 3), 0.6)
        rain += layer["brightness"] * np.minimum(streaks, 1.0)
        layers.append(layer)
    rainy = np.clip(clean.astype(np.float32) / 255.0 + rain[..., None], 0.0, 1.0)
    return np.round(rainy * 255.0).astype(np.uint8), layers


def motion_kernel(rng: np.random.Generator, size: int, steps: int = 48) -> np.ndarray:
    """A random camera-shake kernel: a random walk of the heading, splatted bilinearly, summing to 1."""
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, 0.3, steps))
    speed = rng.uniform(0.5, 1.0, steps)
    path = np.cumsum(np.stack([np.cos(heading) * speed, np.sin(heading) * speed], axis=1), axis=0)
    path -= path.mean(axis=0)
    reach = rng.uniform(0.35, 1.0) * (size // 2 - 1)
    path *= reach / max(np.abs(path).max(), 1e-9)
    path += size // 2
    kernel = np.zeros((size, size), np.float64)
    x0, y0 = np.floor(path[:, 0]).astype(int), np.floor(path[:, 1]).astype(int)
    fx, fy = path[:, 0] - x0, path[:, 1] - y0
    for dy, dx, weight in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)), weight)
    return (kernel / kernel.sum()).astype(np.float32)


def add_blur(clean: np.ndarray, rng: np.random.Generator, kernel_size: int | None = None) -> tuple[np.ndarray, dict]:
    """``clean`` convolved with a random motion kernel (default size: 1/8 of the image, 7 to 35 px)."""
    size = kernel_size or min(35, max(7, min(clean.shape[:2]) // 8)) | 1
    kernel = motion_kernel(rng, size)
    blurred = cv2.filter2D(clean.astype(np.float32), -1, cv2.flip(kernel, -1), borderType=cv2.BORDER_REFLECT)
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8), {"kernel_size": size}


def random_homography(rng: np.random.Generator, size: tuple[int, int], shift: float = 3.0) -> np.ndarray:
    """A homography that moves each image corner by up to ``shift`` pixels."""
    h, w = size
    corners = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    moved = corners + rng.uniform(-shift, shift, (4, 2)).astype(np.float32)
    return cv2.getPerspectiveTransform(corners, moved)


def make_pair(spec: TwinSpec, rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    """One (input, target, parameters) of a twin."""
    clean, info = clean_crop(rng, size)
    if spec.kind == "rain":
        profile = spec.profile if spec.profile != "mixed" else str(rng.choice(list(RAIN)))
        degraded, layers = add_rain(clean, rng, RAIN[profile])
        return degraded, clean, {**info, "profile": profile, "layers": layers}
    moved = clean
    if spec.kind == "realblur":
        homography = random_homography(rng, size)
        moved = cv2.warpPerspective(clean, homography, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT)  # fmt: skip
        info["homography"] = np.round(homography, 8).tolist()
    degraded, blur = add_blur(moved, rng)
    return degraded, clean, {**info, **blur}


def make_twin(
    name: str,
    root: str | os.PathLike,
    *,
    count: int | None = None,
    size: tuple[int, int] | None = None,
    seed: int = 0,
) -> Path:
    """Write the twin of set ``name`` to ``<root>/<name>`` (replacing an older twin, never real data)."""
    if name not in TWINS:
        raise DataError(f"no synthetic twin for {name!r}; known: {', '.join(TWINS)}")
    spec = TWINS[name]
    count = count or (TRAIN_COUNT if spec.split == "train" else TEST_COUNT)
    size = tuple(size or (TRAIN_SIZE if spec.split == "train" else TEST_SIZE))
    if count < 1 or min(size) < 8:
        raise DataError(f"{name}: a twin needs count >= 1 and a size of at least 8x8, got {count} at {size}")
    dest = Path(root) / name
    # An empty folder is fine (a workflow manager may create an output's folder before the job).
    if dest.exists() and not (dest / TWIN_FILE).exists() and any(dest.iterdir()):
        raise DataError(f"{dest}: holds a set that is not a twin (no {TWIN_FILE}); refusing to overwrite it")

    def write_pair(tmp: Path, i: int) -> dict:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), i])
        degraded, clean, params = make_pair(spec, rng, size)
        file = spec.file_name(i)
        write_png(tmp / "input" / file, degraded)
        write_png(tmp / "target" / file, clean)
        return {"name": file, **params}

    with staged_dir(dest, replace=True) as tmp:
        with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:  # PNG encoding releases the GIL
            records = list(pool.map(lambda i: write_pair(tmp, i), range(count)))
        description = {
            "format": "hst-twin",
            "version": 1,
            "set": name,
            **asdict(spec),
            "seed": seed,
            "count": count,
            "size": list(size),
            "rain_profiles": {k: asdict(v) for k, v in RAIN.items()} if spec.kind == "rain" else None,
            "made_with": {"scikit-image": skimage.__version__, "opencv": cv2.__version__},
            "pairs": records,
        }
        atomic_write_text(tmp / TWIN_FILE, json.dumps(description, indent=1) + "\n")
    return dest


def make_twins(root: str | os.PathLike, names: Iterable[str] | None = None, **options) -> list[Path]:
    """Write the twins of ``names`` (all registry sets by default); ``options`` go to :func:`make_twin`."""
    return [make_twin(name, root, **options) for name in (names or TWINS)]


def twin_count(set_dir: str | os.PathLike) -> int | None:
    """The pair count a twin's ``twin.json`` declares, or None for a set that is not a twin."""
    path = Path(set_dir) / TWIN_FILE
    if not path.exists():
        return None
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["count"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a valid twin description ({exc})") from None
