"""Safe extraction of zip and tar archives: nothing lands outside the target folder, or the target at all on refusal."""

from __future__ import annotations

import os
import posixpath
import re
import stat
import tarfile
import zipfile
from pathlib import Path

from hst.data.atomic import staged_dir
from hst.errors import DataError


# torch.save's legacy (pre-1.6) format: a pickle (protocol 2) whose first object is torch's magic number.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def sniff(path: str | os.PathLike) -> str | None:
    """The type a file's magic bytes say (``zip``, ``tar.gz``, ``tar``, ``torch`` for a legacy torch.save
    file; torch's current format is a ``zip``), ``html``, or None."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(TORCH_LEGACY_MAGIC):
        return "torch"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head[257:262] == b"ustar":
        return "tar"
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    return None


def _escapes(name: str) -> str | None:
    """Why an archive path would leave the target folder, or None."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[\\/]+", name):
        return "'..' in its path"
    return None


def _extract_zip(archive: Path, dest: Path) -> None:
    """Extract a zip into ``dest`` after checking every member; symlinks are created last."""
    with zipfile.ZipFile(archive) as zf:
        links = []
        for info in zf.infolist():
            why = _escapes(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                link = zf.read(info).decode("utf-8", "replace")
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(info.filename.rstrip("/")), link))
                if link.startswith(("/", "\\")) or resolved == ".." or resolved.startswith("../"):
                    why = why or f"symlink to {link!r}, outside the folder"
                links.append((info, link))
            if why:
                raise DataError(f"{archive}: refused member {info.filename!r}: {why}")
        for info in zf.infolist():
            if not stat.S_ISLNK(info.external_attr >> 16):
                zf.extract(info, dest)
        for info, link in links:
            path = dest / info.filename.rstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(link, path)


def _extract_tar(archive: Path, dest: Path) -> None:
    """Extract a tar (plain or compressed) with tarfile's ``data`` filter, after checking every member."""
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            why = _escapes(member.name)  # the data filter would quietly strip a leading '/'
            if why:
                raise DataError(f"{archive}: refused member {member.name!r}: {why}")
            try:
                tarfile.data_filter(member, str(dest))
            except tarfile.FilterError as exc:
                raise DataError(f"{archive}: refused member {member.name!r}: {exc}") from None
        tf.extractall(dest, filter="data")


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract ``archive`` into a new folder ``target`` (temporary folder beside it, then a rename)."""
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DataError(f"{archive}: no such archive")
    kind = sniff(archive)
    if kind not in ("zip", "tar", "tar.gz"):
        raise DataError(f"{archive}: not a zip or tar archive")
    try:
        with staged_dir(target) as tmp:
            (_extract_zip if kind == "zip" else _extract_tar)(archive, tmp)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: corrupt or unreadable archive ({exc})") from None
    return target
