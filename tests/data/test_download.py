"""The downloader against a real local HTTP server: redirects, Drive's pages, resume, retries, verification, lock."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from tests.helpers.data import FAST, derain_test_zip, send_bytes, send_html, tar_bytes

from hst.data.download import Fetcher, RetryPolicy
from hst.data.registry import Archive, Source
from hst.errors import DownloadError

DATA = derain_test_zip(noise=300_000)  # incompressible filler: several 64 KiB chunks before a cut
SHA = hashlib.sha256(DATA).hexdigest()
CONFIRM_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="hidden" name="id" value="FILEID"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="1234-abcd">
</form></body></html>"""
QUOTA_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<div class="uc-main"><p class="uc-error-caption">Sorry, you can't view or download this file at this time.</p>
<p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try accessing
the file again later.</p></div></body></html>"""


def archive(*sources: Source, sha256: str | None = SHA, size: int | None = None, type: str = "zip") -> Archive:
    status = "unknown" if sha256 is None and size is None else "verified"
    return Archive("test-archive", "test.zip", type, size, sha256, status, tuple(sources))


def url(server, path: str) -> Source:
    return Source("url", server.url(path))


def fetcher(root, server=None, **kw) -> Fetcher:
    gdrive = server.url("/uc") if server else None
    return Fetcher(root, policy=kw.pop("policy", FAST), progress=False, gdrive_url=gdrive, **kw)


def no_leftovers(root):
    """Nothing partial anywhere: no .part files, no temporary files."""
    leftovers = [p for p in root.rglob("*") if p.name.endswith((".part", ".tmp", ".part.source"))]
    assert leftovers == []


def test_plain_download(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, DATA)
    path = fetcher(tmp_path).fetch(archive(url(server, "/a.zip")))
    assert path == tmp_path / "_archives" / "test.zip"
    assert path.read_bytes() == DATA
    no_leftovers(tmp_path)


def test_redirect_is_followed(server, tmp_path):
    def redirect(h, q):
        h.send_response(302)
        h.send_header("Location", server.url("/real.zip"))
        h.end_headers()

    server.routes["/moved.zip"] = redirect
    server.routes["/real.zip"] = lambda h, q: send_bytes(h, DATA)
    assert fetcher(tmp_path).fetch(archive(url(server, "/moved.zip"))).read_bytes() == DATA


def test_google_drive_confirm_form(server, tmp_path):
    server.routes["/uc"] = lambda h, q: send_html(h, CONFIRM_PAGE.format(action=server.url("/download")))

    def download(h, q):
        if q == {"id": "FILEID", "export": "download", "confirm": "t", "uuid": "1234-abcd"}:
            send_bytes(h, DATA)
        else:
            send_html(h, "<html><body>bad request</body></html>", 400)

    server.routes["/download"] = download
    path = fetcher(tmp_path, server).fetch(archive(Source("gdrive", "FILEID")))
    assert path.read_bytes() == DATA
    assert server.hits("/uc")[0][1] == {"id": "FILEID", "export": "download"}


def test_google_drive_small_file_served_directly(server, tmp_path):
    server.routes["/uc"] = lambda h, q: send_bytes(h, DATA)
    assert fetcher(tmp_path, server).fetch(archive(Source("gdrive", "X"))).read_bytes() == DATA


def test_google_drive_quota_page_names_file_and_next_mirror(server, tmp_path, caplog):
    server.routes["/uc"] = lambda h, q: send_html(h, QUOTA_PAGE)
    server.routes["/mirror.zip"] = lambda h, q: send_bytes(h, DATA)
    with caplog.at_level(logging.WARNING, logger="hst.data"):
        path = fetcher(tmp_path, server).fetch(archive(Source("gdrive", "FILEID"), url(server, "/mirror.zip")))
    assert path.read_bytes() == DATA
    warning = caplog.text
    assert "test.zip" in warning and "Too many users" in warning and server.url("/mirror.zip") in warning

    with pytest.raises(DownloadError) as err:
        fetcher(tmp_path / "other", server).fetch(archive(Source("gdrive", "FILEID")))
    message = str(err.value)
    assert message.startswith("test.zip:") and "Too many users" in message and "quota" in message
    assert "--url" in message
    no_leftovers(tmp_path)


def test_html_page_instead_of_archive_is_refused(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_html(h, "<!DOCTYPE html><html><title>Sign in</title></html>")
    with pytest.raises(DownloadError, match="HTML page titled 'Sign in'"):
        fetcher(tmp_path).fetch(archive(url(server, "/a.zip"), sha256=None))
    assert not (tmp_path / "_archives" / "test.zip").exists()
    no_leftovers(tmp_path)


def test_html_served_as_octet_stream_is_refused_by_magic(server, tmp_path):
    page = b"<!DOCTYPE html><html><head><title>Quota</title></head></html>"
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, page, ctype="application/octet-stream")
    with pytest.raises(DownloadError, match="HTML page"):
        fetcher(tmp_path).fetch(archive(url(server, "/a.zip"), sha256=None))
    no_leftovers(tmp_path)


def test_cut_transfer_resumes_with_range(server, tmp_path):
    calls = []

    def flaky(h, q):
        calls.append(h.headers.get("Range"))
        send_bytes(h, DATA, cut_at=len(DATA) // 3 if len(calls) == 1 else None)

    server.routes["/a.zip"] = flaky
    path = fetcher(tmp_path).fetch(archive(url(server, "/a.zip")))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    assert len(calls) == 2 and calls[0] is None
    resumed_at = int(calls[1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= len(DATA) // 3  # what had arrived whole, no more
    no_leftovers(tmp_path)


def test_server_ignoring_range_starts_over(server, tmp_path):
    calls = []

    def no_ranges(h, q):
        calls.append(h.headers.get("Range"))
        send_bytes(h, DATA, ranges=False, cut_at=len(DATA) // 2 if len(calls) == 1 else None)

    server.routes["/a.zip"] = no_ranges
    path = fetcher(tmp_path).fetch(archive(url(server, "/a.zip")))
    assert path.read_bytes() == DATA
    assert calls[1].startswith("bytes=") and calls[1] != "bytes=0-"  # asked to resume, got the whole file


def test_wrong_sha256_refused_and_nothing_kept(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, DATA)
    with pytest.raises(DownloadError, match=f"sha256 of .* is {SHA}, expected 0{{64}}"):
        fetcher(tmp_path).fetch(archive(url(server, "/a.zip"), sha256="0" * 64))
    assert not (tmp_path / "_archives" / "test.zip").exists()
    no_leftovers(tmp_path)


def test_wrong_size_and_wrong_magic_refused(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, DATA)
    server.routes["/a.tgz"] = lambda h, q: send_bytes(h, tar_bytes({"x": b"1"}))
    with pytest.raises(DownloadError, match=f"is {len(DATA):,} bytes, expected 5"):
        fetcher(tmp_path).fetch(archive(url(server, "/a.zip"), sha256=None, size=5))
    with pytest.raises(DownloadError, match=r"is not a zip archive \(its first bytes are b'\\x1f\\x8b"):
        fetcher(tmp_path).fetch(archive(url(server, "/a.tgz"), sha256=None))
    no_leftovers(tmp_path)


def test_first_mirror_down_second_works(server, tmp_path, closed_port_url):
    server.routes["/good.zip"] = lambda h, q: send_bytes(h, DATA)
    path = fetcher(tmp_path).fetch(archive(Source("url", closed_port_url), url(server, "/good.zip")))
    assert path.read_bytes() == DATA


def test_5xx_and_429_are_retried(server, tmp_path):
    answers = iter([503, 429])

    def busy(h, q):
        code = next(answers, None)
        if code:
            h.send_response(code)
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            send_bytes(h, DATA)

    server.routes["/a.zip"] = busy
    assert fetcher(tmp_path).fetch(archive(url(server, "/a.zip"))).read_bytes() == DATA
    assert len(server.hits("/a.zip")) == 3


def test_gives_up_after_the_configured_attempts(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_html(h, "busy", 503)
    policy = RetryPolicy(attempts=2, backoff=0.01, timeout=5)
    with pytest.raises(DownloadError, match="gave up after 2 attempts"):
        fetcher(tmp_path, policy=policy).fetch(archive(url(server, "/a.zip")))
    assert len(server.hits("/a.zip")) == 2


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(backoff=0.5, max_backoff=3)
    assert [policy.delay(k) for k in range(4)] == [0.5, 1.0, 2.0, 3]
    assert policy.delay(0, retry_after=2) == 2


def test_lock_recorded_then_verified(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, DATA)
    unpinned = archive(url(server, "/a.zip"), sha256=None)
    fetcher(tmp_path).fetch(unpinned)
    lock = json.loads((tmp_path / "registry.lock.json").read_text())
    assert lock["archives"]["test-archive"]["sha256"] == SHA
    assert lock["archives"]["test-archive"]["size"] == len(DATA)

    # a later run gets another file from the source: refused against the lock
    (tmp_path / "_archives" / "test.zip").unlink()
    other = derain_test_zip(sets=("Rain100H",))
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, other)
    with pytest.raises(DownloadError, match="recorded in .*registry.lock.json"):
        fetcher(tmp_path).fetch(unpinned)
    assert not (tmp_path / "_archives" / "test.zip").exists()


def test_verified_file_is_not_fetched_twice(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, DATA)
    fetcher(tmp_path).fetch(archive(url(server, "/a.zip")))
    fetcher(tmp_path).fetch(archive(url(server, "/a.zip")))
    assert len(server.hits("/a.zip")) == 1


def test_local_path_and_file_url_used_in_place(tmp_path):
    local = tmp_path / "mine" / "test.zip"
    local.parent.mkdir()
    local.write_bytes(DATA)
    assert fetcher(tmp_path / "r1").fetch(archive(Source("file", str(local)))) == local
    assert fetcher(tmp_path / "r2").fetch(archive(Source("file", local.as_uri()))) == local
    assert not (tmp_path / "r1" / "_archives").exists()
    with pytest.raises(DownloadError, match="no such file"):
        fetcher(tmp_path / "r3").fetch(archive(Source("file", str(tmp_path / "absent.zip"))))


def test_page_sources_are_never_fetched_and_no_source_is_an_error(tmp_path):
    with pytest.raises(DownloadError, match="is a web page, not a download.*--url"):
        fetcher(tmp_path).fetch(archive(Source("page", "https://example.org/dataset")))
    with pytest.raises(DownloadError, match="no source known.*--url URL_OR_PATH.*--registry-override"):
        fetcher(tmp_path).fetch(archive())


def test_partial_file_of_a_previous_run_is_resumed_from_the_same_source(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, DATA)
    src = url(server, "/a.zip")
    part = tmp_path / "_archives" / "test.zip.part"
    part.parent.mkdir()
    part.write_bytes(DATA[:100])
    (part.parent / "test.zip.part.source").write_text(str(src))
    fetcher(tmp_path).fetch(archive(src))
    assert server.hits("/a.zip")[0][2].get("Range") == "bytes=100-"


def test_size_only_pin_records_the_hash_and_checks_the_file_on_disk(server, tmp_path):
    server.routes["/a.zip"] = lambda h, q: send_bytes(h, DATA)
    size_only = archive(url(server, "/a.zip"), sha256=None, size=len(DATA))
    path = fetcher(tmp_path).fetch(size_only)
    assert json.loads((tmp_path / "registry.lock.json").read_text())["archives"]["test-archive"]["sha256"] == SHA
    tampered = bytearray(DATA)
    tampered[-1] ^= 1
    path.write_bytes(bytes(tampered))
    with pytest.raises(DownloadError, match="recorded in .*already on disk: delete it"):
        fetcher(tmp_path).fetch(size_only)
    assert len(server.hits("/a.zip")) == 1
