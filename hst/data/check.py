"""Checking a normalised set: count, pairing, decoding, sizes; every bad file is reported."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hst.data.io import decode_image
from hst.data.pairs import Pair, match_files
from hst.errors import DataError


@dataclass
class Problem:
    """One bad file (or folder) and why."""

    path: str
    reason: str


@dataclass
class CheckReport:
    """The outcome of :func:`check_set`; ``ok`` is False when anything is bad."""

    set_dir: str
    expected: int | None
    pairs: int
    problems: list[Problem] = field(default_factory=list)
    converted: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        """A JSON-able copy, with ``ok``."""
        return {**asdict(self), "ok": self.ok}

    def format(self) -> str:
        """The report as text: a summary line, then one line per bad, converted or ignored file."""
        expected = "" if self.expected is None else f" (expected {self.expected})"
        verdict = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        lines = [f"{self.set_dir}: {self.pairs} pairs{expected}: {verdict}"]
        lines += [f"  BAD {p.path}: {p.reason}" for p in self.problems]
        lines += [f"  converted {p.path}: {p.reason}" for p in self.converted]
        lines += [f"  ignored {p}: not a PNG/JPG" for p in self.ignored]
        return "\n".join(lines)


def _inspect(pair: Pair) -> tuple[list[Problem], list[Problem]]:
    """Decode both files of a pair; return (problems, conversions)."""
    problems, converted, shapes = [], [], []
    for path in (pair.input, pair.target):
        try:
            array, note = decode_image(path)
        except DataError as exc:
            problems.append(Problem(str(path), str(exc).removeprefix(f"{path}: ")))
            continue
        shapes.append(array.shape[:2])
        if note:
            converted.append(Problem(str(path), note))
    if len(shapes) == 2 and shapes[0] != shapes[1]:
        (hi, wi), (ht, wt) = shapes
        problems.append(Problem(str(pair.input), f"size {wi}x{hi} differs from its target's {wt}x{ht}"))
    return problems, converted


def check_set(set_dir: str | os.PathLike, expected: int | None = None, *, workers: int | None = None) -> CheckReport:
    """Check every pair of ``set_dir`` against ``expected`` pairs; the report lists every bad file."""
    set_dir = Path(set_dir)
    if not set_dir.is_dir():
        return CheckReport(str(set_dir), expected, 0, [Problem(str(set_dir), "no such set folder")])
    matching = match_files(set_dir)
    report = CheckReport(
        str(set_dir),
        expected,
        len(matching.pairs),
        [Problem(str(p), why) for p, why in matching.problems],
        ignored=[str(p) for p in matching.ignored],
    )
    if expected is not None and len(matching.pairs) != expected:
        report.problems.insert(0, Problem(str(set_dir), f"{len(matching.pairs)} pairs, expected {expected}"))
    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        for problems, converted in pool.map(_inspect, matching.pairs):
            report.problems += problems
            report.converted += converted
    return report
