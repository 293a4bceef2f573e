"""End to end on real-source data: a study with ``data.source: real`` whose registry override points at
small archives in the real sets' layouts, served by a loopback HTTP server or read from disk; the
pipeline fetches, checks, trains on and scores every set, then writes the tables and the report."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers.data import Server, png_bytes, send_bytes, tar_bytes, zip_bytes
from tests.helpers.pipeline import REPORT_TABLES, snakemake, tiny_study

from hst.data.synth import TWINS, make_pair

TRAIN, TEST = (40, 40), (24, 40)  # height, width: the tiny study's twins' sizes
# set -> pairs, and the file each archive is reached by (url: the loopback server; file: a path on disk)
PAIRS = {"Rain13K": 3, "RainTrainH": 3, "Rain100H": 2, "Rain100L": 2, "GoPro-train": 4, "GoPro-test": 2, "RealBlur-J": 2}


def pairs(name: str, n: int, size: tuple[int, int]) -> list[tuple[bytes, bytes]]:
    """``n`` (input, target) PNGs degraded as the set is (hst.data.synth's degradations)."""
    out = []
    for i in range(n):
        degraded, clean, _ = make_pair(TWINS[name], np.random.default_rng([7, i, len(name)]), size)
        out.append((png_bytes(degraded), png_bytes(clean)))
    return out


def restormer(folder: str, name: str, size) -> dict[str, bytes]:
    """Restormer's layout: ``<folder>/{input,target}/<i>.png``."""
    files = {}
    for i, (inp, tgt) in enumerate(pairs(name, PAIRS[name], size), 1):
        files[f"{folder}/input/{i}.png"], files[f"{folder}/target/{i}.png"] = inp, tgt
    return files


def gopro_official() -> dict[str, bytes]:
    """GoPro's own layout: ``GOPRO_Large/{train,test}/SEQ/{blur,blur_gamma,sharp}/NNNNNN.png``."""
    files = {}
    for split, name, size in (("train", "GoPro-train", TRAIN), ("test", "GoPro-test", TEST)):
        for k, (inp, tgt) in enumerate(pairs(name, PAIRS[name], size)):
            seq, frame = f"GOPR037{k % 2}_11_00", f"{k // 2 + 1:06d}.png"
            for sub, data in (("blur", inp), ("blur_gamma", inp[::-1]), ("sharp", tgt)):
                files[f"GOPRO_Large/{split}/{seq}/{sub}/{frame}"] = data
    return files


def archives() -> dict[str, bytes]:
    """Registry archive name -> its bytes, each in the layout the registry reads it with."""
    derain_test = {**restormer("test/Rain100H", "Rain100H", TEST), **restormer("test/Rain100L", "Rain100L", TEST),
                   "test/Rain100L/input/Thumbs.db": b"stray"}  # fmt: skip
    return {
        "restormer-derain-train": zip_bytes(restormer("train/Rain13K", "Rain13K", TRAIN)),
        "restormer-derain-test": zip_bytes(derain_test),
        "gopro-official": zip_bytes(gopro_official()),
        "restormer-realblur-j-test": zip_bytes(restormer("test/RealBlur_J", "RealBlur-J", TEST)),
        "raintrainh": tar_bytes(restormer("Rain1800", "RainTrainH", TRAIN)),  # layout kind find, type auto
    }


def real_study(tmp: Path, server: Server) -> Path:
    """The tiny study on ``data.source: real``, with a registry override naming the archives, pinned."""
    blobs = archives()
    (tmp / "archives").mkdir()
    for name, data in blobs.items():
        (tmp / "archives" / name).write_bytes(data)
    for name in ("restormer-derain-train", "restormer-derain-test"):
        server.routes[f"/files/{name}"] = lambda h, q, data=blobs[name]: send_bytes(h, data)

    def moved(h, q):
        h.send_response(302)
        h.send_header("Location", server.url("/files/restormer-derain-train"))
        h.end_headers()

    server.routes["/moved/restormer-derain-train"] = moved
    sources = {
        "restormer-derain-train": {"kind": "url", "url": server.url("/moved/restormer-derain-train")},
        "restormer-derain-test": {"kind": "url", "url": server.url("/files/restormer-derain-test")},
    }
    override = {"archives": {}, "sets": {name: {"pairs": n} for name, n in PAIRS.items()}}
    for name, data in blobs.items():
        source = sources.get(name) or {"kind": "file", "path": str(tmp / "archives" / name)}
        override["archives"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                      "hash_status": "verified", "sources": [source]}  # fmt: skip
    for name, split in (("GoPro-train", "train"), ("GoPro-test", "test")):  # GoPro's own copy first
        layout = {"kind": "gopro", "root": f"GOPRO_Large/{split}", "input": "blur", "target": "sharp"}
        override["sets"][name]["copies"] = [{"archive": "gopro-official", "layout": layout}]
    (tmp / "sources.yaml").write_text(yaml.safe_dump(override))

    config = tiny_study(tmp)
    study = yaml.safe_load(config.read_text())
    study["name"] = "real-source test"
    study["data"] = {"source": "real", "root": "data/real", "registry_override": str(tmp / "sources.yaml")}
    study["experiments"]["deblur"]["test_sets"] = ["GoPro-test", "RealBlur-J"]
    study["experiments"]["ablation"].update(samplers=["stochastic"], seeds=[0])  # RainTrainH's one training
    config.write_text(yaml.safe_dump(study))
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory, complexity_outputs):
    tmp = tmp_path_factory.mktemp("real")
    # Table 1's inputs, the same for every study (tests/pipeline/conftest.py): this test is about the data.
    shutil.copytree(complexity_outputs, tmp / "results" / "complexity")
    server = Server()
    try:
        config = real_study(tmp, server)
        first = snakemake(tmp, "--cores", "2", "--configfile", str(config))
        again = snakemake(tmp, "--cores", "2", "--configfile", str(config), "-n")
        yield tmp, server, first.stdout + first.stderr, again.stdout + again.stderr
    finally:
        server.close()


