"""Released weights as checkpoints of this harness, and the ``python -m hst weights`` command.

``python -m hst weights list`` prints the registry (:mod:`hst.data.weights`); ``python -m hst weights
fetch NAME [--root DIR] [--url URL_OR_PATH] [--checkpoint OUT]`` downloads one into ``DIR`` (default
``weights/``; a model of several files into ``DIR/<folder>/``), checked, and with ``--checkpoint`` writes
it as a checkpoint of ours; ``python -m hst evaluate --checkpoint DIR/FILE`` (or ``DIR/<folder>``)
evaluates either.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


from hst.data.weights import DEFAULT_PATH, DEFAULT_ROOT, Weights, fetch_weights, load_weights_registry
from hst.engine.checkpoint import save_checkpoint
from hst.errors import CheckpointError
from hst.fsutil import sha256_of
from hst.models import build_arch


def to_checkpoint(weights: Weights, path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the released file at ``path`` (or, for a model of several files, the folder holding them) as a
    checkpoint of ours at ``out`` (its architecture and options from the registry, ``released``: its name
    and SHA-256s), so it evaluates like a model trained here. The load is strict."""
    state = weights.state_dict(path)
    model = build_arch(weights.arch, weights.config)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]  # the first line only names the class
        raise CheckpointError(f"{path}: does not load into {weights.arch} {weights.config} ({detail})") from None
    path = Path(path)
    digest = sha256_of(path) if weights.archive is not None else \
        {p.archive.file: sha256_of(path / p.archive.file) for p in weights.parts}
    save_checkpoint(out, model, released=weights.name, released_sha256=digest, trained_on=weights.trained_on)
    return Path(out)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default=str(DEFAULT_PATH), help="the weights registry (default: hst/data/weights.yaml)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="the released weights the harness knows")
    f = sub.add_parser("fetch", help="download released weights (size and sha256 checked)")
    f.add_argument("name", help="a name of the registry (`python -m hst weights list`)")
    f.add_argument("--root", default=DEFAULT_ROOT, help=f"folder to put the file in (default {DEFAULT_ROOT}/)")
    f.add_argument("--url", action="append", default=[], metavar="URL_OR_PATH", help="a mirror or a copy on disk, tried first")
    f.add_argument("--checkpoint", metavar="OUT", help="also write it as a checkpoint of this harness at OUT")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    registry = load_weights_registry(args.registry)
    if args.action == "list":
        for w in registry.values():
            published = "; ".join(f"{p['set']} {p['psnr']:.2f} / {p['ssim']:.3f} ({p['protocol']} protocol)"
                                  for p in w.published)
            files = "" if w.archive is not None else f" in {len(w.parts)} files"
            print(f"{w.name:18s} {w.arch:8s} {w.size:>11,} B{files}  {json.dumps(w.config)}  trained on {w.trained_on}; "
                  f"published: {published or 'none'}")
        return 0
    path = fetch_weights(args.name, args.root, urls=tuple(args.url), progress=not args.no_progress, registry=registry)
    print(f"{args.name}: {path}")
    if args.checkpoint:
        print(f"{args.name}: {to_checkpoint(registry[args.name], path, args.checkpoint)} (a checkpoint of this harness)")
    return 0
