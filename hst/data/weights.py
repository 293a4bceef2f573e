"""Released weights of baseline models as data: a registry (``hst/data/weights.yaml``), a checked download,
and recognition of a fetched file (or of a folder holding a model of several files) by SHA-256 so that it
loads like one of our checkpoints.

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
_FILE = {
    "type": "object", "additionalProperties": False, "required": ["part", "size", "sha256"],
    "properties": {"part": {"type": "string", "pattern": r"^[A-Za-z0-9_.]+$"}, "size": {"type": "integer", "minimum": 1},
                   "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
}
_FILE_NAME = r"^[^/\\]+$"
_ENTRY = {
    "type": "object", "additionalProperties": False,
    "required": ["arch", "config", "trained_on", "sources", "published"],
    "properties": {
        "arch": {"type": "string"}, "config": {"type": "object"},
        "file": {"type": "string", "pattern": _FILE_NAME},
        "size": {"type": "integer", "minimum": 1}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "strip_prefix": {"type": "string", "minLength": 1},
        "folder": {"type": "string", "pattern": _FILE_NAME},
        "files": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": _FILE_NAME},
                  "additionalProperties": _FILE},
        "trained_on": {"type": "string"}, "sources": {"type": "array", "items": SOURCE_SCHEMA},
        "published": {"type": "array", "items": _PUBLISHED},
    },
    # One released file (file, size, sha256), or a model of several files in a folder (folder, files).
    "oneOf": [{"required": ["file", "size", "sha256"], "not": {"anyOf": [{"required": ["folder"]}, {"required": ["files"]}]}},
              {"required": ["folder", "files"], "not": {"anyOf": [{"required": ["file"]}, {"required": ["size"]},
                                                                   {"required": ["sha256"]}]}}],
}
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["version", "weights"],
          "properties": {"version": {"const": 1}, "weights": {"type": "object", "additionalProperties": _ENTRY}}}


@dataclass(frozen=True)
class Part:
    """One file of a model of several files: the file as the downloader sees it, and ``prefix``, where its
    keys go in the harness model's state dict (``encoder.s1_lv1``)."""

    archive: Archive
    prefix: str


@dataclass(frozen=True)
class Weights:
    """Released weights: one file (``archive``) or a model of several files (``parts``, fetched into
    ``folder``); what it is, where it comes from, what its authors published with it."""

    name: str
    arch: str
    config: dict[str, Any]
    trained_on: str
    published: tuple[dict[str, Any], ...]
    archive: Archive | None  # the one file as the downloader sees it (type "torch", size and sha256 pinned)
    parts: tuple[Part, ...] = ()
    folder: str | None = None
    strip_prefix: str = ""  # removed from the file's keys before loading (nn.DataParallel's "module.")

    @property
    def archives(self) -> tuple[Archive, ...]:
        """Every file of these weights."""
        return (self.archive,) if self.archive is not None else tuple(p.archive for p in self.parts)

    @property
    def size(self) -> int:
        """Bytes of all the files together."""
        return sum(a.size or 0 for a in self.archives)

    @property
    def location(self) -> str:
        """What ``--checkpoint`` takes: the file's name, or the folder's."""
        return self.archive.file if self.archive is not None else self.folder

    def state_dict(self, path: str | os.PathLike) -> dict[str, Any]:
        """The harness model's state dict from the fetched file, or from the folder of files, each loaded with
        ``torch.load(weights_only=True)``; DataError naming a file that is missing or is no state dict."""
        import torch

        from hst.errors import DataError

        path = Path(path)
        files = [(path, "")] if self.archive is not None else [(path / p.archive.file, p.prefix + ".") for p in self.parts]
        state: dict[str, Any] = {}
        for file, prefix in files:
            if not file.is_file():
                raise DataError(f"{file}: missing, a file of released weights {self.name!r}")
            try:
                loaded = torch.load(file, map_location="cpu", weights_only=True)
            except Exception as exc:  # pickle errors, truncated files
                first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
                raise DataError(f"{file}: not a readable weight file ({type(exc).__name__}: {first})") from None
            if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
                raise DataError(f"{file}: not a state dict of tensors")
            for key, value in loaded.items():
                state[prefix + key.removeprefix(self.strip_prefix)] = value
        return state


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
        common = (name, w["arch"], dict(w["config"]), w["trained_on"], tuple(w["published"]))
        if "file" in w:
            archive = Archive(name, w["file"], "torch", w["size"], w["sha256"], "verified", sources)
            out[name] = Weights(*common, archive, strip_prefix=w.get("strip_prefix", ""))
        else:
            parts = tuple(Part(Archive(f"{name}/{file}", file, "torch", f["size"], f["sha256"], "verified",
                                       tuple(_in_folder(s, file) for s in sources)), f["part"])
                          for file, f in w["files"].items())
            out[name] = Weights(*common, None, parts, w["folder"], w.get("strip_prefix", ""))
    return out


