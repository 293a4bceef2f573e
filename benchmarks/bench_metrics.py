"""Time every hst.metrics.protocols metric on one 481 x 321 RGB pair (the size of a Rain100 image).

Usage: ``python benchmarks/bench_metrics.py [--repeats N]``. The restored image is the
target moved by a small homography plus noise, so the RealBlur alignment has work to
do; the RealBlur alignment cache is emptied before every timed call of the aligned
metrics, so their times include one ECC each.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import cv2
import numpy as np
from skimage import data

from hst.metrics import protocols as metrics


def make_pair(height: int = 321, width: int = 481) -> tuple[np.ndarray, np.ndarray]:
    """(restored, target): a natural crop, and the same crop shifted 1.2, 0.7 px, rotated 0.2 deg, noise sigma 2."""
    target = np.ascontiguousarray(data.coffee()[40 : 40 + height, 60 : 60 + width])
    m = cv2.getRotationMatrix2D((width / 2, height / 2), 0.2, 1.0)
    m[:, 2] += (1.2, 0.7)
    moved = cv2.warpAffine(target, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    rng = np.random.default_rng(0)
    restored = np.clip(moved + rng.normal(0, 2, moved.shape), 0, 255).astype(np.uint8)
    return restored, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    restored, target = make_pair()
    timed = {name: fn for columns in metrics.PROTOCOLS.values() for name, fn in
             ((fn.__name__, fn) for fn in columns.values())}
    timed["realblur_scores"] = metrics.realblur_scores
    print(f"{target.shape[1]} x {target.shape[0]} RGB, {args.repeats} repeats, median; "
          f"{platform.processor() or platform.machine()}, OpenCV threads {cv2.getNumThreads()}")
    for name, fn in timed.items():
        times = []
        for _ in range(args.repeats):
            metrics._ALIGN_CACHE.clear()
            start = time.perf_counter()
            value = fn(restored, target)
            times.append(time.perf_counter() - start)
        print(f"{name:18s} {statistics.median(times) * 1e3:8.1f} ms   value {value}")


if __name__ == "__main__":
    main()
