"""Released weights of baseline models as data: a registry (``hst/data/weights.yaml``), a checked download,
and recognition of a fetched file by its SHA-256 so that it loads like one of our checkpoints.

:func:`fetch_weights` downloads one with the datasets' resumable downloader (size and SHA-256
verified, HTML pages refused); :mod:`hst.engine.released` turns it into a checkpoint of ours and is
the ``python -m hst weights`` command.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hst.data.registry import SOURCE_SCHEMA, Archive, Source
from hst.errors import ConfigError
from hst.schema import read_yaml, validate

DEFAULT_PATH = Path(__file__).with_name("weights.yaml")
DEFAULT_ROOT = "weights"

_PUBLISHED = {
    "type": "object", "additionalProperties": False, "required": ["set", "psnr", "ssim", "protocol", "source"],
    "properties": {"set": {"type": "string"}, "psnr": {"type": "number"}, "ssim": {"type": "number"},
                   "protocol": {"type": "string"}, "source": {"type": "string"}},
}
_ENTRY = {
    "type": "object", "additionalProperties": False,
    "required": ["arch", "config", "file", "size", "sha256", "trained_on", "sources", "published"],
    "properties": {
        "arch": {"type": "string"}, "config": {"type": "object"},
        "file": {"type": "string", "pattern": r"^[^/\\]+$"},
        "size": {"type": "integer", "minimum": 1}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "trained_on": {"type": "string"}, "sources": {"type": "array", "items": SOURCE_SCHEMA},
        "published": {"type": "array", "items": _PUBLISHED},
    },
}
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["version", "weights"],
          "properties": {"version": {"const": 1}, "weights": {"type": "object", "additionalProperties": _ENTRY}}}


@dataclass(frozen=True)
class Weights:
    """One released weight file: what it is, where it comes from, what its authors published with it."""

    name: str
    arch: str
    config: dict[str, Any]
    trained_on: str
    published: tuple[dict[str, Any], ...]
    archive: Archive  # the file as the downloader sees it (type "torch", size and sha256 pinned)


def load_weights_registry(path: str | os.PathLike = DEFAULT_PATH) -> dict[str, Weights]:
    """The validated registry, keyed by name; ConfigError naming the file and key otherwise."""
    from hst.models import ARCHS

    path = Path(path)
    data = read_yaml(path, "weights registry")
    validate(data, SCHEMA, str(path))
    out = {}
    for name, w in data["weights"].items():
        if w["arch"] not in ARCHS:
            raise ConfigError(f"{path}: weights.{name}.arch: unknown architecture {w['arch']!r}; "
                              f"choose one of {', '.join(ARCHS)}")
        sources = tuple(Source.from_dict(s) for s in w["sources"])
        archive = Archive(name, w["file"], "torch", w["size"], w["sha256"], "verified", sources)
        out[name] = Weights(name, w["arch"], dict(w["config"]), w["trained_on"], tuple(w["published"]), archive)
    return out


def get_weights(name: str, registry: dict[str, Weights] | None = None) -> Weights:
    registry = load_weights_registry() if registry is None else registry
    if name not in registry:
        raise ConfigError(f"weights: no released weights called {name!r}; known: {', '.join(registry)}")
    return registry[name]


def identify(sha256: str, registry: dict[str, Weights] | None = None) -> Weights | None:
    """The registry entry whose pinned SHA-256 is ``sha256``, or None."""
    registry = load_weights_registry() if registry is None else registry
    return next((w for w in registry.values() if w.archive.sha256 == sha256), None)


def fetch_weights(name: str, root: str | os.PathLike = DEFAULT_ROOT, *, urls: tuple[str, ...] = (),
                  progress: bool = True, registry: dict[str, Weights] | None = None) -> Path:
    """Released weights ``name`` at ``<root>/<file>``, verified: already there, or downloaded (resumable)."""
    import shutil

    from hst.data.download import ARCHIVES_DIR, Expected, Fetcher, verify
    from hst.errors import DownloadError

    weights = get_weights(name, registry)
    archive, root = weights.archive, Path(root)
    final = root / archive.file
    if final.exists():
        try:
            verify(final, Expected(archive.type, archive.size, archive.sha256, "pinned in hst/data/weights.yaml"),
                   archive.file, str(final))
        except DownloadError as exc:
            raise DownloadError(f"{exc}; it is already on disk: delete it to download again") from None
        return final
    path = Fetcher(root, progress=progress).fetch(archive, tuple(Source.from_user(u) for u in urls))
    root.mkdir(parents=True, exist_ok=True)
    if path.parent == root / ARCHIVES_DIR:  # downloaded: move it up
        os.replace(path, final)
        with contextlib.suppress(OSError):
            path.parent.rmdir()
    else:  # a file source, verified where it is: copy it, atomically
        tmp = final.with_name(final.name + ".part")
        shutil.copyfile(path, tmp)
        os.replace(tmp, final)
    return final
