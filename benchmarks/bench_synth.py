"""Seconds to write synthetic twins: all default twins, then one larger twin per kind.

    .venv/bin/python benchmarks/bench_synth.py [--count 8] [--size 720x1280]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from hst.data.cli import parse_size
from hst.data.synth import TWINS, make_twin, make_twins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="pairs of each larger twin (default 8)")
    parser.add_argument("--size", type=parse_size, default=(720, 1280), help="HxW of the larger twins")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        make_twins(tmp)
        pairs = sum(16 if spec.split == "train" else 6 for spec in TWINS.values())
        print(f"all {len(TWINS)} default twins ({pairs} pairs): {time.perf_counter() - start:.2f}s")
        for name in ("Rain13K", "GoPro-train", "RealBlur-J"):
            start = time.perf_counter()
            make_twin(name, tmp, count=args.count, size=args.size)
            seconds = time.perf_counter() - start
            print(f"{name} ({TWINS[name].kind}), {args.count} pairs of {args.size[0]}x{args.size[1]}: "
                  f"{seconds:.2f}s ({seconds / args.count:.3f}s per pair)")  # fmt: skip


if __name__ == "__main__":
    main()
