"""Fetching an archive from its ordered sources: resumable, retried, verified before it gets its name."""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import requests
from tqdm import tqdm

from hst.data.extract import sniff
from hst.data.lock import LOCK_NAME, LockFile
from hst.data.registry import Archive, Source
from hst.errors import DownloadError
from hst.fsutil import sha256_of

log = logging.getLogger("hst.data")

GDRIVE_URL_ENV = "HST_GDRIVE_URL"
GDRIVE_URL = "https://drive.google.com/uc"
ARCHIVES_DIR = "_archives"
_RETRY_STATUS = {429, 500, 502, 503, 504}
_CHUNK = 1 << 16  # small, so that little is lost (and fetched again) when a transfer breaks


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry: waits of ``backoff * 2**k`` seconds, capped."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        wait = self.backoff * 2**attempt if retry_after is None else retry_after
        return min(self.max_backoff, wait)


class _Transient(Exception):
    """A failure worth retrying: a 5xx/429 answer or a transfer cut short."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _GaveUp(DownloadError):
    """Transient failures on every attempt: a partial file is kept for a later resume."""


_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, _Transient)


def _retry_after(response: requests.Response) -> float | None:
    """The server's Retry-After in seconds, when it gives a number."""
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def _with_retries(attempt, policy: RetryPolicy, what: str):
    """Call ``attempt()`` until it returns, retrying transient failures with exponential backoff."""
    last: Exception | None = None
    for k in range(policy.attempts):
        try:
            return attempt()
        except _TRANSIENT as exc:
            last = exc
            if k + 1 < policy.attempts:
                wait = policy.delay(k, getattr(exc, "retry_after", None))
                log.warning("%s: %s; retry %d/%d in %.1fs", what, exc, k + 1, policy.attempts - 1, wait)
                time.sleep(wait)
    raise _GaveUp(f"{what}: gave up after {policy.attempts} attempts ({last})")


