"""Layouts mapped to <root>/<SET>/{input,target}, and the whole fetch of a set from a local server."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from tests.helpers.data import FAST, derain_test_zip, gopro_official_zip, png_bytes, image, send_bytes, zip_bytes

from hst.data.download import Fetcher
from hst.data.extract import safe_extract
from hst.data.fetch import fetch_set
from hst.data.normalise import normalise
from hst.data.pairs import list_pairs
from hst.data.registry import load_registry
from hst.errors import DataError, DownloadError


def extracted(tmp_path, data: bytes):
    (tmp_path / "a.zip").write_bytes(data)
    return safe_extract(tmp_path / "a.zip", tmp_path / "x")


def test_restormer_test_layout(tmp_path):
    x = extracted(tmp_path, derain_test_zip())
    layout = {"kind": "dirs", "input": "test/Rain100H/input", "target": "test/Rain100H/target"}
    dest = normalise(x, layout, tmp_path / "root" / "Rain100H")
    assert [p.name for p in list_pairs(dest)] == ["1", "2", "3"]
    assert not (x / "test/Rain100H").joinpath("input").exists()  # moved, not copied
    assert (x / "test/Test100/input/1.png").exists()  # the other sets stay for later


def test_restormer_gopro_train_layout(tmp_path):
    files = {f"train/{side}/GOPR0372_07_00-{i:06d}.png": png_bytes(image(i)) for side in ("input", "target") for i in (1, 2)}
    x = extracted(tmp_path, zip_bytes(files))
    dest = normalise(x, {"kind": "dirs", "input": "train/input", "target": "train/target"}, tmp_path / "GoPro-train")
    assert len(list_pairs(dest)) == 2


def test_gopro_official_layout_blur_and_sharp_prefixed(tmp_path):
    x = extracted(tmp_path, gopro_official_zip())
    layout = {"kind": "gopro", "root": "GOPRO_Large/test", "input": "blur", "target": "sharp"}
    dest = normalise(x, layout, tmp_path / "GoPro-test")
    names = sorted(p.name for p in (dest / "input").iterdir())
    assert names == ["GOPR0372_07_00_000001.png", "GOPR0372_07_00_000002.png",
                     "GOPR0374_11_00_000001.png", "GOPR0374_11_00_000002.png"]  # fmt: skip
    assert sorted(p.name for p in (dest / "target").iterdir()) == names
    # blur (not blur_gamma) is the input, sharp the target
    assert (dest / "input" / "GOPR0374_11_00_000002.png").read_bytes() == png_bytes(image(1000 + 20 + 0))
    assert (dest / "target" / "GOPR0374_11_00_000002.png").read_bytes() == png_bytes(image(1000 + 20 + 2))


def test_find_layout_and_its_errors(tmp_path):
    x = extracted(tmp_path, zip_bytes({"RainTrainH/input/1.png": b"a", "RainTrainH/target/1.png": b"b"}))
    dest = normalise(x, {"kind": "find"}, tmp_path / "RainTrainH")
    assert (dest / "target" / "1.png").read_bytes() == b"b"

    two = zip_bytes({f"{d}/{s}/1.png": b"a" for d in ("A", "B") for s in ("input", "target")})
    (tmp_path / "two").mkdir()
    x2 = extracted(tmp_path / "two", two)
    with pytest.raises(DataError, match=r"found 2 \(A, B\).*registry override"):
        normalise(x2, {"kind": "find"}, tmp_path / "Nope")
    assert not (tmp_path / "Nope").exists()


def test_missing_folder_named_and_nothing_written(tmp_path):
    x = extracted(tmp_path, derain_test_zip(sets=("Test100",)))
    with pytest.raises(DataError, match="no folder 'test/Rain100H/input'"):
        normalise(x, {"kind": "dirs", "input": "test/Rain100H/input", "target": "test/Rain100H/target"}, tmp_path / "R")
    assert not (tmp_path / "R").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".R.")]


OVERRIDE = """
archives:
  restormer-derain-test: {{size: null, sha256: null, hash_status: unknown}}
