"""``python -m hst data list|fetch|synth|check|prepare``: the datasets from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from hst.errors import ConfigError

ROOT_ENV = "HST_DATA_ROOT"
CACHE_DIR = "_cache"


def parse_size(text: str) -> tuple[int, int]:
    """``N`` or ``HxW`` (height x width) as a (height, width) tuple."""
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"size must be N or HxW (height x width), got {text!r}")
    h = int(match.group(1))
    return h, int(match.group(2) or h)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``data`` sub-commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, "data")),
                        help=f"where normalised sets live (default ${ROOT_ENV} or ./data)")  # fmt: skip
    common.add_argument("--registry-override", metavar="FILE",
                        help="YAML merged over the registry per set/archive; its sources go first "
                             "(default $HST_REGISTRY_OVERRIDE)")  # fmt: skip
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    sub.add_parser("list", parents=[common], help="the registry as a table")

    p = sub.add_parser("fetch", parents=[common], help="download, verify, extract, normalise and check sets")
    p.add_argument("names", nargs="+", metavar="NAME", help="sets of the registry (`python -m hst data list`)")
    p.add_argument("--url", action="append", default=[], metavar="URL_OR_PATH",
                   help="a mirror URL, file:// URL or local archive tried before the registry's sources (repeatable)")
    p.add_argument("--retries", type=int, default=5, help="attempts per source (default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("synth", parents=[common], help="write synthetic twins of registry sets (offline)")
    p.add_argument("names", nargs="*", metavar="NAME", help="sets to make twins of (or --all)")
    p.add_argument("--all", action="store_true", help="every set of the registry")
    p.add_argument("--count", type=int, help="pairs per twin (default 16 for train sets, 6 for test sets)")
    p.add_argument("--size", type=parse_size, help="N or HxW (default 160x160 for train sets, 96x128 for test sets)")
    p.add_argument("--seed", type=int, default=0, help="seed of the twins' degradations and image choice (default 0)")

    p = sub.add_parser("check", parents=[common], help="check sets: count, pairing, decoding, sizes")
    p.add_argument("names", nargs="*", metavar="NAME", help="sets under --root to check (or --all)")
    p.add_argument("--all", action="store_true", help="every registry set present under --root")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")

    p = sub.add_parser("prepare", parents=[common], help="write the memory-mapped patch cache of sets")
    p.add_argument("names", nargs="+", metavar="NAME", help="training sets under --root")
    p.add_argument("--cache", type=Path, help=f"cache folder (default <root>/{CACHE_DIR}/<NAME>; one NAME only)")


def _list(args, registry) -> int:
    from tabulate import tabulate

    rows = []
    for s in registry.sets.values():
        first = s.copies[0].archive
        size = f"{first.size / 1e9:.2f} GB" if first.size else "?"
        kinds = ", ".join(src.kind for src in (*s.sources, *first.sources)) or "none"
        archives = " | ".join(c.archive.file for c in s.copies)
        rows.append([s.name, s.task, s.split, s.pairs, archives, size, first.hash_status, kinds, s.note])
    headers = ["set", "task", "split", "pairs", "archive(s)", "size", "hash", "sources", "note"]
    print(tabulate(rows, headers=headers))
    return 0


def _fetch(args, registry) -> int:
    from hst.data.download import Fetcher, RetryPolicy
    from hst.data.fetch import fetch_set

    fetcher = Fetcher(args.root, policy=RetryPolicy(attempts=max(1, args.retries)), progress=not args.no_progress)
    bad = 0
    for name in args.names:
        registry.get(name)
    for name in args.names:
        report = fetch_set(name, args.root, registry, urls=args.url, fetcher=fetcher)
        print(report.format())
        bad += not report.ok
    return 1 if bad else 0


def _synth(args, registry) -> int:
    import time

    from hst.data.synth import TWINS, make_twin

    names = list(TWINS) if args.all else args.names
    if not names:
        raise ConfigError("data synth: name at least one set, or --all")
    start = time.perf_counter()
    for name in names:
        path = make_twin(name, args.root, count=args.count, size=args.size, seed=args.seed)
        print(f"{name}: twin written to {path}")
    print(f"{len(names)} twin(s) in {time.perf_counter() - start:.2f}s")
    return 0


def _check(args, registry) -> int:
    from hst.data.check import check_set
    from hst.data.synth import twin_count

    names = [n for n in registry.sets if (args.root / n).is_dir()] if args.all else args.names
    if not names:
        raise ConfigError("data check: name at least one set, or --all (with sets present under --root)")
    reports = []
    for name in names:
        set_dir = args.root / name
        expected = twin_count(set_dir)
        if expected is None:
            expected = registry.get(name).pairs
        reports.append(check_set(set_dir, expected))
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        print("\n".join(r.format() for r in reports))
    return 0 if all(r.ok for r in reports) else 1


def _prepare(args, registry) -> int:
    from hst.data.cache import prepare_cache

    if args.cache and len(args.names) > 1:
        raise ConfigError("data prepare: --cache takes one NAME only")
    for name in args.names:
        cache = args.cache or args.root / CACHE_DIR / name
        prepare_cache(args.root / name, cache)
        print(f"{name}: patch cache in {cache}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one ``data`` action."""
    from hst.data.registry import load_registry

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("hst.data")
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        registry = load_registry(args.registry_override)
        action = {"list": _list, "fetch": _fetch, "synth": _synth, "check": _check, "prepare": _prepare}
        return action[args.data_command](args, registry)
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = saved
