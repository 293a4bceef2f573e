"""Scoring saved restorations against a set's targets, without the model.

``python -m hst score --restored DIR/restored --data SETDIR --protocol derain|gopro|realblur --out DIR``

Reads ``<restored>/<name>.png`` for every pair ``<name>`` of the set (extra files are ignored)
and writes, atomically:

- ``per_image.csv``: ``name``, the protocol's columns in ``hst.metrics.protocols.PROTOCOLS`` order
  (derain: psnr, ssim on Y; gopro: psnr, ssim (volumetric, MATLAB's), ssim_per_channel;
  realblur: psnr, ssim after the official alignment), and ``seconds`` when a ``times.csv``
  (name, seconds) sits beside the restored folder. A PSNR of identical images is ``inf``.
- ``summary.csv``: one row: ``set``, ``protocol``, ``images``, the mean of every metric
  column, ``inf_psnr`` (how many images had an infinite PSNR), and ``seconds`` (mean per
  image) when times are known. PSNR means follow ``hst.metrics.protocols.mean_psnr``: every value is
  clipped at ``hst.metrics.protocols.PSNR_CAP`` (100 dB) before averaging, so an identical image counts
  as 100 dB rather than making the mean infinite; ``inf_psnr`` says whether that happened.
  SSIM and time columns are plain means.

Nothing is written unless every image was read and scored: a missing or corrupt image, or a
restored image whose size differs from its target, is an error naming the file.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from hst.data.io import read_image
from hst.data.pairs import list_pairs
from hst.errors import DataError, HSTError
from hst.fsutil import atomic_write_text, ensure_output_dir
from hst.metrics.protocols import INPUT_PROTOCOL, PROTOCOL_NAMES, PROTOCOLS, mean_psnr
from hst.options import add_data, add_out


def protocol_columns(protocol: str) -> dict[str, Any]:
    """The ordered ``{column: metric}`` of a protocol; HSTError for an unknown one."""

    if protocol not in PROTOCOLS:
        raise HSTError(f"--protocol: unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]


def format_value(value: float) -> str:
    """Shortest round-trip text of a float ('inf' for infinity)."""
    return repr(float(value)) if math.isfinite(value) else ("inf" if value > 0 else ("-inf" if value < 0 else "nan"))


def check_same_size(restored: np.ndarray, target: np.ndarray, restored_path: Path | str, target_path: Path | str) -> None:
    """DataError naming the restored file when its size differs from its target's."""
    if restored.shape != target.shape:
        rh, rw = restored.shape[:2]
        th, tw = target.shape[:2]
        raise DataError(f"{restored_path}: {rw}x{rh} pixels, but its target {target_path} is {tw}x{th}")


def score_one(name: str, restored: np.ndarray, target: np.ndarray, columns: dict[str, Any]) -> dict[str, Any]:
    """One row: the name and every metric of the protocol."""
    row: dict[str, Any] = {"name": name}
    for column, metric in columns.items():
        row[column] = float(metric(restored, target))
    return row


def read_times(path: Path) -> dict[str, float] | None:
    """``name -> seconds`` from a times.csv, or None if there is none."""
    if not path.is_file():
        return None
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"name", "seconds"} <= set(reader.fieldnames):
                raise DataError(f"{path}: expected columns name, seconds")
            return {row["name"]: float(row["seconds"]) for row in reader}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable times file ({exc})") from None


def summarise(rows: list[dict[str, Any]], set_name: str, protocol: str, columns: Iterable[str]) -> dict[str, Any]:
    """The summary row: means per column (PSNRs clipped as ``hst.metrics.protocols.mean_psnr`` does), inf count."""

    columns = list(columns)
    summary: dict[str, Any] = {"set": set_name, "protocol": protocol, "images": len(rows)}
    for column in columns:
        values = [row[column] for row in rows]
        summary[column] = mean_psnr(values) if column.startswith("psnr") else float(np.mean(values))
    summary["inf_psnr"] = sum(1 for row in rows if math.isinf(row["psnr"]))
    if rows and all(row.get("seconds") is not None for row in rows):
        summary["seconds"] = float(np.mean([row["seconds"] for row in rows]))
    return summary