sets:
{sets}
"""


def small_registry(tmp_path, n=3):
    """The real registry, with the derain test archive unpinned and counts of the small test archive."""
    sets = "\n".join(f"  {s}: {{pairs: {n}}}" for s in ("Test100", "Rain100H", "Rain100L", "Test2800", "Test1200"))
    path = tmp_path / "override.yaml"
    path.write_text(OVERRIDE.format(sets=sets))
    return load_registry(path)


def test_fetch_shared_archive_downloaded_once(server, tmp_path):
    data = derain_test_zip()
    server.routes["/test.zip"] = lambda h, q: send_bytes(h, data)
    registry = small_registry(tmp_path)
    root = tmp_path / "root"
    fetcher = Fetcher(root, policy=FAST, progress=False)
    for name in ("Rain100H", "Test100"):
        report = fetch_set(name, root, registry, urls=[server.url("/test.zip")], fetcher=fetcher)
        assert report.ok and report.pairs == 3, report.format()
    assert len(server.hits("/test.zip")) == 1
    lock = (root / "registry.lock.json").read_text()
    assert hashlib.sha256(data).hexdigest() in lock
    assert (root / "_extracted" / "restormer-derain-test").exists()  # three sets still to take
    for name in ("Rain100L", "Test2800", "Test1200"):
        assert fetch_set(name, root, registry, fetcher=fetcher).ok  # from the archive on disk
    assert not (root / "_extracted" / "restormer-derain-test").exists()  # all five in place: tidied
    assert len(server.hits("/test.zip")) == 1


def test_fetch_refetch_after_a_set_was_deleted(server, tmp_path):
    server.routes["/test.zip"] = lambda h, q: send_bytes(h, derain_test_zip())
    registry = small_registry(tmp_path)
    root = tmp_path / "root"
    fetch_set("Rain100H", root, registry, urls=[server.url("/test.zip")], fetcher=Fetcher(root, progress=False))

    shutil.rmtree(root / "Rain100H")  # its files were moved out of the extracted archive: extract again
    assert fetch_set("Rain100H", root, registry, fetcher=Fetcher(root, progress=False)).ok


REGISTRY = """
version: 1
archives:
  restormer:
    {{file: test.zip, type: zip, size: 123, sha256: null, hash_status: third-party,
     sources: [{{kind: file, path: {missing}}}]}}
  official: {{file: GOPRO_Large.zip, type: zip, size: null, sha256: null, hash_status: unknown, sources: []}}
sets:
  GoPro-test:
    task: deblur
    split: test
    protocol: gopro
    pairs: 4
    copies:
      - {{archive: restormer, layout: {{kind: dirs, input: test/GoPro/input, target: test/GoPro/target}}}}
      - {{archive: official, layout: {{kind: gopro, root: GOPRO_Large/test, input: blur, target: sharp}}}}
