"""`score --inputs`: the degraded inputs scored as they are, the floor of every table."""

import warnings

import numpy as np
import pandas as pd

from hst.cli import main
from hst.data.io import write_png
from hst.metrics.protocols import psnr_y


def test_inputs_are_scored_against_targets(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        target = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        noisy = np.clip(target.astype(int) + rng.integers(-20, 21, target.shape), 0, 255).astype(np.uint8)
        write_png(tmp_path / "set/target" / f"{name}.png", target)
        write_png(tmp_path / "set/input" / f"{name}.png", noisy)
    assert main(["score", "--inputs", "--data", str(tmp_path / "set"), "--protocol", "derain",
                 "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    per_image = pd.read_csv(tmp_path / "out/per_image.csv")
    from hst.data.io import read_image

    expected = [psnr_y(read_image(tmp_path / "set/input" / f"{n}.png"), read_image(tmp_path / "set/target" / f"{n}.png"))
                for n in ("a", "b")]
    assert np.allclose(per_image.psnr, expected)
    summary = pd.read_csv(tmp_path / "out/summary.csv").iloc[0]
    assert summary.images == 2 and abs(summary.psnr - np.mean(expected)) < 1e-9


def test_realblur_inputs_are_scored_without_alignment(tmp_path):
    from hst.metrics.protocols import AlignmentWarning, psnr_aligned, psnr_unaligned

    rng = np.random.default_rng(1)
    target = (np.clip(rng.normal(128, 40, (40, 48, 3)), 0, 255)).astype(np.uint8)
    shifted = np.roll(target, 2, axis=1)
    write_png(tmp_path / "set/target/a.png", target)
    write_png(tmp_path / "set/input/a.png", shifted)
    assert main(["score", "--inputs", "--data", str(tmp_path / "set"), "--protocol", "realblur",
                 "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    summary = pd.read_csv(tmp_path / "out/summary.csv").iloc[0]
    assert summary.protocol == "realblur-input"
    # ECC need not converge on a noise pair this small (then the identity warp, with the intensity
    # match still making the aligned score differ from the unaligned one): that warning is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlignmentWarning)
        aligned = psnr_aligned(shifted, target)
    assert summary.psnr == psnr_unaligned(shifted, target) != aligned