def _in_folder(source: Source, file: str) -> Source:
    """A source of a folder (URL or path) as the source of one of its files."""
    if source.kind == "file":
        return Source(source.kind, str(Path(source.location) / file), source.note)
    return Source(source.kind, source.location.rstrip("/") + "/" + file, source.note)


def get_weights(name: str, registry: dict[str, Weights] | None = None) -> Weights:
    registry = load_weights_registry() if registry is None else registry
    if name not in registry:
        raise ConfigError(f"weights: no released weights called {name!r}; known: {', '.join(registry)}")
    return registry[name]


def identify(sha256: str, registry: dict[str, Weights] | None = None) -> Weights | None:
    """The single-file registry entry whose pinned SHA-256 is ``sha256``, or None."""
    registry = load_weights_registry() if registry is None else registry
    return next((w for w in registry.values() if w.archive is not None and w.archive.sha256 == sha256), None)


def identify_folder(folder: str | os.PathLike, registry: dict[str, Weights] | None = None) -> Weights | None:
    """The model of several files that ``folder`` holds under its published names, every file's SHA-256 the
    pinned one (other files beside them are ignored), or None."""
    from hst.fsutil import sha256_of

    registry = load_weights_registry() if registry is None else registry
    folder = Path(folder)
    digests: dict[Path, str] = {}

    def digest(path: Path) -> str:
        if path not in digests:
            digests[path] = sha256_of(path)
        return digests[path]

    for w in registry.values():
        if w.parts and all((folder / p.archive.file).is_file() and (folder / p.archive.file).stat().st_size == p.archive.size
                           for p in w.parts):
            if all(digest(folder / p.archive.file) == p.archive.sha256 for p in w.parts):
                return w
    return None


def fetch_weights(name: str, root: str | os.PathLike = DEFAULT_ROOT, *, urls: tuple[str, ...] = (),
                  progress: bool = True, registry: dict[str, Weights] | None = None) -> Path:
    """Released weights ``name``, verified: the file ``<root>/<file>``, or for a model of several files the
    folder ``<root>/<folder>`` holding them; already there, or downloaded (resumable). A ``urls`` entry of
    a model of several files is a folder (URL or path) holding them under their published names."""
    weights = get_weights(name, registry)
    root = Path(root)
    if weights.archive is not None:
        return _fetch_file(weights.archive, root, tuple(Source.from_user(u) for u in urls), progress)
    folder = root / weights.folder
    for part in weights.parts:
        extra = tuple(_in_folder(Source.from_user(u), part.archive.file) for u in urls)
        _fetch_file(part.archive, folder, extra, progress)
    return folder


def _fetch_file(archive: Archive, root: Path, extra: tuple[Source, ...], progress: bool) -> Path:
    """One pinned file at ``<root>/<file>``: already there and verified, or downloaded (or copied) there."""
    import shutil

    from hst.data.download import ARCHIVES_DIR, Expected, Fetcher, verify
    from hst.errors import DownloadError

    final = root / archive.file
    if final.exists():
        try:
            verify(final, Expected(archive.type, archive.size, archive.sha256, "pinned in hst/data/weights.yaml"),
                   archive.file, str(final))
        except DownloadError as exc:
            raise DownloadError(f"{exc}; it is already on disk: delete it to download again") from None
        return final
    path = Fetcher(root, progress=progress).fetch(archive, extra)
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
