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
# Says "this folder is a twin that `hst data synth` may replace". Not twin.json: that one is the
# pipeline's output, and Snakemake deletes an output before it runs the job again.
TWIN_MARKER = ".hst-twin"


def is_twin(set_dir: Path) -> bool:
    """True for a folder that ``hst data synth`` wrote (its twin.json, or its own marker when a workflow
    manager removed twin.json before rerunning the rule)."""
    return (set_dir / TWIN_FILE).exists() or (set_dir / TWIN_MARKER).exists()


# scikit-image sample images that ship with the package (no download); gray ones become RGB.
# Training and test twins are cut from disjoint images, so that a test score is restoration, not
# memory of a scene. Our split: each test image has a training image of its kind (a person, a cat,
# space, a medical/microscope image, a texture) and both sides hold gray and colour images.
TRAIN_SOURCES = (
    "astronaut", "chelsea", "coffee", "rocket", "coins",
    "hubble_deep_field", "immunohistochemistry", "brick", "grass",
)  # fmt: skip
TEST_SOURCES = ("camera", "cat", "moon", "retina", "gravel")
SOURCES = TRAIN_SOURCES + TEST_SOURCES
TRAIN_COUNT, TEST_COUNT = 16, 6
TRAIN_SIZE, TEST_SIZE = (160, 160), (96, 128)  # height, width


@dataclass(frozen=True)
class RainParams:
    """Ranges that each streak layer draws from: density (share of pixels that seed a streak), angle
    from vertical (degrees), length (pixels), brightness (added intensity in [0, 1]), width (Gaussian
    sigma of the streak's cross-section, pixels), layers per image."""

    density: tuple[float, float]
    angle: tuple[float, float]
    length: tuple[int, int]
    brightness: tuple[float, float]
    width: tuple[float, float]
    layers: tuple[int, int]


# One rain profile per test set; a training twin draws each pair from the profiles of the test
# sets it is scored on (Rain13K: all five; RainTrainH: Rain100H's). Calibrated so that each test
# twin's input scores near the real set's input (CALIBRATION); measured figures in twin.json.
# Streaks only: a rain-accumulation veil (Yang et al.'s alpha) in some profiles taught the short
# CPU trainings to darken every image, light rain included (docs/default-recipe.md).
RAIN = {
    "Rain100L": RainParams((0.0018, 0.0032), (-10.0, 10.0), (10, 20), (0.3, 0.45), (0.5, 0.7), (1, 1)),
    "Rain100H": RainParams((0.003, 0.005), (-30.0, 30.0), (20, 40), (0.3, 0.5), (0.8, 1.2), (2, 3)),
    "Test100": RainParams((0.002, 0.004), (-25.0, 25.0), (15, 30), (0.3, 0.5), (0.6, 0.9), (1, 2)),
    "Test2800": RainParams((0.0015, 0.003), (-20.0, 20.0), (12, 26), (0.3, 0.5), (0.5, 0.8), (1, 2)),
    "Test1200": RainParams((0.0015, 0.004), (-25.0, 25.0), (12, 30), (0.3, 0.5), (0.6, 0.9), (1, 2)),
}
# Camera-shake kernels: sizes in pixels, whatever the image size, the same for the training and
# test twins of a task. Our choice: 7-19 px, the smaller half of real camera shake (Levin et al.'s
# recorded kernels, CVPR 2009, are 13-27 px); with 13-27 px the default study's CPU budget did not
# learn to deblur (docs/default-recipe.md).
BLUR_KERNEL_PX = (7, 19)

# What each test twin's degraded input should score with its set's protocol: the real set's
# published input row where one exists (datasets.md: VRGNet, CVPR 2021, Table 3, reproduced on
# the real pairs by `hst score --inputs`); elsewhere no target, only the field's order
# (heavy rain < mixed < light rain).
CALIBRATION = {
    "Rain100L": {"psnr": 26.90, "ssim": 0.838, "source": "published input row (VRGNet, CVPR 2021, Table 3; datasets.md)"},
    "Rain100H": {"psnr": 13.56, "ssim": 0.371, "source": "published input row (VRGNet, CVPR 2021, Table 3; datasets.md)"},
}
NO_TARGET = {
    "rain": "no published input row: between Rain100H's and Rain100L's (the field's order heavy < mixed < light)",
    "blur": f"no published input row: camera-shake kernels of {BLUR_KERNEL_PX[0]}-{BLUR_KERNEL_PX[1]} px",
    "realblur": f"no published input row: camera-shake kernels of {BLUR_KERNEL_PX[0]}-{BLUR_KERNEL_PX[1]} px"
                " and a misalignment of up to 3 px, scored unaligned (as the official script scores inputs)",
}


