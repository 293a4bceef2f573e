"""BRN's and DMPHN's released weights through the harness: strict loads, BRN's published Rain100L figure,
and DMPHN's parity with its authors' own committed outputs.

Needs files this project cannot ship or download in CI (no network), so each test skips without them:

- ``HST_BRN_RAIN100L``: shangwei5/BRN's ``logs/BRN/R100L/net_latest.pth`` (4 stages);
  ``HST_BRN8_RAIN100L``: csdwren/RecDerain's ``logs/Rain100L/BRN/net_latest.pth`` (8 stages, keys under
  ``module.``); `python -m hst weights fetch brn-rain100l` / `brn8-rain100l` fetch them where GitHub is
  reachable.
- ``HST_RAIN100L_ORIGINAL``: the original 481 x 321 Rain100L test folder (``norain-NNN.png`` beside
  ``rainy/rain-NNN.png``; public repository Arvaesri/PreNet, datasets/test/Rain100L).
- ``HST_DMPHN_REPO``: a copy of HongguangZhang/DMPHN-cvpr19-master's files: ``checkpoints/DMPHN_1_2_4/``,
  ``checkpoints/SDNet4/``, ``test_samples/`` and ``test_results/`` (`python -m hst weights fetch
  dmphn-1-2-4` / `dmphn-stack4` fetch the checkpoints' folders).
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from hst.engine.checkpoint import load_model

BRN4 = os.environ.get("HST_BRN_RAIN100L")
BRN8 = os.environ.get("HST_BRN8_RAIN100L")
ORIGINAL = os.environ.get("HST_RAIN100L_ORIGINAL")
DMPHN_REPO = os.environ.get("HST_DMPHN_REPO")


def _file(value):
    return bool(value) and Path(value).is_file()


def _dir(value):
    return bool(value) and Path(value).is_dir()


@pytest.mark.parametrize("env, path, name, stages", [("HST_BRN_RAIN100L", BRN4, "brn-rain100l", 4),
                                                     ("HST_BRN8_RAIN100L", BRN8, "brn8-rain100l", 8)])
def test_brn_releases_load_strictly_with_their_stage_counts(env, path, name, stages):
    if not _file(path):
        pytest.skip(f"set {env} to the released file (see the module docstring)")
    model, ckpt = load_model(path)  # recognised by sha256; missing or unexpected keys are refused
    assert ckpt["released"] == name and model.config == {"stages": stages}
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert len(state) == 64 and all(torch.equal(model.state_dict()[k.removeprefix("module.")], v) for k, v in state.items())


@pytest.mark.slow
def test_brn_rain100l_reproduces_its_published_figure(tmp_path):
    if not (_file(BRN4) and _dir(ORIGINAL)):
        pytest.skip("set HST_BRN_RAIN100L and HST_RAIN100L_ORIGINAL (see the module docstring)")
    from tests.engine.test_released_weights import original_as_pairs

    from hst.engine.evaluate import evaluate
    from hst.engine.score import score_dir

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    set_dir = original_as_pairs(Path(ORIGINAL), tmp_path / "Rain100L")
    own = evaluate(BRN4, set_dir, "prenet", tmp_path / "prenet", device="cpu")["summary"]
    table = score_dir(tmp_path / "prenet" / "restored", set_dir, "derain", tmp_path / "derain")
    print(f"BRN (shangwei5) Rain100L: PReNet protocol {own['psnr']:.4f} / {own['ssim']:.4f} (published 37.82 / 0.981); "
          f"deraining protocol {table['psnr']:.4f} / {table['ssim']:.4f}")
    assert own["images"] == 100
    assert own["psnr"] == pytest.approx(37.82, abs=0.01) and own["ssim"] == pytest.approx(0.981, abs=0.001)


@pytest.mark.slow
@pytest.mark.parametrize("folder, results", [("DMPHN_1_2_4", "DMPHN_1_2_4_test_res"), ("SDNet4", "SDNet4_test_res")])
def test_dmphn_restores_its_authors_committed_outputs(folder, results):
    if not _dir(DMPHN_REPO):
        pytest.skip("set HST_DMPHN_REPO to a copy of the DMPHN repository's files (see the module docstring)")
    from hst.data.io import read_image
    from hst.engine.restorer import Restorer

    repo = Path(DMPHN_REPO)
    # The authors saved with torchvision's save_image of the time: mul(255).clamp(0, 255).byte(), truncation,
    # which the registry's DMPHN entry says (Arch.output_rounding): the restorer takes it unasked.
    restorer = Restorer(repo / "checkpoints" / folder, device="cpu")
    assert restorer.rounding == "truncate"
    assert restorer.checkpoint_dict["released"] in ("dmphn-1-2-4", "dmphn-stack4")
    frame = "000001"  # GOPR0384_11_00/blur/000001, 1280 x 720: no padding
    out, _ = restorer.restore(read_image(repo / "test_samples" / f"{frame}.png"), frame)
    diff = out.astype(np.float64) - read_image(repo / "test_results" / results / f"{frame}.png")
    psnr = 10 * np.log10(255**2 / np.mean(diff**2)) if np.any(diff) else float("inf")
    print(f"{folder} frame {frame}: {psnr:.2f} dB, {np.mean(diff == 0):.6f} of the values exact, max {np.abs(diff).max():.0f}")
    assert psnr >= 90 and np.abs(diff).max() <= 1
