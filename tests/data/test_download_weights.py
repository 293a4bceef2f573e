"""Released weights through the datasets' downloader, against a real local HTTP server (hst.weights)."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch
from data_helpers import send_bytes, send_html

import hst.weights as W
from hst.checkpoint import load_model
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
