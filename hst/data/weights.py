"""Released weights of baseline models as data: a registry (``hst/data/weights.yaml``), a checked download,
and recognition of a fetched file by its SHA-256 so that it loads like one of our checkpoints.

``python -m hst weights list`` prints the registry; ``python -m hst weights fetch NAME [--root DIR]
[--url URL_OR_PATH]`` downloads one into ``DIR`` (default ``weights/``) with the datasets'
resumable downloader (size and SHA-256 verified, HTML pages refused); ``python -m hst evaluate
--checkpoint DIR/FILE`` then evaluates it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hst.data.registry import _SOURCE, Archive, Source, _validate
from hst.errors import ConfigError

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
        "trained_on": {"type": "string"}, "sources": {"type": "array", "items": _SOURCE},
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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML") from None
    _validate(data, SCHEMA, path)
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


def to_checkpoint(weights: Weights, path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the released file at ``path`` as a checkpoint of ours at ``out`` (its architecture and options
    from the registry, ``released``: its name and SHA-256), so it evaluates like a model trained here."""
    import torch

    from hst.engine.checkpoint import save_checkpoint
    from hst.errors import CheckpointError
    from hst.fsutil import sha256_of
    from hst.models import build_arch

    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_arch(weights.arch, weights.config)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]  # the first line only names the class
        raise CheckpointError(f"{path}: does not load into {weights.arch} {weights.config} ({detail})") from None
    save_checkpoint(out, model, released=weights.name, released_sha256=sha256_of(path), trained_on=weights.trained_on)
    return Path(out)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default=str(DEFAULT_PATH), help="the weights registry (default: hst/data/weights.yaml)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="the released weights the harness knows")
    f = sub.add_parser("fetch", help="download released weights (size and sha256 checked)")
    f.add_argument("name")
    f.add_argument("--root", default=DEFAULT_ROOT, help=f"folder to put the file in (default {DEFAULT_ROOT}/)")
    f.add_argument("--url", action="append", default=[], metavar="URL_OR_PATH", help="a mirror or a copy on disk, tried first")
    f.add_argument("--checkpoint", metavar="OUT", help="also write it as a checkpoint of this harness at OUT")
    f.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    registry = load_weights_registry(args.registry)
    if args.action == "list":
        for w in registry.values():
            published = "; ".join(f"{p['set']} {p['psnr']:.2f} / {p['ssim']:.3f} ({p['protocol']} protocol)"
                                  for p in w.published)
            print(f"{w.name:18s} {w.arch:8s} {w.archive.size:>10,} B  trained on {w.trained_on}; published: {published}")
        return 0
    path = fetch_weights(args.name, args.root, urls=tuple(args.url), progress=not args.no_progress, registry=registry)
    print(f"{args.name}: {path}")
    if args.checkpoint:
        print(f"{args.name}: {to_checkpoint(registry[args.name], path, args.checkpoint)} (a checkpoint of this harness)")
    return 0
