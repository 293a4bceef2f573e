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


def test_the_shipped_registry_pins_brn_and_dmphn_with_stages_variants_and_published_figures():
    reg = W.load_weights_registry()
    brn, brn8 = reg["brn-rain100l"], reg["brn8-rain100l"]
    assert (brn.arch, brn.config, brn.archive.size, brn.strip_prefix) == ("brn", {"stages": 4}, 1_662_337, "")
    assert brn.archive.sha256 == "9046833601a5095ff994f216679de06545ce240d40487473d6432c375a5ea802"
    assert {(p["set"], p["psnr"], p["ssim"], p["protocol"]) for p in brn.published} == {
        ("Rain100L", 37.82, 0.981, "prenet"), ("Rain12", 36.70, 0.959, "prenet")}
    assert (brn8.config, brn8.archive.size, brn8.strip_prefix) == ({"stages": 8}, 1_663_403, "module.")
    assert reg["brn8-rain100h"].archive.sha256 == "46db6bbda038b49bc6c4e00d4af473939f586a6505384682769f8b4d98eda567"
    # DMPHN: a model of several files, each pinned, each a part of the harness model.
    sizes = {"dmphn-1-2-4": 6, "dmphn-1-2-4-8": 8, "dmphn-stack2": 12, "dmphn-stack3": 18, "dmphn-stack4": 24}
    for name, n in sizes.items():
        w = reg[name]
        assert w.arch == "dmphn" and w.archive is None and len(w.parts) == n and len(set(w.archives)) == n
        assert all(len(a.sha256) == 64 and a.size > 3_000_000 for a in w.archives)
    small = reg["dmphn-1-2-4"]
    assert small.folder == "DMPHN_1_2_4" and small.config == {"levels": "1-2-4", "stacks": 1}
    assert {(p.archive.file, p.prefix) for p in small.parts} >= {("encoder_lv1.pkl", "encoder.s1_lv1"),
                                                                   ("decoder_lv3.pkl", "decoder.s1_lv3")}
    stack4 = reg["dmphn-stack4"]
    assert stack4.config == {"levels": "1-2-4", "stacks": 4} and ("decoder_s4_lv3.pkl", "decoder.s4_lv3") in {
        (p.archive.file, p.prefix) for p in stack4.parts}
    assert ("GoPro-test", 31.20, 0.940, "gopro") in {(p["set"], p["psnr"], p["ssim"], p["protocol"]) for p in stack4.published}
    assert stack4.parts[0].archive.sources[0].location.startswith(
        "https://raw.githubusercontent.com/HongguangZhang/DMPHN-cvpr19-master/master/checkpoints/SDNet4/")


def _tiny_dmphn_release(tmp_path):
    """A DMPHN(1-2-4) saved as its authors did (a legacy state dict per encoder and decoder), and a registry of it."""
    import yaml

    from hst.models import DMPHN

    torch.manual_seed(0)
    model = DMPHN("1-2-4", 1)
    src = tmp_path / "release"
    src.mkdir()
    files = {}
    for kind in ("encoder", "decoder"):
        for part, module in getattr(model, kind).items():
            data = legacy_bytes(module)
            name = f"{kind}_{part.removeprefix('s1_')}.pkl"
            (src / name).write_bytes(data)
            files[name] = {"part": f"{kind}.{part}", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    entry = {"arch": "dmphn", "config": {"levels": "1-2-4", "stacks": 1}, "folder": "DMPHN_1_2_4", "files": files,
             "trained_on": "nothing", "sources": [{"kind": "file", "path": str(src)}], "published": []}
    reg = tmp_path / "weights.yaml"
    reg.write_text(yaml.safe_dump({"version": 1, "weights": {"tiny-dmphn": entry}}))
    return model, src, reg


def test_a_model_of_several_files_is_fetched_into_its_folder_recognised_by_sha256_and_loads_strictly(tmp_path, monkeypatch):
    from hst.cli import main

    model, src, reg = _tiny_dmphn_release(tmp_path)
    out = tmp_path / "ours.pt"
    assert main(["weights", "--registry", str(reg), "fetch", "tiny-dmphn", "--root", str(tmp_path / "w"),
                 "--checkpoint", str(out), "--no-progress"]) == 0
    folder = tmp_path / "w" / "DMPHN_1_2_4"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in src.iterdir())
    loaded, ckpt = load_model(out)
    assert ckpt["released"] == "tiny-dmphn" and set(ckpt["released_sha256"]) == {p.name for p in src.iterdir()}
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    # `--checkpoint FOLDER`: the folder itself, recognised by its files' sha256 (an extra file is ignored).
    registry = W.load_weights_registry(reg)
    monkeypatch.setattr(W, "load_weights_registry", lambda *a, **k: registry)
    (folder / "notes.txt").write_text("x")
    from_folder, ckpt = load_model(folder)
    assert ckpt["released"] == "tiny-dmphn" and ckpt["model_config"] == {"levels": "1-2-4", "stacks": 1}
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(from_folder(x), model(x), rtol=0, atol=0)
    # A changed file: no longer the released model, and the error names the folder.
    (folder / "decoder_lv2.pkl").write_bytes((folder / "decoder_lv2.pkl").read_bytes()[:-1] + b"\0")
    from hst.errors import CheckpointError

    with pytest.raises(CheckpointError, match="DMPHN_1_2_4: a folder, and not one holding a released model"):
        load_model(folder)


def test_a_registry_entry_is_one_file_or_a_folder_of_files_not_both(tmp_path):
    import yaml

    from hst.errors import ConfigError

    entry = {"arch": "brn", "config": {}, "file": "a.pth", "size": 1, "sha256": "0" * 64, "folder": "F",
             "files": {"a.pkl": {"part": "x", "size": 1, "sha256": "0" * 64}}, "trained_on": "", "sources": [], "published": []}
    reg = tmp_path / "weights.yaml"
    reg.write_text(yaml.safe_dump({"version": 1, "weights": {"both": entry}}))
    with pytest.raises(ConfigError, match="weights.yaml"):
        W.load_weights_registry(reg)