@dataclass(frozen=True)
class TwinSpec:
    """How a set's twin is made: ``kind`` rain / blur / realblur, the rain ``profiles`` it draws from
    (one per pair, uniformly), and file names."""

    kind: str
    split: str
    profiles: tuple[str, ...] = ()
    naming: str = "number"

    @property
    def sources(self) -> tuple[str, ...]:
        """The sample images this twin's crops come from: its split's side of the disjoint split."""
        return TRAIN_SOURCES if self.split == "train" else TEST_SOURCES

    def file_name(self, i: int) -> str:
        """The ``i``-th pair's file name, in the style of the real set."""
        if self.naming == "gopro":
            return f"GOPR{372 + i // 8:04d}_11_00_{i % 8 + 1:06d}.png"
        if self.naming == "scene":
            return f"scene{i // 4 + 1:03d}-{i % 4 + 1}.png"
        return f"{i + 1}.png"


TWINS = {
    "Rain13K": TwinSpec("rain", "train", tuple(RAIN)),
    "RainTrainH": TwinSpec("rain", "train", ("Rain100H",)),
    **{name: TwinSpec("rain", "test", (name,)) for name in RAIN},
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


def clean_crop(rng: np.random.Generator, size: tuple[int, int], sources: tuple[str, ...] = SOURCES) -> tuple[np.ndarray, dict]:
    """A random scaled, cropped and maybe flipped crop of one of ``sources`` of ``size`` (height, width)."""
    name = sources[rng.integers(len(sources))]
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


def _line_kernel(length: int, angle: float, width: float) -> np.ndarray:
    """A line of ``length`` pixels at ``angle`` degrees from vertical, with a Gaussian cross-section of
    sigma ``width`` pixels, peak 1."""
    size = (length | 1) + 2 * int(np.ceil(2 * width))
    canvas = np.zeros((size, size), np.float32)
    c, r = size // 2, (length - 1) / 2
    dx, dy = r * np.sin(np.radians(angle)), r * np.cos(np.radians(angle))
    cv2.line(canvas, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    canvas = cv2.GaussianBlur(canvas, (0, 0), width)
    return canvas / float(canvas.max())


def add_rain(clean: np.ndarray, rng: np.random.Generator, params: RainParams) -> tuple[np.ndarray, dict]:
    """``clean`` plus the streak layers drawn from ``params`` (additive, clipped); returns (rainy, what was drawn)."""
    h, w = clean.shape[:2]
    rain = np.zeros((h, w), np.float32)
    layers = []
    for _ in range(int(rng.integers(params.layers[0], params.layers[1] + 1))):
        layer = {
            "density": round(float(rng.uniform(*params.density)), 6),
            "angle": round(float(rng.uniform(*params.angle)), 4),
            "length": int(rng.integers(params.length[0], params.length[1] + 1)),
            "brightness": round(float(rng.uniform(*params.brightness)), 4),
            "width": round(float(rng.uniform(*params.width)), 4),
        }
        seeds = (rng.random((h, w)) < layer["density"]) * rng.uniform(0.5, 1.0, (h, w))
        kernel = _line_kernel(layer["length"], layer["angle"], layer["width"])
        streaks = cv2.filter2D(seeds.astype(np.float32), -1, kernel, borderType=cv2.BORDER_REFLECT)
        rain += layer["brightness"] * np.minimum(streaks, 1.0)
        layers.append(layer)
    rainy = np.clip(clean.astype(np.float32) / 255.0 + rain[..., None], 0.0, 1.0)
    return np.round(rainy * 255.0).astype(np.uint8), {"layers": layers}


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


def add_blur(clean: np.ndarray, rng: np.random.Generator, kernel_px: tuple[int, int] = BLUR_KERNEL_PX) -> tuple[np.ndarray, dict]:
    """``clean`` convolved with a random motion kernel of an odd size drawn from ``kernel_px`` pixels."""
    size = int(rng.integers(kernel_px[0] // 2, kernel_px[1] // 2 + 1)) * 2 + 1
    kernel = motion_kernel(rng, size)
    blurred = cv2.filter2D(clean.astype(np.float32), -1, cv2.flip(kernel, -1), borderType=cv2.BORDER_REFLECT)
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8), {"kernel_size": size}


def random_homography(rng: np.random.Generator, size: tuple[int, int], shift: float = 3.0) -> np.ndarray:
    """A homography that moves each image corner by up to ``shift`` pixels."""
    h, w = size
    corners = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    moved = corners + rng.uniform(-shift, shift, (4, 2)).astype(np.float32)
    return cv2.getPerspectiveTransform(corners, moved)


# A blur twin's pair must be blurred: real motion-blur frames (GoPro, HIDE, RealBlur) are textured
# scenes whose blurred inputs score far below their targets, while a crop of dark sky, a black
# background or smooth fur under a short kernel scores 37-44 dB as its own blurred input, and a short
# training's small artefacts there decide a set's mean PSNR (measured: one such pair lost 1.0-1.1 dB
# while the other nine gained). Our choice: a pair whose blur leaves it within BLURRED_PSNR dB of its
# (aligned) target is redrawn, crop and kernel, at most BLUR_DRAWS times in all.
BLURRED_PSNR, BLUR_DRAWS = 35.0, 20


def make_pair(spec: TwinSpec, rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict]:
    """One (input, target, parameters) of a twin."""
    from hst.metrics.protocols import psnr_rgb

    sources = spec.sources
    if spec.kind == "rain":
        clean, info = clean_crop(rng, size, sources)
        profile = spec.profiles[int(rng.integers(len(spec.profiles)))] if len(spec.profiles) > 1 else spec.profiles[0]
        degraded, rain = add_rain(clean, rng, RAIN[profile])
        return degraded, clean, {**info, "profile": profile, **rain}
    for draw in range(1, BLUR_DRAWS + 1):
        clean, info = clean_crop(rng, size, sources)
        moved = clean
        if spec.kind == "realblur":
            homography = random_homography(rng, size)
            moved = cv2.warpPerspective(clean, homography, (size[1], size[0]), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REFLECT)  # fmt: skip
            info["homography"] = np.round(homography, 8).tolist()
        degraded, blur = add_blur(moved, rng)
        if psnr_rgb(degraded, moved) <= BLURRED_PSNR:
            break
    return degraded, clean, {**info, **blur, "draws": draw}  # draws: pairs drawn until one was blurred


def input_scores(spec: TwinSpec, degraded: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """The degraded input scored against its target with the protocol that scores the real set's inputs."""
    from hst.metrics.protocols import INPUT_PROTOCOL, PROTOCOLS

    protocol = {"rain": "derain", "blur": "gopro", "realblur": "realblur"}[spec.kind]
    metrics = PROTOCOLS[INPUT_PROTOCOL.get(protocol, protocol)]
    return {key: round(float(metrics[key](degraded, clean)), 4) for key in ("psnr", "ssim")}


def calibration(name: str, spec: TwinSpec, records: list[dict]) -> dict:
    """What the twin's inputs score (set means) beside the real set's input row, and where that comes from."""
    from hst.metrics.protocols import mean_psnr

    target = CALIBRATION.get(name, {})
    return {
        "input_psnr": round(mean_psnr(r["input_scores"]["psnr"] for r in records), 2),
        "input_ssim": round(float(np.mean([r["input_scores"]["ssim"] for r in records])), 3),
        "target_psnr": target.get("psnr"),
        "target_ssim": target.get("ssim"),
        "target_source": target.get("source") or NO_TARGET[spec.kind],
    }


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
    if dest.exists() and not is_twin(dest) and any(dest.iterdir()):
        raise DataError(f"{dest}: holds a set that is not a twin (no {TWIN_FILE}); refusing to overwrite it")

    def write_pair(tmp: Path, i: int) -> dict:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), i])
        degraded, clean, params = make_pair(spec, rng, size)
        file = spec.file_name(i)
        write_png(tmp / "input" / file, degraded)
        write_png(tmp / "target" / file, clean)
        return {"name": file, **params, "input_scores": input_scores(spec, degraded, clean)}

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
            "sources": list(spec.sources),
            "rain_profiles": {k: asdict(RAIN[k]) for k in spec.profiles} if spec.kind == "rain" else None,
            "blur_kernel_px": list(BLUR_KERNEL_PX) if spec.kind != "rain" else None,
            "calibration": calibration(name, spec, records),
            "made_with": {"scikit-image": skimage.__version__, "opencv": cv2.__version__},
            "pairs": records,
        }
        atomic_write_text(tmp / TWIN_FILE, json.dumps(description, indent=1) + "\n")
        atomic_write_text(tmp / TWIN_MARKER, "a synthetic twin written by `hst data synth`, which may replace it\n")
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