class _Page(HTMLParser):
    """What matters in an HTML answer: its title, Drive's download form, Drive's error text."""

    def __init__(self):
        super().__init__()
        self.title, self.error, self.action, self.inputs = "", "", None, {}
        self._in = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "title":
            self._in = "title"
        elif "uc-error-subcaption" in a.get("class", "").split():
            self._in = "error"
        elif tag == "form" and a.get("id") == "download-form":
            self.action = a.get("action", "")
        elif tag == "input" and self.action is not None and a.get("type", "").lower() == "hidden" and a.get("name"):
            self.inputs[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "error":
            self.error += data


def _parse_html(text: str) -> _Page:
    """Parse an HTML answer."""
    page = _Page()
    page.feed(text)
    page.title, page.error = " ".join(page.title.split()), " ".join(page.error.split())
    return page


def _looks_html(response: requests.Response) -> bool:
    """True when an answer says it is a web page (a page sent as a file is caught by its magic bytes later)."""
    return response.headers.get("Content-Type", "").lower().startswith(("text/html", "application/xhtml"))


def _page_text(response: requests.Response) -> str:
    """The first MiB of an HTML answer, as text."""
    return next(response.iter_content(1 << 20), b"").decode(response.encoding or "utf-8", errors="replace")


def _html_error(text: str, label: str, where: str) -> DownloadError:
    """The error for an HTML page where a file was expected (Drive's quota page named as such)."""
    page = _parse_html(text)
    if page.error:
        return DownloadError(
            f"{label}: Google Drive refuses the download for now ({where}): {page.error!r} "
            "(its download quota for this file is used up: try later, or another mirror)"
        )
    title = f" titled {page.title!r}" if page.title else ""
    return DownloadError(f"{label}: {where} answered an HTML page{title}, not the archive")


# What sniff() may say of a file of each expected type: torch.save writes zips since torch 1.6.
ACCEPTS = {"torch": ("torch", "zip")}


@dataclass(frozen=True)
class Expected:
    """What a downloaded file must be; ``why`` says where the hash comes from."""

    type: str = "auto"
    size: int | None = None
    sha256: str | None = None
    why: str = ""


def verify(path: Path, expected: Expected, label: str, where: str) -> str:
    """Check magic bytes, size and sha256 of ``path``; return its sha256 or raise ``DownloadError``."""
    kind = sniff(path)
    if kind == "html":
        raise _html_error(path.read_text(encoding="utf-8", errors="replace")[: 1 << 20], label, where)
    if kind is None or (expected.type != "auto" and kind not in ACCEPTS.get(expected.type, (expected.type,))):
        with open(path, "rb") as fh:
            head = fh.read(8)
        wanted = {"auto": "an archive", "torch": "a torch.save file"}.get(expected.type, f"a {expected.type} archive")
        raise DownloadError(f"{label}: {where} is not {wanted} (its first bytes are {head!r})")
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        raise DownloadError(f"{label}: {where} is {size:,} bytes, expected {expected.size:,} ({expected.why})")
    digest = sha256_of(path)
    if expected.sha256 is not None and digest != expected.sha256:
        raise DownloadError(f"{label}: sha256 of {where} is {digest}, expected {expected.sha256} ({expected.why})")
    return digest


def _transfer(session, url, params, part: Path, label: str, progress: bool, timeout: float) -> None:
    """One attempt at streaming ``url`` into ``part``, resuming from its current size with a Range request."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    with session.get(url, params=params, headers=headers, stream=True, timeout=timeout) as r:
        if r.status_code in _RETRY_STATUS:
            raise _Transient(f"HTTP {r.status_code}", _retry_after(r))
        if r.status_code == 416:
            part.unlink()
            raise _Transient("the server refused the resume range; starting over")
        if r.status_code >= 400:
            raise DownloadError(f"{label}: HTTP {r.status_code} from {r.url}")
        if _looks_html(r):
            raise _html_error(_page_text(r), label, r.url)
        total = int(r.headers["Content-Length"]) if r.headers.get("Content-Length", "").isdigit() else None
        mode = "wb"
        if offset and r.status_code == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", r.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                part.unlink()
                raise _Transient("the server resumed at the wrong offset; starting over")
            mode = "ab"
            total = int(match.group(2)) if match.group(2).isdigit() else None
        elif offset:
            log.info("%s: the server ignored the resume request; starting over", label)
            offset = 0
        with open(part, mode) as fh, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=label, disable=None if progress else True
        ) as bar:
            for chunk in r.iter_content(_CHUNK):
                fh.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size < total:
        raise _Transient(f"transfer cut at {size:,} of {total:,} bytes")


def _download(session, url, params, final: Path, expected: Expected, label, policy, progress, key: str) -> str:
    """Download to ``final.part`` (resuming one left by the same source), verify, then rename to ``final``."""
    part = final.with_name(final.name + ".part")
    owner = final.with_name(final.name + ".part.source")
    if part.exists() and (not owner.exists() or owner.read_text(encoding="utf-8") != key):
        part.unlink()
    final.parent.mkdir(parents=True, exist_ok=True)
    owner.write_text(key, encoding="utf-8")
    try:
        _with_retries(lambda: _transfer(session, url, params, part, label, progress, policy.timeout), policy, f"{label}: {url}")
        digest = verify(part, expected, label, url)
    except DownloadError as exc:
        if not isinstance(exc, _GaveUp):  # a wrong answer, not a broken one: nothing worth resuming
            part.unlink(missing_ok=True)
            owner.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    owner.unlink(missing_ok=True)
    return digest


def _resolve_gdrive(session, file_id: str, base: str, label: str, policy: RetryPolicy) -> tuple[str, dict]:
    """The (url, params) that serve a Drive file, past the virus-scan confirm page; quota pages raise."""
    params = {"id": file_id, "export": "download"}

    def ask():
        with session.get(base, params=params, stream=True, timeout=policy.timeout) as r:
            if r.status_code in _RETRY_STATUS:
                raise _Transient(f"HTTP {r.status_code}", _retry_after(r))
            if r.status_code >= 400:
                raise DownloadError(f"{label}: HTTP {r.status_code} from Google Drive for id {file_id}")
            if not _looks_html(r):
                return base, params
            token = next((v for k, v in r.cookies.items() if k.startswith("download_warning")), None)
            if token:
                return base, {**params, "confirm": token}
            text, url = _page_text(r), r.url
        page = _parse_html(text)
        if page.action is not None and not page.error:
            return urljoin(url, page.action), page.inputs
        raise _html_error(text, label, f"Google Drive id {file_id}")

    return _with_retries(ask, policy, f"{label}: Google Drive id {file_id}")


def _local_path(location: str) -> Path:
    """A path from a ``file`` source: a plain path or a file:// URL."""
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    return Path(location).expanduser()


class Fetcher:
    """Fetches registry archives into ``<root>/_archives`` and keeps ``<root>/registry.lock.json``."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        policy: RetryPolicy | None = None,
        progress: bool = True,
        gdrive_url: str | None = None,
        session: requests.Session | None = None,
    ):
        self.root = Path(root)
        self.policy = policy or RetryPolicy()
        self.progress = progress
        self.gdrive_url = gdrive_url or os.environ.get(GDRIVE_URL_ENV) or GDRIVE_URL
        self.session = session or requests.Session()
        self.lock = LockFile(self.root / LOCK_NAME)
        self._verified: dict[tuple, str] = {}

    def _expected(self, archive: Archive) -> Expected:
        """Pins from the registry; a sha256 the registry does not pin comes from the lock file, if recorded."""
        seen = self.lock.get(archive.name) if archive.sha256 is None else None
        if seen:
            why = f"recorded in {self.lock.path} from {seen['source']}; delete that entry to accept another copy"
            return Expected(archive.type, archive.size or seen["size"], seen["sha256"], why)
        return Expected(archive.type, archive.size, archive.sha256, f"pinned in the registry, {archive.hash_status}")

    def _accept(self, archive: Archive, path: Path, expected: Expected, digest: str, source: str) -> Path:
        """Record an unpinned archive's hash the first time, and remember the file as verified."""
        if archive.sha256 is None and expected.sha256 is None:
            self.lock.record(archive.name, file=archive.file, size=path.stat().st_size, sha256=digest, source=source)
        stat = path.stat()
        self._verified[(str(path), stat.st_size, stat.st_mtime_ns)] = digest
        return path

    def _verify_once(self, path: Path, expected: Expected, label: str, where: str) -> str:
        """:func:`verify`, skipped for a file this fetcher already verified unchanged."""
        stat = path.stat()
        digest = self._verified.get((str(path), stat.st_size, stat.st_mtime_ns))
        if digest is not None and (expected.sha256 is None or digest == expected.sha256):
            return digest
        return verify(path, expected, label, where)

    def _from_source(self, archive: Archive, source: Source, final: Path, expected: Expected) -> Path:
        """Get ``archive`` from one source; the verified path, or ``DownloadError``."""
        label = archive.file
        if source.kind == "page":
            raise DownloadError(
                f"{label}: {source.location} is a web page, not a download: get the file by hand and pass "
                "--url PATH (or add it to a registry override)"
            )
        if source.kind == "file":
            path = _local_path(source.location)
            if not path.is_file():
                raise DownloadError(f"{label}: {path}: no such file")
            digest = self._verify_once(path, expected, label, str(path))
            return self._accept(archive, path, expected, digest, str(source))
        if source.kind == "gdrive":
            url, params = _resolve_gdrive(self.session, source.location, self.gdrive_url, label, self.policy)
        else:
            url, params = source.location, None
        digest = _download(self.session, url, params, final, expected, label, self.policy, self.progress, str(source))
        return self._accept(archive, final, expected, digest, str(source))

    def fetch(self, archive: Archive, extra_sources: tuple[Source, ...] = ()) -> Path:
        """The verified archive on disk: already there, or from the first source that works."""
        final = self.root / ARCHIVES_DIR / archive.file
        expected = self._expected(archive)
        if final.exists():
            try:
                digest = self._verify_once(final, expected, archive.file, str(final))
            except DownloadError as exc:
                raise DownloadError(f"{exc}; it is already on disk: delete it to download again") from None
            return self._accept(archive, final, expected, digest, str(final))
        sources = tuple(extra_sources) + archive.sources
        if not sources:
            note = f" ({archive.note})" if archive.note else ""
            raise DownloadError(
                f"{archive.file}: no source known for archive {archive.name!r}{note}; supply one with "
                "--url URL_OR_PATH or a registry override (--registry-override FILE or $HST_REGISTRY_OVERRIDE)"
            )
        errors = []
        for i, source in enumerate(sources):
            log.info("%s: trying %s", archive.file, source)
            try:
                return self._from_source(archive, source, final, expected)
            except DownloadError as exc:
                errors.append(f"[{i + 1}] {source}: {str(exc).removeprefix(archive.file + ': ')}")
                if i + 1 < len(sources):
                    log.warning("%s; trying the next mirror: %s", exc, sources[i + 1])
        raise DownloadError(
            f"{archive.file}: no source worked: {' '.join(errors)}; "
            "pass --url with another mirror or a copy on disk"
        )
