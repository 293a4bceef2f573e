"""A registry set from nothing to a checked ``<root>/<SET>/``: download, verify, extract, normalise, check."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from hst.data.check import CheckReport, check_set
from hst.data.download import ARCHIVES_DIR, Fetcher
from hst.data.extract import safe_extract
from hst.data.normalise import normalise
from hst.data.registry import Copy, Registry, Source
from hst.data.synth import is_twin
from hst.errors import DownloadError
from hst.fsutil import atomic_write_text

log = logging.getLogger("hst.data")

EXTRACTED_DIR = "_extracted"
_TAKEN = ".hst-taken"  # inside an extracted archive: the sets already moved out of it
# Inside a set folder: written by fetch, in the staged folder before it takes the set's name, so a
# folder that holds it holds the whole set as fetch placed it. Nothing else means "fetched": a
# workflow manager creates an output's folder before the job, and a user's folder may be partial.
FETCHED_FILE = ".hst-fetched.json"
_ASIDE = ".not-fetched"  # <root>/<SET>.not-fetched-N: a folder that was in the set's place, kept


def is_fetched(set_dir: str | os.PathLike) -> bool:
    """True for a set folder that fetch placed whole (or adopted after a complete check)."""
    return (Path(set_dir) / FETCHED_FILE).is_file()


def _stamp(folder: Path, name: str, **facts) -> None:
    """Write the marker that makes ``folder`` a fetched set ``name``."""
    atomic_write_text(folder / FETCHED_FILE, json.dumps({"format": "hst-fetched", "version": 1, "set": name, **facts},
                                                        indent=1) + "\n")


def _unpack(copy: Copy, archive_path: Path, root: Path, name: str) -> None:
    """Extract ``archive_path`` once into ``<root>/_extracted/<archive>``, then move set ``name`` out of it."""
    extracted = root / EXTRACTED_DIR / copy.archive.name
    taken = extracted / _TAKEN
    if taken.exists() and name in taken.read_text(encoding="utf-8").split():
        shutil.rmtree(extracted)
    if not extracted.exists():
        log.info("%s: extracting %s", name, archive_path)
        safe_extract(archive_path, extracted)
    facts = {"archive": copy.archive.name, "file": copy.archive.file, "layout": copy.layout}
    try:
        normalise(extracted, copy.layout, root / name, what=f"{name} from {copy.archive.file}",
                  replace=(root / name).exists(), before=lambda tmp: _stamp(tmp, name, **facts))  # fmt: skip
    except BaseException:
        shutil.rmtree(extracted, ignore_errors=True)
        raise
    with open(taken, "a", encoding="utf-8") as fh:
        fh.write(name + "\n")


def _tidy(registry: Registry, archive: str, root: Path) -> None:
    """Remove an extracted archive once every set that comes from it is in place."""
    if all(is_fetched(root / s) for s in registry.sets_of(archive)):
        shutil.rmtree(root / EXTRACTED_DIR / archive, ignore_errors=True)


@contextlib.contextmanager
def _archive_lock(root: Path, archive: str):
    """Hold ``<root>/_archives/<archive>.lock``: one process at a time downloads and unpacks an archive.

    Several sets share an archive (the five deraining test sets), and a pipeline fetches them in parallel.
    """
    path = root / ARCHIVES_DIR / f"{archive}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _clear_the_way(dest: Path, name: str, expected: int) -> CheckReport | None:
    """Make ``dest`` fetchable; return the check's report when it already holds the whole set.

    A twin is replaced later, and an empty folder too. A folder that passes the complete check
    (the registry's pair count, every file decoded and paired: a set put there by hand or by an
    older version) is adopted. Anything else is the user's, not ours: moved aside, never deleted.
    """
    if not dest.exists() and not dest.is_symlink():
        return None
    if dest.is_dir() and is_twin(dest):
        log.info("%s: the synthetic twin in %s will be replaced by the real set", name, dest)
        return None
    if dest.is_dir():
        if not any(dest.iterdir()):
            return None
        report = check_set(dest, expected)
        if report.ok:
            log.info("%s: a complete set is already in %s (%d pairs, checked); taken as fetched", name, dest, report.pairs)
            _stamp(dest, name, adopted="a complete set found in place; the check passed")
            return report
        why = report.problems[0].reason
    else:
        why = "not a folder"
    n = 1
    while (aside := dest.with_name(f"{dest.name}{_ASIDE}-{n}")).exists():
        n += 1
    os.replace(dest, aside)
    log.warning("%s: %s holds no complete set (%s); moved to %s, kept, and fetching the set", name, dest, why, aside)
    return None


def fetch_set(
    name: str,
    root: str | os.PathLike,
    registry: Registry,
    *,
    urls: Sequence[str] = (),
    fetcher: Fetcher | None = None,
) -> CheckReport:
    """Fetch set ``name`` into ``<root>/<name>`` (skipped when fetched already, a twin replaced) and check it.

    ``urls`` (a mirror, a file:// URL or a path) are tried first, before each copy's own sources.
    """
    root = Path(root)
    dataset = registry.get(name)
    dest = root / name
    if is_fetched(dest):
        log.info("%s: already in %s; checking it", name, dest)
        return check_set(dest, dataset.pairs)
    adopted = _clear_the_way(dest, name, dataset.pairs)
    if adopted is not None:
        return adopted
    fetcher = fetcher or Fetcher(root)
    extra = tuple(Source.from_user(u) for u in urls) + dataset.sources
    errors = []
    for i, copy in enumerate(dataset.copies):
        with _archive_lock(root, copy.archive.name):
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