@pytest.mark.slow
def test_every_set_is_fetched_by_the_pipeline_checked_and_scored(finished):
    tmp, server, _, _ = finished
    root = tmp / "data/real"
    for name, n in PAIRS.items():
        log = (tmp / f"results/logs/data/fetch_{name}.log").read_text()
        assert f"{n} pairs (expected {n}): OK" in log, log
        marker = json.loads((root / name / ".hst-fetched.json").read_text())
        assert marker["set"] == name and "adopted" not in marker  # placed by fetch, not found in place
        report = json.loads((tmp / "results" / "data" / f"{name}.json").read_text())[0]  # the check rule's
        assert report["ok"] and report["pairs"] == n and report["expected"] == n
    assert "ignored" in (tmp / "results/logs/data/fetch_Rain100L.log").read_text()  # the stray Thumbs.db
    # each served archive came once, the training one through a redirect; the shared ones were tidied
    assert len(server.hits("/files/restormer-derain-test")) == 1
    assert len(server.hits("/moved/restormer-derain-train")) == 1 and len(server.hits("/files/restormer-derain-train")) == 1
    # an archive is unpacked once and tidied once every set it holds is in place; the deraining test
    # archive also holds Test100, Test2800 and Test1200, not in this study: kept for them
    assert sorted(p.name for p in (root / "_extracted").iterdir()) == ["restormer-derain-test"]
    assert sorted(p.name for p in (root / "GoPro-test" / "input").iterdir()) == [
        "GOPR0370_11_00_000001.png", "GOPR0371_11_00_000001.png"]  # fmt: skip
    results = tmp / "results"
    for run in ("derain-tiny", "deblur-tiny"):
        for test_set in {"derain-tiny": ("Rain100H", "Rain100L"), "deblur-tiny": ("GoPro-test", "RealBlur-J")}[run]:
            summary = pd.read_csv(results / "eval" / run / test_set / "summary.csv")
            assert summary.shape[0] >= 1 and np.isfinite(summary.select_dtypes("number").to_numpy()).all()
            assert (results / "eval" / "input" / test_set / "summary.csv").exists()


@pytest.mark.slow
def test_tables_and_report_say_real_data(finished):
    tmp, _, _, _ = finished
    tables = tmp / "results" / "tables"
    for i in range(1, 7):
        md = (tables / f"table{i}.md").read_text()
        assert "SYNTHETIC TWINS" not in md and "synthetic twins" not in md, f"table{i}"
        assert "the real datasets" in md, f"table{i}"
    t2 = pd.read_csv(tables / "table2.csv", comment="#")
    assert dict(zip(t2.set, t2["pairs found"])) == PAIRS and t2.ok.all()
    t3 = pd.read_csv(tables / "table3.csv", comment="#")
    assert "HST-tiny [this harness]" in set(t3.method)
    for piece in REPORT_TABLES:
        assert "SYNTHETIC" not in (tmp / piece).read_text(), piece


@pytest.mark.slow
def test_a_second_run_has_nothing_to_do(finished):
    _, _, first, again = finished
    assert "fetch" in first and "Nothing to be done" in again, again