"""


def test_fetch_falls_back_to_the_next_copy(tmp_path, caplog):
    local = tmp_path / "GOPRO_Large.zip"
    local.write_bytes(gopro_official_zip())
    (tmp_path / "registry.yaml").write_text(REGISTRY.format(missing=tmp_path / "absent.zip"))
    (tmp_path / "override.yaml").write_text(f"archives:\n  official:\n    sources: [{{kind: file, path: '{local}'}}]\n")
    registry = load_registry(tmp_path / "override.yaml", path=tmp_path / "registry.yaml")
    report = fetch_set("GoPro-test", tmp_path / "root", registry, fetcher=Fetcher(tmp_path / "root", progress=False))
    assert report.ok and report.pairs == 4
    assert "trying the next copy: GOPRO_Large.zip" in caplog.text


def test_fetch_count_mismatch_reported(server, tmp_path):
    server.routes["/test.zip"] = lambda h, q: send_bytes(h, derain_test_zip())
    registry = small_registry(tmp_path, n=100)
    report = fetch_set("Rain100H", tmp_path / "root", registry, urls=[server.url("/test.zip")],
                       fetcher=Fetcher(tmp_path / "root", progress=False))  # fmt: skip
    assert not report.ok and "3 pairs, expected 100" in report.format()


def test_fetch_raintrainh_without_a_source_says_what_to_do(tmp_path):
    with pytest.raises(DownloadError, match=r"RainTrainH: .*no source known.*--url URL_OR_PATH.*registry override"):
        fetch_set("RainTrainH", tmp_path, load_registry(), fetcher=Fetcher(tmp_path, progress=False))
    assert not (tmp_path / "RainTrainH").exists()


def test_fetch_replaces_a_twin_but_never_real_data(server, tmp_path):
    from hst.data.synth import make_twin

    server.routes["/test.zip"] = lambda h, q: send_bytes(h, derain_test_zip())
    registry = small_registry(tmp_path)
    root = tmp_path / "root"
    make_twin("Rain100H", root, count=2)
    report = fetch_set("Rain100H", root, registry, urls=[server.url("/test.zip")], fetcher=Fetcher(root, progress=False))
    assert report.ok and report.pairs == 3 and not (root / "Rain100H" / "twin.json").exists()
    (root / "Rain100H" / "input" / "1.png").unlink()  # real data: checked as it is, not fetched again
    report = fetch_set("Rain100H", root, registry, fetcher=Fetcher(root, progress=False))
    assert not report.ok and len(server.hits("/test.zip")) == 1


def test_fetch_into_the_empty_folder_a_workflow_manager_made(server, tmp_path):
    """Snakemake creates <root>/<SET>/ (the folder of the `.fetched` output) before the fetch job starts."""
    server.routes["/test.zip"] = lambda h, q: send_bytes(h, derain_test_zip())
    root = tmp_path / "root"
    (root / "Rain100L").mkdir(parents=True)
    report = fetch_set("Rain100L", root, small_registry(tmp_path), urls=[server.url("/test.zip")],
                       fetcher=Fetcher(root, progress=False))  # fmt: skip
    assert report.ok and report.pairs == 3, report.format()
    assert len(server.hits("/test.zip")) == 1
    marker = json.loads((root / "Rain100L" / ".hst-fetched.json").read_text())
    assert marker["set"] == "Rain100L" and marker["archive"] == "restormer-derain-test"


def test_fetch_moves_a_partial_folder_aside_and_keeps_the_users_files(server, tmp_path, caplog):
    server.routes["/test.zip"] = lambda h, q: send_bytes(h, derain_test_zip())
    root = tmp_path / "root"
    partial = root / "Rain100L"
    (partial / "input").mkdir(parents=True)
    (partial / "input" / "1.png").write_bytes(png_bytes(image(7)))
    (partial / "Thumbs.db").write_bytes(b"not ours")
    report = fetch_set("Rain100L", root, small_registry(tmp_path), urls=[server.url("/test.zip")],
                       fetcher=Fetcher(root, progress=False))  # fmt: skip
    assert report.ok and report.pairs == 3, report.format()
    aside = root / "Rain100L.not-fetched-1"
    assert (aside / "Thumbs.db").read_bytes() == b"not ours" and (aside / "input" / "1.png").exists()
    assert "moved to" in caplog.text and str(aside) in caplog.text


def test_fetch_adopts_a_complete_set_found_in_place_without_downloading(server, tmp_path):
    """A set unpacked by hand (or by an older version) that passes the complete check is taken as it is."""
    server.routes["/test.zip"] = lambda h, q: send_bytes(h, derain_test_zip())
    root = tmp_path / "root"
    for side, offset in (("input", 0), ("target", 50)):
        (root / "Rain100L" / side).mkdir(parents=True)
        for i in (1, 2, 3):
            (root / "Rain100L" / side / f"{i}.png").write_bytes(png_bytes(image(i + offset)))
    report = fetch_set("Rain100L", root, small_registry(tmp_path), urls=[server.url("/test.zip")],
                       fetcher=Fetcher(root, progress=False))  # fmt: skip
    assert report.ok and report.pairs == 3 and not server.hits("/test.zip")
    assert "adopted" in json.loads((root / "Rain100L" / ".hst-fetched.json").read_text())


def test_two_sets_of_one_archive_fetched_at_once_download_it_once(server, tmp_path):
    """A pipeline fetches Rain100H and Rain100L in parallel; both come from one archive."""
    import threading

    data, second = derain_test_zip(), threading.Event()

    def slow(h, q):  # the first request is answered once a second one came, or after 2 s
        if len(server.hits("/test.zip")) > 1:
            second.set()
        else:
            second.wait(2)
        send_bytes(h, data)

    server.routes["/test.zip"] = slow
    registry, root = small_registry(tmp_path), tmp_path / "root"
    reports = {}

    def fetch(name):
        reports[name] = fetch_set(name, root, registry, urls=[server.url("/test.zip")], fetcher=Fetcher(root, policy=FAST, progress=False))

    threads = [threading.Thread(target=fetch, args=(name,)) for name in ("Rain100H", "Rain100L")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(server.hits("/test.zip")) == 1
    assert all(r.ok and r.pairs == 3 for r in reports.values()) and len(reports) == 2
