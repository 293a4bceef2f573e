"""Atomic writes: all or nothing under the final name, ordinary file modes, clear errors."""

import os

import pytest

from hst.errors import HSTError
from hst.fsutil import atomic_write_text


def test_write_replaces_whole_and_leaves_no_temp(tmp_path):
    atomic_write_text(tmp_path / "a" / "f.csv", "x\n")
    atomic_write_text(tmp_path / "a" / "f.csv", "y\n")
    assert (tmp_path / "a" / "f.csv").read_text() == "y\n"
    assert os.listdir(tmp_path / "a") == ["f.csv"]


def test_failure_midway_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.csv"
    atomic_write_text(target, "old\n")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["f.csv"]


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HSTError, match="file/sub/f.csv: cannot write"):
        atomic_write_text(blocker / "sub" / "f.csv", "x")
