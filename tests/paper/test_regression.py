"""The CI regression check: passes on the reference, fails on a worsened (or unexplained) metric."""

import pandas as pd
import pytest

from hst.cli import main
from hst.paper.regression import TOLERANCES, TRAINED_TOLERANCES, collect, compare


def write_summary(root, run, set_name, psnr, ssim):
    d = root / "eval" / run / set_name
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"set": set_name, "protocol": "derain", "images": 6, "psnr": psnr, "ssim": ssim,
                   "inf_psnr": 0, "seconds": 0.1}]).to_csv(d / "summary.csv", index=False)


@pytest.fixture
def run_dir(tmp_path):
    write_summary(tmp_path, "derain-tiny", "Rain100H", 25.0, 0.80)
    write_summary(tmp_path, "derain-tiny", "Test100", 27.5, 0.85)
    write_summary(tmp_path, "input", "Rain100H", 14.0, 0.40)
    return tmp_path


def test_identical_run_passes_and_small_noise_is_tolerated(run_dir):
    fresh = collect(run_dir)
    assert compare(fresh, fresh.copy()) == []
    noisy = fresh.copy()
    noisy["psnr"] += TOLERANCES["psnr"] / 2
    assert compare(noisy, fresh) == []


def test_inputs_are_held_tighter_than_trained_runs(run_dir):
    ref = collect(run_dir)
    moved = ref.copy()
    moved["psnr"] += 0.5  # cross-CPU training noise reached 0.40 dB; no input row may move so far
    failures = compare(moved, ref)
    assert failures == [f"input / Rain100H: psnr 14.5000 vs reference 14.0000 (+0.5000, better; tolerance {TOLERANCES['psnr']})"]
    assert TOLERANCES["psnr"] < 0.4 < TRAINED_TOLERANCES["psnr"] / 2


def test_worsened_metric_fails_and_says_so(run_dir):
    ref = collect(run_dir)
    write_summary(run_dir, "derain-tiny", "Rain100H", 25.0 - 2 * TRAINED_TOLERANCES["psnr"], 0.80)
    failures = compare(collect(run_dir), ref)
    assert len(failures) == 1 and "Rain100H: psnr" in failures[0] and "worse" in failures[0]
    write_summary(run_dir, "derain-tiny", "Rain100H", 25.0, 0.80 - 2 * TRAINED_TOLERANCES["ssim"])
    assert "ssim" in compare(collect(run_dir), ref)[0]


def test_better_beyond_tolerance_and_missing_rows_fail_too(run_dir):
    ref = collect(run_dir)
    write_summary(run_dir, "derain-tiny", "Test100", 27.5 + 2 * TRAINED_TOLERANCES["psnr"], 0.85)
    assert "better" in compare(collect(run_dir), ref)[0]
    fresh = collect(run_dir)
    assert compare(fresh[fresh.set != "Test100"], ref) == ["derain-tiny / Test100: missing from the fresh run"]
    nan = ref.copy()
    nan.loc[0, "psnr"] = float("nan")
    assert compare(nan, ref)


def test_cli_update_then_check(run_dir, tmp_path, capsys):
    ref = tmp_path / "ref"
    assert main(["regression", "--run", str(run_dir), "--reference", str(ref), "--update"]) == 0
    assert main(["regression", "--run", str(run_dir), "--reference", str(ref)]) == 0
    write_summary(run_dir, "derain-tiny", "Test100", 25.0, 0.85)
    assert main(["regression", "--run", str(run_dir), "--reference", str(ref)]) == 2
    out = capsys.readouterr()
    assert "FAILED" in out.out and "Test100: psnr" in out.out and "moved beyond tolerance" in out.err