def csv_text(header: list[str], rows: list[dict[str, Any]]) -> str:
    """CSV text of ``rows`` under ``header``: floats written round-trip ('inf' for infinity), None empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if row.get(k) is None else (format_value(row[k]) if isinstance(row[k], float) else row[k]) for k in header])
    return buf.getvalue()


def write_scores(out_dir: Path, rows: list[dict[str, Any]], summary: dict[str, Any], columns: list[str]) -> None:
    """per_image.csv then summary.csv, each written atomically."""

    per_image_header = ["name", *columns] + (["seconds"] if any(r.get("seconds") is not None for r in rows) else [])
    atomic_write_text(out_dir / "per_image.csv", csv_text(per_image_header, rows))
    atomic_write_text(out_dir / "summary.csv", csv_text(list(summary), [summary]))


def _restored_images(restored_dir: Path, pairs) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:

    for pair in pairs:
        path = restored_dir / f"{pair.name}.png"
        if not path.is_file():
            raise DataError(f"{path}: missing restored image for pair {pair.name!r}")
        restored, target = read_image(path), read_image(pair.target)
        check_same_size(restored, target, path, pair.target)
        yield pair.name, restored, target


def score_rows(items: Iterable[tuple[str, np.ndarray, np.ndarray]], protocol: str, *, progress: bool = False, total: int | None = None) -> list[dict[str, Any]]:
    """Score (name, restored, target) triples with a protocol's metrics; a row per image."""
    from tqdm import tqdm

    columns = protocol_columns(protocol)
    rows = []
    for name, restored, target in tqdm(items, total=total, desc="score", unit="img", disable=None if progress else True):
        rows.append(score_one(name, restored, target, columns))
    return rows


def finish(rows: list[dict[str, Any]], set_dir: Path, protocol: str, out_dir: Path, times: dict[str, float] | None) -> dict[str, Any]:
    """Attach times, summarise and write both CSVs; return the summary."""
    columns = list(protocol_columns(protocol))
    for row in rows:
        row["seconds"] = None if times is None else times.get(row["name"])
    summary = summarise(rows, set_dir.name, protocol, columns)
    write_scores(out_dir, rows, summary, columns)
    return summary


def score_dir(restored_dir: str | os.PathLike, set_dir: str | os.PathLike, protocol: str, out_dir: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """Score every pair of ``set_dir`` against ``restored_dir/<name>.png``; write the CSVs into ``out_dir``."""

    restored_dir, set_dir, out_dir = Path(restored_dir), Path(set_dir), Path(out_dir)
    protocol_columns(protocol)
    if not restored_dir.is_dir():
        raise DataError(f"{restored_dir}: no such folder of restored images")
    pairs = list_pairs(set_dir)
    ensure_output_dir(out_dir)
    times = read_times(restored_dir.parent / "times.csv")
    rows = score_rows(_restored_images(restored_dir, pairs), protocol, progress=progress, total=len(pairs))
    return finish(rows, set_dir, protocol, out_dir, times)


def score_inputs(set_dir: str | os.PathLike, protocol: str, out_dir: str | os.PathLike, *, progress: bool = False) -> dict[str, Any]:
    """Score a set's degraded inputs as they are (the floor a restoration must beat); write the CSVs.

    RealBlur's inputs are scored without alignment, as the official script does
    (``hst.metrics.protocols.INPUT_PROTOCOL``); the summary names the protocol used."""
    set_dir, out_dir = Path(set_dir), Path(out_dir)
    protocol_columns(protocol)
    protocol = INPUT_PROTOCOL.get(protocol, protocol)
    pairs = list_pairs(set_dir)
    ensure_output_dir(out_dir)

    def items():
        for pair in pairs:
            degraded, target = read_image(pair.input), read_image(pair.target)
            check_same_size(degraded, target, pair.input, pair.target)
            yield pair.name, degraded, target

    rows = score_rows(items(), protocol, progress=progress, total=len(pairs))
    return finish(rows, set_dir, protocol, out_dir, None)


def format_summary(summary: dict[str, Any]) -> str:
    """One line for the terminal."""
    parts = [f"{summary['set']} ({summary['protocol']}, {summary['images']} images):"]
    for key, value in summary.items():
        if key in ("set", "protocol", "images"):
            continue
        parts.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
    return " ".join(parts)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``python -m hst score``'s options."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--restored", metavar="DIR", help="folder of restored PNGs named <pair name>.png")
    what.add_argument("--inputs", action="store_true", help="score the set's degraded inputs themselves (no restoration)")
    add_data(parser)
    parser.add_argument("--protocol", required=True, choices=PROTOCOL_NAMES,
                        help="how to score (hst.metrics.protocols; a set's own: hst/data/registry.yaml)")
    add_out(parser, "folder for per_image.csv and summary.csv", metavar="DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Score and print the summary line."""
    start = time.perf_counter()
    if args.inputs:
        summary = score_inputs(args.set_dir, args.protocol, args.out, progress=not args.no_progress)
    else:
        summary = score_dir(args.restored, args.set_dir, args.protocol, args.out, progress=not args.no_progress)
    print(format_summary(summary))
    print(f"{Path(args.out) / 'summary.csv'} written in {time.perf_counter() - start:.1f} s")
    return 0
