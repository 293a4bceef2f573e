"""Moving a set out of an extracted archive into the normalised ``<root>/<SET>/{input,target}/``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hst.data.atomic import staged_dir
from hst.errors import DataError


def _folder(base: Path, relative: str, what: str) -> Path:
    """``base / relative``, which must be a folder of the extracted archive."""
    path = base / relative
    if not path.is_dir():
        raise DataError(f"{what}: the archive has no folder {relative!r} (extracted in {base})")
    return path


def _find_pair_folder(base: Path, what: str) -> Path:
    """The only folder under ``base`` that holds both ``input/`` and ``target/``."""
    found = sorted(
        Path(folder)
        for folder, subdirs, _ in os.walk(base)
        if "__MACOSX" not in Path(folder).parts and {"input", "target"} <= set(subdirs)
    )
    if len(found) != 1:
        listed = ", ".join(str(f.relative_to(base)) for f in found) or "none"
        raise DataError(
            f"{what}: need exactly one folder holding input/ and target/ in the archive, found {len(found)} "
            f"({listed}); name the folders with a registry override (layout kind dirs)"
        )
    return found[0]


def _gopro(root: Path, blur: str, sharp: str, dest: Path, what: str) -> None:
    """GoPro's ``SEQ/{blur,sharp}/NAME`` into ``dest/{input,target}/SEQ_NAME``."""
    sequences = sorted(p for p in root.iterdir() if p.is_dir())
    if not sequences:
        raise DataError(f"{what}: no sequence folders in {root}")
    for side, sub in (("input", blur), ("target", sharp)):
        out = dest / side
        out.mkdir()
        for seq in sequences:
            for file in sorted(_folder(seq, sub, what).iterdir()):
                if file.is_file():
                    os.replace(file, out / f"{seq.name}_{file.name}")


def normalise(
    extracted: str | os.PathLike,
    layout: dict,
    dest: str | os.PathLike,
    what: str = "",
    *,
    replace: bool = False,
    before: Callable[[Path], None] | None = None,
) -> Path:
    """Move the set that ``layout`` describes out of ``extracted`` into ``dest/{input,target}`` (staged).

    ``before`` is called with the staged folder once the set is in it, before it takes ``dest``'s name.
    """
    extracted, dest = Path(extracted), Path(dest)
    what = what or str(dest)
    with staged_dir(dest, replace=replace) as tmp:
        if layout["kind"] == "gopro":
            _gopro(_folder(extracted, layout["root"], what), layout["input"], layout["target"], tmp, what)
        else:
            if layout["kind"] == "find":
                base = _find_pair_folder(extracted, what)
                inputs, targets = base / "input", base / "target"
            else:
                inputs = _folder(extracted, layout["input"], what)
                targets = _folder(extracted, layout["target"], what)
            os.replace(inputs, tmp / "input")
            os.replace(targets, tmp / "target")
        if before is not None:
            before(tmp)
    return dest
