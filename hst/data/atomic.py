"""Folders that appear whole under their final name, or not at all (files: ``hst.fsutil``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hst.errors import DataError
from hst.fsutil import default_file_mode


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; rename it to ``target`` when the block succeeds.

    On an exception the temporary folder is removed and ``target`` is left as it was.
    With ``replace``, an existing ``target`` is swapped out and deleted after the rename.
    """
    target = Path(target)
    if target.exists() and not replace:
        raise DataError(f"{target}: already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, default_file_mode(directory=True))
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)) / "x"
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
