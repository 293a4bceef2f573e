"""Released weights through the datasets' downloader, against a real local HTTP server (hst.data.weights)."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch
from tests.helpers.data import send_bytes, send_html

import hst.data.weights as W
from hst.engine.checkpoint import load_model
from hst.data.registry import Archive, Source
from hst.errors import DownloadError
from hst.models import PReNet


def legacy_bytes(model: torch.nn.Module) -> bytes:
    """A state dict in torch.save's pre-1.6 format, as the PReNet authors released theirs."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


torch.manual_seed(0)
DATA = legacy_bytes(PReNet(stages=2, channels=4, blocks=1))
SHA = hashlib.sha256(DATA).hexdigest()


def registry(*sources: Source, sha256: str = SHA) -> dict[str, W.Weights]:
    archive = Archive("tiny-prenet", "tiny.pth", "torch", len(DATA), sha256, "verified", sources)
    return {"tiny-prenet": W.Weights("tiny-prenet", "prenet", {"stages": 2, "channels": 4, "blocks": 1},
                                     "nothing", (), archive)}


def test_the_shipped_registry_pins_the_released_prenet_files():
    reg = W.load_weights_registry()
    assert {"prenet-rain100l", "prenet-rain100h", "prenet-rain1400"} <= set(reg)
    w = reg["prenet-rain100l"]
    assert w.arch == "prenet" and w.archive.size == 681_694
    assert w.archive.sha256 == "cb9b743bb33cf6e5c56ba45f8ade93add46266dea9fa582e1934dc5eed942333"
    assert {"set": "Rain100L", "psnr": 37.48, "ssim": 0.979} == {k: w.published[0][k] for k in ("set", "psnr", "ssim")}
    assert w.published[0]["protocol"] == "prenet"


def test_fetch_verifies_and_places_the_file_then_loads_it(server, tmp_path, monkeypatch):
    server.routes["/w.pth"] = lambda h, q: send_bytes(h, DATA, ctype="application/octet-stream")
    reg = registry(Source("url", server.url("/w.pth")))
    path = W.fetch_weights("tiny-prenet", tmp_path, progress=False, registry=reg)
    assert path == tmp_path / "tiny.pth" and path.read_bytes() == DATA
    assert not (tmp_path / "_archives").exists()
    assert W.fetch_weights("tiny-prenet", tmp_path, progress=False, registry=reg) == path  # kept, not fetched again
    assert len(server.hits("/w.pth")) == 1
    monkeypatch.setattr(W, "load_weights_registry", lambda *a, **k: reg)
    model, ckpt = load_model(path)
    assert type(model) is PReNet and ckpt["released"] == "tiny-prenet"


def test_an_html_page_or_a_wrong_file_is_refused_and_nothing_is_left(server, tmp_path):
    server.routes["/page"] = lambda h, q: send_html(h, "<!DOCTYPE html><html><body>Sign in</body></html>")
    with pytest.raises(DownloadError, match="HTML"):
        W.fetch_weights("tiny-prenet", tmp_path, progress=False, registry=registry(Source("url", server.url("/page"))))
    server.routes["/other.pth"] = lambda h, q: send_bytes(h, DATA, ctype="application/octet-stream")
    with pytest.raises(DownloadError, match="sha256"):
        W.fetch_weights("tiny-prenet", tmp_path, progress=False,
                        registry=registry(Source("url", server.url("/other.pth")), sha256="0" * 64))
    assert not (tmp_path / "tiny.pth").exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".pth", ".part")] == []


def test_a_copy_on_disk_is_verified_and_copied(tmp_path):
    src = tmp_path / "mine.pth"
    src.write_bytes(DATA)
    path = W.fetch_weights("tiny-prenet", tmp_path / "w", urls=(str(src),), progress=False, registry=registry())
    assert path.read_bytes() == DATA and src.exists()


def test_unknown_name_is_one_line():
    with pytest.raises(Exception, match=r"no released weights called 'nope'; known: prenet-rain100l"):
        W.get_weights("nope")


def test_cli_fetch_writes_a_checkpoint_of_ours_from_a_registry_file(tmp_path, capsys):
    """`hst weights --registry R fetch NAME --checkpoint OUT`: what the pipeline's released_weights rule runs."""
    import yaml

    from hst.cli import main

    (tmp_path / "src.pth").write_bytes(DATA)
    entry = {"arch": "prenet", "config": {"stages": 2, "channels": 4, "blocks": 1}, "file": "tiny.pth", "size": len(DATA),
             "sha256": SHA, "trained_on": "nothing", "sources": [{"kind": "file", "path": str(tmp_path / "src.pth")}],
             "published": []}
    reg = tmp_path / "weights.yaml"
    reg.write_text(yaml.safe_dump({"version": 1, "weights": {"tiny-prenet": entry}}))
    out = tmp_path / "ours" / "model.pt"
    assert main(["weights", "--registry", str(reg), "fetch", "tiny-prenet", "--root", str(tmp_path / "w"),
                 "--checkpoint", str(out), "--no-progress"]) == 0
    model, ckpt = load_model(out)  # no registry needed: a checkpoint of ours
    assert type(model) is PReNet and ckpt["arch"] == "prenet" and ckpt["released"] == "tiny-prenet"
    assert ckpt["released_sha256"] == SHA
    source = torch.load(io.BytesIO(DATA), weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in source.items())
    entry["config"]["channels"] = 8  # a registry entry that does not fit the file: one line naming it
    reg.write_text(yaml.safe_dump({"version": 1, "weights": {"tiny-prenet": entry}}))
    capsys.readouterr()
    assert main(["weights", "--registry", str(reg), "fetch", "tiny-prenet", "--root", str(tmp_path / "w"),
                 "--checkpoint", str(tmp_path / "bad.pt"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "tiny.pth: does not load into prenet" in err and "size mismatch for conv0.0.weight" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "bad.pt").exists()
