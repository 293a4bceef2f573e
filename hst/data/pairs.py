"""Pairing the files of ``<set>/input`` and ``<set>/target`` by name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from hst.data.io import IMAGE_SUFFIXES
from hst.errors import DataError


class Pair(NamedTuple):
    """One input image and its ground truth; ``name`` is the shared file stem."""

    name: str
    input: Path
    target: Path


@dataclass
class Matching:
    """What pairing a set's folders found: the pairs, and every file that did not pair."""

    pairs: list[Pair] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)


def _images(folder: Path, matching: Matching) -> dict[str, Path]:
    """Image files of ``folder`` keyed by stem; duplicates go to ``matching.problems``."""
    found: dict[str, Path] = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = Path(entry.path)
        if entry.name.startswith(".") or entry.is_dir():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            matching.ignored.append(path)
        elif path.stem in found:
            matching.problems.append((path, f"same name as {found[path.stem].name}"))
        else:
            found[path.stem] = path
    return found


def match_files(set_dir: str | os.PathLike) -> Matching:
    """Pair ``input/X.*`` with ``target/X.*`` (PNG or JPG), recording every file that has no partner."""
    set_dir = Path(set_dir)
    matching = Matching()
    folders = {}
    for side in ("input", "target"):
        folder = set_dir / side
        if not folder.is_dir():
            matching.problems.append((folder, "missing folder"))
            folders[side] = {}
        else:
            folders[side] = _images(folder, matching)
    inputs, targets = folders["input"], folders["target"]
    for stem in sorted(inputs.keys() | targets.keys()):
        if stem not in targets:
            matching.problems.append((inputs[stem], "no target"))
        elif stem not in inputs:
            matching.problems.append((targets[stem], "no input"))
        else:
            matching.pairs.append(Pair(stem, inputs[stem], targets[stem]))
    return matching


def list_pairs(set_dir: str | os.PathLike) -> list[Pair]:
    """The pairs of a normalised set sorted by name; raises ``DataError`` listing every unpaired file."""
    set_dir = Path(set_dir)
    if not set_dir.is_dir():
        raise DataError(f"{set_dir}: no such set folder (fetch it, or make its twin with `python -m hst data synth`)")
    matching = match_files(set_dir)
    if matching.problems:
        listed = "; ".join(f"{p}: {why}" for p, why in matching.problems)
        raise DataError(f"{set_dir}: {len(matching.problems)} unpaired or bad file(s): {listed}")
    if not matching.pairs:
        raise DataError(f"{set_dir}: no image pairs (PNG or JPG) in input/ and target/")
    return matching.pairs
