"""Options that several commands share, spelled one way everywhere: ``-o/--out`` for what a command writes,
``--data`` for a normalised set folder (``--set`` means a run-config override, in ``train`` only).

An old spelling of an output (``--png``, ``--output``) keeps working for a release and says, on standard
error, which one replaces it. The set folder's old ``--set`` is gone: it meant a config override in
``train``, and one flag name has one meaning.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


class DeprecatedAlias(argparse.Action):
    """Store the value like the option it aliases; when given under an old spelling, say so once."""

    def __init__(self, option_strings: list[str], dest: str, old: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.old = tuple(old)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if option_string in self.old:
            new = next(s for s in self.option_strings if s not in self.old and s.startswith("--"))
            print(f"warning: {parser.prog}: {option_string} is deprecated; use {new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_out(parser: argparse.ArgumentParser, help: str, *, required: bool = True, metavar: str = "PATH",
            old: tuple[str, ...] = ()) -> None:
    """``-o/--out``: the file or folder a command writes; ``old``: earlier spellings (deprecated)."""
    parser.add_argument("-o", "--out", *old, dest="out", required=required, metavar=metavar, help=help,
                        action=DeprecatedAlias, old=old)


def add_data(parser: argparse.ArgumentParser, help: str = "normalised set folder (input/, target/)") -> None:
    """``--data SETDIR``: a normalised set folder."""
    parser.add_argument("--data", dest="set_dir", required=True, metavar="SETDIR", help=help)


def add_device(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """``--device auto|cpu|cuda``."""
    parser.add_argument("--device", default=default, choices=("auto", "cpu", "cuda"),
                        help=f"where the model runs; auto: CUDA when available (default {default})")
