"""A registry set from nothing to a checked ``<root>/<SET>/``: download, verify, extract, normalise, check."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from hst.data.check import CheckReport, check_set
from hst.data.download import Fetcher
from hst.data.extract import safe_extract
from hst.data.normalise import normalise
from hst.data.registry import Copy, Registry, Source
from hst.data.synth import TWIN_FILE
from hst.errors import DownloadError

log = logging.getLogger("hst.data")

EXTRACTED_DIR = "_extracted"
_TAKEN = ".hst-taken"  # inside an extracted archive: the sets already moved out of it


def _is_real(set_dir: Path) -> bool:
    """True for a set folder that holds fetched data, not a synthetic twin."""
    return set_dir.is_dir() and not (set_dir / TWIN_FILE).exists()


def _unpack(copy: Copy, archive_path: Path, root: Path, name: str) -> None:
    """Extract ``archive_path`` once into ``<root>/_extracted/<archive>``, then move set ``name`` out of it."""
    extracted = root / EXTRACTED_DIR / copy.archive.name
    taken = extracted / _TAKEN
    if taken.exists() and name in taken.read_text(encoding="utf-8").split():
        shutil.rmtree(extracted)
    if not extracted.exists():
        log.info("%s: extracting %s", name, archive_path)
        safe_extract(archive_path, extracted)
    try:
        replace = (root / name).is_dir() and not _is_real(root / name)
        normalise(extracted, copy.layout, root / name, what=f"{name} from {copy.archive.file}", replace=replace)
    except BaseException:
        shutil.rmtree(extracted, ignore_errors=True)
        raise
    with open(taken, "a", encoding="utf-8") as fh:
        fh.write(name + "\n")


def _tidy(registry: Registry, archive: str, root: Path) -> None:
    """Remove an extracted archive once every set that comes from it is in place."""
    if all(_is_real(root / s) for s in registry.sets_of(archive)):
        shutil.rmtree(root / EXTRACTED_DIR / archive, ignore_errors=True)


def fetch_set(
    name: str,
    root: str | os.PathLike,
    registry: Registry,
    *,
    urls: Sequence[str] = (),
    fetcher: Fetcher | None = None,
) -> CheckReport:
    """Fetch set ``name`` into ``<root>/<name>`` (skipped when already there, a twin replaced) and check it.

    ``urls`` (a mirror, a file:// URL or a path) are tried first, before each copy's own sources.
    """
    root = Path(root)
    dataset = registry.get(name)
    dest = root / name
    if _is_real(dest):
        log.info("%s: already in %s; checking it", name, dest)
        return check_set(dest, dataset.pairs)
    if dest.exists():
        log.info("%s: the synthetic twin in %s will be replaced by the real set", name, dest)
    fetcher = fetcher or Fetcher(root)
    extra = tuple(Source.from_user(u) for u in urls) + dataset.sources
    errors = []
    for i, copy in enumerate(dataset.copies):
        try:
            path = fetcher.fetch(copy.archive, extra)
        except DownloadError as exc:
            errors.append(str(exc))
            if i + 1 < len(dataset.copies):
                log.warning("%s; trying the next copy: %s", exc, dataset.copies[i + 1].archive.file)
            continue
        _unpack(copy, path, root, name)
        _tidy(registry, copy.archive.name, root)
        return check_set(dest, dataset.pairs)
    raise DownloadError(f"{name}: " + " | ".join(errors))
