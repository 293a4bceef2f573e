"""Checkpoints hold weights and config, load with weights_only, and refuse foreign files."""

import pytest
import torch

from hst.engine.checkpoint import load_checkpoint, load_model, save_checkpoint
from hst.errors import CheckpointError
from hst.models import build_model


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = build_model("tiny", sampler="avg", ratios=[2, 2, 2, 1])
    save_checkpoint(tmp_path / "m.pt", model, iteration=12, note="hi")
    loaded, ckpt = load_model(tmp_path / "m.pt")
    assert loaded.config == model.config and ckpt["iteration"] == 12 and ckpt["note"] == "hi"
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model.eval()(x))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind


@pytest.mark.parametrize(
    "content,match",
    [
        (lambda p: p.write_bytes(b"<html>not a checkpoint</html>"), "not a readable checkpoint"),
        (lambda p: torch.save({"weights": torch.zeros(2)}, p), "not an HST checkpoint"),
        (lambda p: torch.save(torch.nn.Linear(2, 2).state_dict(), p), "not an HST checkpoint"),
    ],
)
def test_foreign_files_are_refused_with_their_name(tmp_path, content, match):
    path = tmp_path / "other.pt"
    content(path)
    with pytest.raises(CheckpointError, match=match) as info:
        load_model(path)
    assert "other.pt" in str(info.value)


def test_weights_of_another_configuration_are_refused(tmp_path):
    save_checkpoint(tmp_path / "a.pt", build_model("tiny"))
    ckpt = torch.load(tmp_path / "a.pt", weights_only=True)
    ckpt["model_config"]["dim"] = 16
    torch.save(ckpt, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "b.pt")
    ckpt = torch.load(tmp_path / "a.pt", weights_only=True)
    ckpt["model_config"]["num_blocks"] = [2, 2, 2, 2]
    torch.save(ckpt, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "c.pt")


def test_truncated_and_missing_files(tmp_path):
    save_checkpoint(tmp_path / "a.pt", build_model("tiny"))
    data = (tmp_path / "a.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_refused_pickle_is_a_one_line_error(tmp_path):
    import numpy as np

    torch.save({"format": "hst-checkpoint", "arr": np.zeros(3)}, tmp_path / "np.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "np.pt")
    assert "np.pt" in str(info.value) and "\n" not in str(info.value)


def test_written_files_get_the_umask_mode_not_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "m.pt", build_model("tiny"))
    finally:
        os.umask(old)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o644
