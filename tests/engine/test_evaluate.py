"""Evaluation (restored PNGs, times, eval.json, sampling policy) and scoring of saved PNGs (hst.engine.score)."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hst import build_model
from hst.engine.checkpoint import save_checkpoint
from hst.cli import main
from hst.data.io import read_image, write_png
from hst.errors import CheckpointError, ConfigError, DataError, HSTError
from hst.engine.evaluate import evaluate
from hst.engine.restorer import image_seed
from hst.engine.tensors import to_uint8
from hst.metrics.protocols import PSNR_CAP, psnr_rgb, psnr_y, ssim_per_channel, ssim_volumetric, ssim_y
from hst.engine.score import score_dir
from hst.engine.tiles import DEFAULT_OVERLAP

pytestmark = pytest.mark.usefixtures("one_thread")


def make_set(root: Path, name: str = "Tiny", sizes=((21, 30), (24, 17), (16, 16))) -> Path:
    """A set of random pairs of odd sizes (height, width): targets smooth, inputs noisy."""
    rng = np.random.default_rng(7)
    set_dir = root / name
    for i, (h, w) in enumerate(sizes):
        target = (np.linspace(0, 255, h * w * 3).reshape(h, w, 3) * 0.5 + 60).astype(np.uint8)
        noisy = np.clip(target.astype(int) + rng.integers(-40, 41, target.shape), 0, 255).astype(np.uint8)
        write_png(set_dir / "input" / f"img{i}.png", noisy)
        write_png(set_dir / "target" / f"img{i}.png", target)
    return set_dir


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    return make_set(tmp_path_factory.mktemp("data"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def pngs(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: read_image(p) for p in sorted(folder.glob("*.png"))}


# ----------------------------------------------------------------------------- pieces


def test_image_seed_depends_on_seed_name_and_draw_only():
    assert image_seed(0, "a") == image_seed(0, "a", 0)
    assert len({image_seed(0, "a"), image_seed(1, "a"), image_seed(0, "b"), image_seed(0, "a", 1)}) == 4
    assert 0 <= image_seed(123, "x" * 100, 7) < 2**63


def test_to_uint8_clamps_and_rounds_half_up():
    x = torch.tensor([-0.3, 0.0, 0.5, 1.0, 1.7, 0.25, 0.9981]).view(1, 1, 1, 7).expand(1, 3, 1, 7)
    out = to_uint8(x)
    assert out.shape == (1, 7, 3) and out.dtype == np.uint8
    # 0.5 -> 127.5 -> 128; 0.25 -> 63.75 -> 64; 0.9981 -> 254.5155 -> 255 (truncation would give 254)
    assert out[0, :, 0].tolist() == [0, 0, 128, 255, 255, 64, 255]
    values = torch.rand(1, 3, 9, 11)
    expected = np.floor(values.double().numpy()[0].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(to_uint8(values), expected)


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_writes_restorations_times_scores_and_record(checkpoint, tiny_set, tmp_path):
    out = tmp_path / "eval"
    record = evaluate(checkpoint, tiny_set, "derain", out, seed=3)
    restored = pngs(out / "restored")
    assert sorted(restored) == ["img0", "img1", "img2"]
    for name, image in restored.items():
        assert image.shape == read_image(tiny_set / "target" / f"{name}.png").shape
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no staging or temp files left

    times = read_csv(out / "times.csv")
    assert [r["name"] for r in times] == ["img0", "img1", "img2"] and all(float(r["seconds"]) > 0 for r in times)
    rows = read_csv(out / "per_image.csv")
    assert list(rows[0]) == ["name", "psnr", "ssim", "seconds"]
    for row in rows:
        target = read_image(tiny_set / "target" / f"{row['name']}.png")
        assert float(row["psnr"]) == psnr_y(restored[row["name"]], target)
        assert float(row["ssim"]) == ssim_y(restored[row["name"]], target)
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 1
    assert summary[0]["set"] == "Tiny" and summary[0]["protocol"] == "derain" and summary[0]["images"] == "3"
    assert float(summary[0]["psnr"]) == pytest.approx(np.mean([float(r["psnr"]) for r in rows]))
    assert summary[0]["inf_psnr"] == "0"

    info = json.loads((out / "eval.json").read_text())
    assert info == json.loads(json.dumps(record))
    assert info["sampling"] == "seeded" and info["seed"] == 3 and info["draws"] == 1
    assert info["checkpoint"] == str(checkpoint.resolve()) and len(info["checkpoint_sha256"]) == 64
    assert info["images"] == 3 and info["protocol"] == "derain" and info["stochastic_samplers"] > 0
    assert "sha256" in info["seed_rule"] and info["environment"]["git"]
    assert info["tile"] is None and info["tile_overlap"] is None and "tile" not in info["seed_rule"]  # never tiles unasked

    # Scoring the saved PNGs on their own gives the same CSVs.
    again = tmp_path / "again"
    shutil.copytree(out / "restored", again / "restored")
    shutil.copy(out / "times.csv", again / "times.csv")
    score_dir(again / "restored", tiny_set, "derain", again)
    assert (again / "per_image.csv").read_text() == (out / "per_image.csv").read_text()
    assert (again / "summary.csv").read_text() == (out / "summary.csv").read_text()


def test_a_result_does_not_depend_on_the_other_images(checkpoint, tiny_set, tmp_path):
    evaluate(checkpoint, tiny_set, "derain", tmp_path / "all", seed=1, score=False)
    alone = tmp_path / "Alone"
    for side in ("input", "target"):
        (alone / side).mkdir(parents=True)
        shutil.copy(tiny_set / side / "img2.png", alone / side / "img2.png")
    evaluate(checkpoint, alone, "derain", tmp_path / "alone", seed=1, score=False)
    assert np.array_equal(pngs(tmp_path / "all" / "restored")["img2"], pngs(tmp_path / "alone" / "restored")["img2"])


def test_sampling_policies(checkpoint, tiny_set, tmp_path):
    def run(name, **kw):
        evaluate(checkpoint, tiny_set, "derain", tmp_path / name, score=False, **kw)
        return pngs(tmp_path / name / "restored")

    seeded0, seeded0b, seeded1 = run("s0", seed=0), run("s0b", seed=0), run("s1", seed=1)
    assert all(np.array_equal(seeded0[k], seeded0b[k]) for k in seeded0)
    assert any(not np.array_equal(seeded0[k], seeded1[k]) for k in seeded0)  # the draws matter
    grid0, grid5 = run("g0", sampling="grid", seed=0), run("g5", sampling="grid", seed=5)
    assert all(np.array_equal(grid0[k], grid5[k]) for k in grid0)
    one_draw = run("e1", sampling="ensemble", draws=1, seed=0)
    assert all(np.array_equal(one_draw[k], seeded0[k]) for k in seeded0)  # draw 0 is the seeded pass
    four = run("e4", sampling="ensemble", draws=4, seed=0)
    assert any(not np.array_equal(four[k], seeded0[k]) for k in seeded0)
    assert json.loads((tmp_path / "e4" / "eval.json").read_text())["draws"] == 4


def test_no_save_scores_the_same_and_no_score_scores_nothing(checkpoint, tiny_set, tmp_path):
    evaluate(checkpoint, tiny_set, "gopro", tmp_path / "saved", seed=2)
    evaluate(checkpoint, tiny_set, "gopro", tmp_path / "memory", seed=2, save=False)
    assert not (tmp_path / "memory" / "restored").exists()
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_csv(tmp_path / "saved" / "per_image.csv")) == strip(read_csv(tmp_path / "memory" / "per_image.csv"))
    assert list(read_csv(tmp_path / "saved" / "per_image.csv")[0]) == ["name", "psnr", "ssim", "ssim_per_channel", "seconds"]
    evaluate(checkpoint, tiny_set, "derain", tmp_path / "unscored", score=False)
    assert {p.name for p in (tmp_path / "unscored").iterdir()} == {"restored", "times.csv", "eval.json"}


def test_a_new_evaluation_replaces_the_old_one(checkpoint, tiny_set, tmp_path):
    out = tmp_path / "eval"
    evaluate(checkpoint, tiny_set, "derain", out, score=False)
    write_png(out / "restored" / "stale.png", np.zeros((4, 4, 3), np.uint8))
    evaluate(checkpoint, tiny_set, "derain", out, score=False)
    assert sorted(pngs(out / "restored")) == ["img0", "img1", "img2"]


def test_tiled_evaluation_is_recorded(checkpoint, tiny_set, tmp_path):
    whole = evaluate(checkpoint, tiny_set, "derain", tmp_path / "whole", seed=2)
    # A tile larger than every image (21x30, 24x17, 16x16) is whole-image restoration.
    big = evaluate(checkpoint, tiny_set, "derain", tmp_path / "big", seed=2, tile=32)
    assert (big["tile"], big["tile_overlap"]) == (32, DEFAULT_OVERLAP)
    assert all(np.array_equal(a, b) for a, b in zip(pngs(tmp_path / "whole" / "restored").values(),
                                                    pngs(tmp_path / "big" / "restored").values()))
    assert big["summary"]["psnr"] == whole["summary"]["psnr"]
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_set), "--protocol", "derain", "--out",
                 str(tmp_path / "small"), "--seed", "2", "--tile", "16", "--tile-overlap", "4", "--no-progress"]) == 0
    info = json.loads((tmp_path / "small" / "eval.json").read_text())
    assert (info["tile"], info["tile_overlap"]) == (16, 4) and "(top, left)" in info["seed_rule"]
    small = pngs(tmp_path / "small" / "restored")
    assert not np.array_equal(small["img0"], pngs(tmp_path / "whole" / "restored")["img0"])  # 21x30: four tiles
    assert np.array_equal(small["img2"], pngs(tmp_path / "whole" / "restored")["img2"])  # 16x16: one tile


def test_bad_tile_options_stop_evaluation_before_any_work(checkpoint, tiny_set, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_set), "--protocol", "derain",
                 "--out", str(out), "--tile", "20"]) == 2
    assert capsys.readouterr().err == "error: --tile: 20 is not a multiple of 8, the model's size multiple; use 16 or 24\n"
    with pytest.raises(ConfigError, match=r"^--tile-overlap: needs 0 <= overlap < tile \(16\), got 30$"):
        evaluate(checkpoint, tiny_set, "derain", out, tile=16, tile_overlap=30)
    assert not out.exists()


def test_draws_need_the_ensemble_policy(checkpoint, tiny_set, tmp_path):
    with pytest.raises(ConfigError, match="--draws"):
        evaluate(checkpoint, tiny_set, "derain", tmp_path / "x", draws=3)
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- bad input


def test_corrupt_input_image_is_named_and_nothing_is_half_written(checkpoint, tiny_set, tmp_path):
    bad = tmp_path / "Bad"
    shutil.copytree(tiny_set, bad)
    victim = bad / "input" / "img1.png"
    victim.write_bytes(victim.read_bytes()[:60])
    out = tmp_path / "eval"
    with pytest.raises(DataError, match=str(victim)):
        evaluate(checkpoint, bad, "derain", out)
    assert not (out / "restored").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    assert not (out / "times.csv").exists() and not (out / "per_image.csv").exists()


def test_pair_of_different_sizes_is_refused(checkpoint, tiny_set, tmp_path):
    bad = tmp_path / "Bad"
    shutil.copytree(tiny_set, bad)
    write_png(bad / "target" / "img0.png", read_image(bad / "target" / "img0.png")[:-2])
    out = tmp_path / "eval"
    with pytest.raises(DataError, match=rf"^{out / 'restored' / 'img0.png'}: 30x21 pixels, but its target .* is 30x19$"):
        evaluate(checkpoint, bad, "derain", out)
    assert not (out / "per_image.csv").exists() and not (out / "summary.csv").exists()
    with pytest.raises(DataError, match=r"^restoration of .*img0\.png: 30x21 pixels, but its target .*img0\.png is 30x19$"):
        evaluate(checkpoint, bad, "derain", tmp_path / "mem", save=False)


def test_missing_set(checkpoint, tmp_path):
    with pytest.raises(DataError, match=rf"^{tmp_path / 'nothing'}: "):
        evaluate(checkpoint, tmp_path / "nothing", "derain", tmp_path / "eval")


@pytest.mark.parametrize("kind", ["missing", "random dict", "wrong shapes", "not torch"])
def test_checkpoint_of_something_else(tiny_set, tmp_path, kind):
    path = tmp_path / "other.pt"
    if kind == "random dict":
        torch.save({"weights": torch.zeros(3), "format": "something"}, path)
    elif kind == "wrong shapes":
        state = build_model("tiny", dim=8).state_dict()
        save_checkpoint(path, build_model("tiny", dim=16))
        ckpt = torch.load(path, weights_only=True)
        ckpt["state_dict"] = state  # a dim-8 state dict under a dim-16 config
        torch.save(ckpt, path)
    elif kind == "not torch":
        path.write_text("hello")
    with pytest.raises(CheckpointError, match=rf"^{path}: "):
        evaluate(path, tiny_set, "derain", tmp_path / "eval")
    assert not (tmp_path / "eval").exists()


def test_unwritable_output_folder(checkpoint, tiny_set, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HSTError, match=rf"{blocker / 'eval'}: output folder cannot be written"):
        evaluate(checkpoint, tiny_set, "derain", blocker / "eval")


def test_cli_evaluate_and_one_line_errors(checkpoint, tiny_set, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(tiny_set), "--protocol", "derain",
                 "--out", str(out), "--sampling", "grid", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "3 images restored" in printed and "Tiny (derain, 3 images): psnr" in printed
    assert json.loads((out / "eval.json").read_text())["sampling"] == "grid"
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope.pt"), "--data", str(tiny_set), "--protocol",
                 "derain", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pt: no such checkpoint file" in err


# ----------------------------------------------------------------------------- score


def test_score_columns_of_each_protocol(tiny_set, tmp_path):
    restored = tmp_path / "restored"
    shutil.copytree(tiny_set / "input", restored)
    score_dir(restored, tiny_set, "gopro", tmp_path)
    rows = read_csv(tmp_path / "per_image.csv")
    assert list(rows[0]) == ["name", "psnr", "ssim", "ssim_per_channel"]  # no times.csv: no seconds column
    for row in rows:
        a, b = read_image(restored / f"{row['name']}.png"), read_image(tiny_set / "target" / f"{row['name']}.png")
        assert float(row["psnr"]) == psnr_rgb(a, b)
        assert float(row["ssim"]) == ssim_volumetric(a, b)
        assert float(row["ssim_per_channel"]) == ssim_per_channel(a, b)
    assert list(read_csv(tmp_path / "summary.csv")[0]) == ["set", "protocol", "images", "psnr", "ssim", "ssim_per_channel", "inf_psnr"]


def test_identical_images_count_as_the_cap_and_are_counted(tiny_set, tmp_path):
    restored = tmp_path / "restored"
    shutil.copytree(tiny_set / "input", restored)
    shutil.copy(tiny_set / "target" / "img1.png", restored / "img1.png")
    summary = score_dir(restored, tiny_set, "derain", tmp_path)
    rows = read_csv(tmp_path / "per_image.csv")
    values = [float(r["psnr"]) for r in rows]
    assert math.isinf(values[1]) and rows[1]["psnr"] == "inf"
    assert summary["inf_psnr"] == 1
    assert summary["psnr"] == pytest.approx((values[0] + PSNR_CAP + values[2]) / 3)


def test_score_refuses_size_mismatch_missing_and_corrupt_files(tiny_set, tmp_path):
    restored = tmp_path / "restored"
    shutil.copytree(tiny_set / "input", restored)
    (tmp_path / "summary.csv").write_text("old\n")
    write_png(restored / "img2.png", read_image(restored / "img2.png")[:, :-1])
    with pytest.raises(DataError, match=rf"^{restored / 'img2.png'}: 15x16 pixels, but its target .* is 16x16$"):
        score_dir(restored, tiny_set, "derain", tmp_path)
    assert not (tmp_path / "per_image.csv").exists() and (tmp_path / "summary.csv").read_text() == "old\n"
    (restored / "img2.png").unlink()
    with pytest.raises(DataError, match=rf"^{restored / 'img2.png'}: missing restored image"):
        score_dir(restored, tiny_set, "derain", tmp_path)
    (restored / "img2.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=rf"^{restored / 'img2.png'}: cannot decode"):
        score_dir(restored, tiny_set, "derain", tmp_path)
    assert not (tmp_path / "per_image.csv").exists()


def test_score_cli(tiny_set, tmp_path, capsys):
    restored = tmp_path / "run" / "restored"
    shutil.copytree(tiny_set / "input", restored)
    (tmp_path / "run" / "times.csv").write_text("name,seconds\nimg0,0.5\nimg1,1.5\nimg2,1.0\n")
    assert main(["score", "--restored", str(restored), "--data", str(tiny_set), "--protocol", "derain",
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert "Tiny (derain, 3 images): psnr" in capsys.readouterr().out
    summary = read_csv(tmp_path / "run" / "summary.csv")[0]
    assert float(summary["seconds"]) == 1.0
    assert [r["seconds"] for r in read_csv(tmp_path / "run" / "per_image.csv")] == ["0.5", "1.5", "1.0"]
    assert main(["score", "--restored", str(tmp_path / "none"), "--data", str(tiny_set), "--protocol", "derain",
                 "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'none'}: no such folder of restored images"


def test_score_inputs_equals_scoring_a_copy_of_the_inputs(tiny_set, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_set / "input", copy / "restored")
    score_dir(copy / "restored", tiny_set, "derain", copy)
    assert main(["score", "--inputs", "--data", str(tiny_set), "--protocol", "derain", "--out", str(tmp_path / "floor"),
                 "--no-progress"]) == 0
    assert (tmp_path / "floor" / "per_image.csv").read_text() == (copy / "per_image.csv").read_text()
    assert (tmp_path / "floor" / "summary.csv").read_text() == (copy / "summary.csv").read_text()


@pytest.mark.slow
def test_compiled_model_restores_as_the_eager_one(checkpoint, tiny_set, tmp_path, monkeypatch):
    import hst.engine.restorer

    monkeypatch.setattr(hst.engine.restorer, "COMPILE_BACKEND", "eager")  # dynamo's graphs, run by eager kernels
    torch._dynamo.reset()
    evaluate(checkpoint, tiny_set, "derain", tmp_path / "eager", device="cpu")
    info = evaluate(checkpoint, tiny_set, "derain", tmp_path / "compiled", device="cpu", compile=True)
    assert info["compiled"] is True
    eager, compiled = pngs(tmp_path / "eager" / "restored"), pngs(tmp_path / "compiled" / "restored")
    assert eager.keys() == compiled.keys() and len(eager) == 3
    for name in eager:  # the same seeded draws per image: the same restorations
        assert np.array_equal(eager[name], compiled[name]), name


# ----------------------------------------------------------- released weights, protocol rounding


def test_truncate_rounding_is_prenets_float32_uint8_cast():
    values = torch.tensor([0.0, 0.999, 29 / 255, 0.5, 1.2, -0.1], dtype=torch.float32).reshape(1, 3, 1, 2)
    truncated = to_uint8(values, "truncate")
    expected = np.uint8(np.float32(255) * np.clip(values[0].numpy(), 0, 1)).transpose(1, 2, 0)
    np.testing.assert_array_equal(truncated, expected)  # np.uint8(255 * out) of test_PReNet.py
    rounded = to_uint8(values)
    assert truncated[0, 1, 0] == 254 and rounded[0, 1, 0] == 255  # 0.999 * 255 = 254.7
    assert (rounded.astype(int) - truncated.astype(int)).min() >= 0


def test_released_weights_are_recognised_by_sha256_and_evaluated(tmp_path, monkeypatch, one_thread):
    """A bare state dict in torch's legacy format, known to the weights registry by its sha256, evaluates like
    our checkpoints; eval.json names it; the prenet protocol truncates the outputs."""
    import hst.data.weights as W
    from hst.data.registry import Archive
    from hst.fsutil import sha256_of
    from hst.models import PReNet

    torch.manual_seed(0)
    released = tmp_path / "net_latest.pth"
    torch.save(PReNet(stages=2).state_dict(), released, _use_new_zipfile_serialization=False)
    entry = W.Weights("prenet-test", "prenet", {"stages": 2, "channels": 32, "blocks": 5}, "nothing", (),
                      Archive("prenet-test", "x.pth", "torch", released.stat().st_size, sha256_of(released),
                              "verified", ()))
    monkeypatch.setattr(W, "load_weights_registry", lambda *a, **k: {"prenet-test": entry})
    set_dir = tmp_path / "set"
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (set_dir / sub).mkdir(parents=True)
        write_png(set_dir / sub / "rain-001.png", rng.integers(0, 256, (24, 20, 3), dtype=np.uint8))
    record = evaluate(released, set_dir, "prenet", tmp_path / "out", device="cpu")
    assert record["arch"] == "prenet" and record["released_weights"] == "prenet-test"
    assert record["output_rounding"] == "truncate" and record["summary"]["protocol"] == "prenet"
    other = tmp_path / "other.pth"
    torch.save(PReNet(stages=2).state_dict(), other, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="not a released weight file of the weights registry"):
        evaluate(other, set_dir, "prenet", tmp_path / "out2", device="cpu")
