"""CI regression on metrics: compare a fresh run's per-set metrics with the committed reference.

The reference (``results/reference/metrics.csv``) holds, for every (run, set) of the default
study, the mean PSNR and SSIM that ``score`` wrote. A fresh run passes when every reference row
is present and each metric is within its tolerance. Tolerances (:data:`TOLERANCES`) and why:

* The default study is seeded and runs on the CPU with one thread per training, deterministic
  algorithms and fixed data order, so on the same machine image a rerun reproduces the reference
  bit for bit (measured: difference 0).
* A different CPU (another oneDNN kernel, AVX2 vs AVX-512) sums in another order; that float
  noise grows over a few hundred iterations. Retraining with 2 threads instead of 1 -- the same
  kind of change -- moved set means by up to the figures stated in results/reference/README.md.
* Real regressions are larger: a broken sampler, a wrong Y conversion or a lost residual costs
  tenths of a dB to dBs on these sets.

A change in either direction beyond the tolerance fails: a better number is also a change
that must be explained and committed as a new reference (``--update``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hst.errors import DataError, HSTError
from hst.fsutil import atomic_write_text

TOLERANCES = {"psnr": 0.15, "ssim": 0.005}
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
