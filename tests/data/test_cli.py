"""``python -m hst data ...`` end to end: synth, check, prepare, list, and fetch from a local server."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers.data import derain_test_zip, send_bytes

from hst.cli import main
from hst.data.patches import PatchDataset


def test_synth_check_prepare(tmp_path, capsys):
    root = str(tmp_path)
    assert main(["data", "synth", "Rain100H", "GoPro-train", "--root", root, "--count", "3", "--size", "40x48",
                 "--seed", "7"]) == 0  # fmt: skip
    assert "2 twin(s)" in capsys.readouterr().out
    assert main(["data", "check", "Rain100H", "GoPro-train", "--root", root]) == 0
    assert "3 pairs (expected 3): OK" in capsys.readouterr().out
    assert main(["data", "prepare", "GoPro-train", "--root", root]) == 0
    assert "patch cache in" in capsys.readouterr().out
    ds = PatchDataset(tmp_path / "_cache" / "GoPro-train", patch_size=32)
    assert len(ds) == 3 and ds[0][0].shape == (3, 32, 32)

    (tmp_path / "Rain100H" / "target" / "2.png").unlink()
    (tmp_path / "Rain100H" / "input" / "3.png").write_bytes(b"not a png")
    assert main(["data", "check", "Rain100H", "--root", root, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)[0]
    reasons = sorted(p["reason"].split(" (")[0] for p in report["problems"])
    assert reasons == ["2 pairs, expected 3", "cannot decode image", "no target"]


def test_synth_all_and_bad_arguments(tmp_path, capsys):
    assert main(["data", "synth", "--all", "--root", str(tmp_path)]) == 0
    assert "12 twin(s)" in capsys.readouterr().out
    assert main(["data", "check", "--all", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count(": OK") == 12
    assert main(["data", "synth", "--root", str(tmp_path)]) == 2
    assert "name at least one set, or --all" in capsys.readouterr().err
    assert main(["data", "check", "Rain200H", "--root", str(tmp_path)]) == 2
    assert "unknown dataset 'Rain200H'" in capsys.readouterr().err


def test_list_shows_the_registry(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "Deraining-test.zip" in out and "third-party" in out
    assert out.count("\n") >= 14 and "RainTrainH" in out


def test_fetch_from_local_server(server, tmp_path, capsys):
    data = derain_test_zip(sets=("Rain100H", "Rain100L"), n=4)
    server.routes["/mirror/test.zip"] = lambda h, q: send_bytes(h, data)
    override = tmp_path / "override.yaml"
    override.write_text(
        "archives:\n  restormer-derain-test: {size: null, sha256: null, hash_status: unknown}\n"
        "sets:\n  Rain100H: {pairs: 4}\n  Rain100L: {pairs: 4}\n"
    )
    root = tmp_path / "data"
    args = ["data", "fetch", "Rain100H", "Rain100L", "--root", str(root), "--url", server.url("/mirror/test.zip"),
            "--registry-override", str(override), "--no-progress"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("4 pairs (expected 4): OK") == 2
    assert len(server.hits("/mirror/test.zip")) == 1
    assert sorted(p.name for p in (root / "Rain100L" / "input").iterdir()) == ["1.png", "2.png", "3.png", "4.png"]
    assert "restormer-derain-test" in json.loads((root / "registry.lock.json").read_text())["archives"]
    # again: already there, only checked
    assert main(args) == 0 and len(server.hits("/mirror/test.zip")) == 1


def test_fetch_raintrainh_fails_clearly(tmp_path, capsys):
    assert main(["data", "fetch", "RainTrainH", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: RainTrainH:") and "--url" in err and "registry override" in err
    assert len(err.strip().splitlines()) == 1


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hst", "data", "synth", "Rain100L", "--root", str(tmp_path),
                             "--count", "1"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "Rain100L" / "twin.json").exists()
