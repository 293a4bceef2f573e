"""Safe extraction: archives that try to write outside their folder are refused, and nothing is written."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from tests.helpers.data import tar_bytes, tree, zip_bytes

from hst.data.extract import safe_extract, sniff
from hst.errors import DataError


def evil_zip(path, name: str, data: bytes = b"pwned", symlink: str | None = None):
    """A zip with one good member and one bad one (``name``, or a symlink to ``symlink``)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good/a.txt", b"fine")
        info = zipfile.ZipInfo(name)
        if symlink is not None:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            data = symlink.encode()
        zf.writestr(info, data)


def evil_tar(path, member: tarfile.TarInfo, data: bytes = b"pwned"):
    """A tar.gz with one good member, then ``member``."""
    with tarfile.open(path, "w:gz") as tf:
        good = tarfile.TarInfo("good/a.txt")
        good.size = 4
        tf.addfile(good, io.BytesIO(b"fine"))
        if member.isreg():
            member.size = len(data)
            tf.addfile(member, io.BytesIO(data))
        else:
            tf.addfile(member)


def link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def assert_refused(tmp_path, archive, member: str):
    """Extraction fails naming archive and member; nothing lands in or beside the target."""
    before = tree(tmp_path)
    with pytest.raises(DataError) as err:
        safe_extract(archive, tmp_path / "out" / "target")
    assert str(archive) in str(err.value) and repr(member) in str(err.value)
    assert tree(tmp_path) - before <= {"out"}  # only the (empty) parent folder may appear
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "pwned").exists() and not (tmp_path.parent / "pwned").exists()
    assert not Path("/tmp/pwned-by-hst-test").exists()


@pytest.mark.parametrize("name", ["../pwned", "good/../../pwned", "/tmp/pwned-by-hst-test"])
def test_zip_escaping_paths_refused(tmp_path, name):
    archive = tmp_path / "evil.zip"
    evil_zip(archive, name)
    assert_refused(tmp_path, archive, name)


def test_zip_symlink_out_refused_and_inner_symlink_kept(tmp_path):
    archive = tmp_path / "evil.zip"
    evil_zip(archive, "good/link", symlink="../../../etc")
    assert_refused(tmp_path, archive, "good/link")

    fine = tmp_path / "fine.zip"
    evil_zip(fine, "good/link", symlink="a.txt")
    out = safe_extract(fine, tmp_path / "fine")
    assert (out / "good" / "link").is_symlink() and (out / "good" / "link").read_bytes() == b"fine"


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../pwned"),
        tarfile.TarInfo("/tmp/pwned-by-hst-test"),
        link("good/link", "/etc/passwd"),
        link("good/link", "../../pwned"),
        link("good/hard", "../pwned", tarfile.LNKTYPE),
    ],
    ids=["dotdot", "absolute", "abs-symlink", "rel-symlink", "hardlink"],
)
def test_tar_escaping_members_refused(tmp_path, member):
    archive = tmp_path / "evil.tar.gz"
    evil_tar(archive, member)
    assert_refused(tmp_path, archive, member.name)


def test_good_archives_extract_whole(tmp_path):
    files = {"test/Rain100H/input/1.png": b"a", "test/Rain100H/target/1.png": b"b"}
    for name, data in (("a.zip", zip_bytes(files)), ("a.tar.gz", tar_bytes(files)), ("a.tar", tar_bytes(files, "w"))):
        (tmp_path / name).write_bytes(data)
        out = safe_extract(tmp_path / name, tmp_path / f"out-{name}")
        assert (out / "test/Rain100H/target/1.png").read_bytes() == b"b"
    assert sniff(tmp_path / "a.tar") == "tar" and sniff(tmp_path / "a.tar.gz") == "tar.gz"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_existing_target_corrupt_and_foreign_files_refused(tmp_path):
    good = tmp_path / "a.zip"
    good.write_bytes(zip_bytes({"x": b"1"}))
    (tmp_path / "taken").mkdir()
    with pytest.raises(DataError, match="already exists"):
        safe_extract(good, tmp_path / "taken")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(DataError, match=f"{cut}: corrupt"):
        safe_extract(cut, tmp_path / "out")
    text = tmp_path / "page.zip"
    text.write_text("<html></html>")
    with pytest.raises(DataError, match="not a zip or tar archive"):
        safe_extract(text, tmp_path / "out")
    assert not (tmp_path / "out").exists()
