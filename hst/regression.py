"""CI regression on metrics: compare a fresh run's per-set metrics with the committed reference.

The reference (``results/reference/metrics.csv``) holds, for every (run, set) of the default
study, the mean PSNR and SSIM that ``score`` wrote. A fresh run passes when every reference row
is present and each metric is within its tolerance. Tolerances (:data:`TOLERANCES`) and why:

* The default study is seeded and runs on the CPU with deterministic algorithms and a data
  order fixed by (seed, epoch, index), so on the same machine image a rerun reproduces the
  reference exactly (CI runs on such a machine).
* What float noise can do was measured by retraining with 2 CPU threads instead of 1, which
  changes the order of some sums as another CPU's kernels would: set means moved by at most
  0.0042 dB PSNR and 0.00004 SSIM (derain-tiny on Rain100H; see results/reference/README.md).
  The tolerances are about 12x (PSNR) and 50x (SSIM) that.
* The changes the check exists to catch are larger: swapping the sampler moves Rain100H by
  0.1-0.26 dB in Table 6, a Y conversion without MATLAB's rounding by about 0.02-0.2 dB, a broken
  model or metric by dBs.

A change in either direction beyond the tolerance fails: a better number is also a change
that must be explained and committed as a new reference (``--update``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hst.errors import DataError, HSTError
from hst.fsutil import atomic_write_text

TOLERANCES = {"psnr": 0.05, "ssim": 0.002}
KEY = ["run", "set"]


def collect(results: str | Path) -> pd.DataFrame:
    """Every ``eval/<run>/<set>/summary.csv`` under ``results`` as one frame (run, set, protocol, metrics)."""
    rows = []
    for path in sorted(Path(results).glob("eval/*/*/summary.csv")):
        try:
            row = pd.read_csv(path).iloc[0].to_dict()
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, IndexError) as exc:
            raise DataError(f"{path}: unreadable summary ({exc})") from None
        rows.append({"run": path.parent.parent.name, "set": path.parent.name, "protocol": row["protocol"],
                     "images": int(row["images"]), "psnr": float(row["psnr"]), "ssim": float(row["ssim"])})
    if not rows:
        raise DataError(f"{results}: no eval/*/*/summary.csv found (run the pipeline first)")
    return pd.DataFrame(rows)


def compare(fresh: pd.DataFrame, reference: pd.DataFrame, tolerances: dict[str, float] = TOLERANCES) -> list[str]:
    """Human-readable failures (empty when the fresh run matches the reference)."""
    merged = reference.merge(fresh, on=KEY, how="left", suffixes=("_ref", ""), indicator=True)
    failures = []
    for _, row in merged.iterrows():
        where = f"{row['run']} / {row['set']}"
        if row["_merge"] == "left_only":
            failures.append(f"{where}: missing from the fresh run")
            continue
        for metric, tol in tolerances.items():
            delta = row[metric] - row[f"{metric}_ref"]
            if not abs(delta) <= tol:  # NaN fails too
                direction = "worse" if delta < 0 else "better"
                failures.append(f"{where}: {metric} {row[metric]:.4f} vs reference {row[f'{metric}_ref']:.4f} "
                                f"({delta:+.4f}, {direction}; tolerance {tol})")
    return failures


def read_reference(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, comment="#")
    except FileNotFoundError:
        raise DataError(f"{path}: no reference metrics (make them with `python -m hst regression --update`)") from None


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", default="results", help="results folder of the fresh run (default results)")
    parser.add_argument("--reference", default="results/reference", help="folder holding metrics.csv")
    parser.add_argument("--update", action="store_true", help="write the fresh run's metrics as the new reference")


def run(args: argparse.Namespace) -> int:
    fresh = collect(args.run)
    ref_path = Path(args.reference) / "metrics.csv"
    if args.update:
        header = "".join(f"# tolerance {m}: {t}\n" for m, t in TOLERANCES.items())
        atomic_write_text(ref_path, "# reference metrics of the default study (see hst/regression.py)\n" + header
                          + fresh.to_csv(index=False, float_format="%.6f"))
        print(f"wrote {ref_path} ({len(fresh)} rows)")
        return 0
    failures = compare(fresh, read_reference(ref_path))
    if failures:
        print(f"regression check FAILED against {ref_path}:")
        for line in failures:
            print(f"  {line}")
        raise HSTError(f"{len(failures)} metric(s) moved beyond tolerance")
    print(f"regression check passed: {len(fresh)} (run, set) rows within psnr +-{TOLERANCES['psnr']} dB, "
          f"ssim +-{TOLERANCES['ssim']} of {ref_path}")
    return 0
