"""Uncertainty over training seeds: means with Student-t confidence intervals, and paired differences.

A difference between two trainings is a claim only with its uncertainty. With n seeds per
configuration, a cell's interval is mean +- t(1 - alpha/2, n - 1) * sd / sqrt(n) (sd with n - 1);
two configurations trained on the same seeds are compared by the per-seed differences
(a paired t interval), "not significant" where that interval contains 0.
"""

from __future__ import annotations

import math
from typing import Iterable, NamedTuple

import numpy as np
from scipy.special import stdtrit  # Student's t quantile (what scipy.stats.t.ppf computes), without scipy.stats' import


class Interval(NamedTuple):
    """A mean, the half-width of its confidence interval (NaN for fewer than 2 values), and n."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0 (for a difference); False when it contains 0 or is unknown."""
        return self.n > 1 and not math.isnan(self.half_width) and (self.low > 0 or self.high < 0)


def mean_ci(values: Iterable[float], level: float = 0.95) -> Interval:
    """Mean of ``values`` and the half-width of its Student-t ``level`` confidence interval."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError("mean_ci: no values")
    if not np.isfinite(v).all():
        raise ValueError(f"mean_ci: non-finite values {v.tolist()}")
    if not 0 < level < 1:
        raise ValueError(f"mean_ci: level must be in (0, 1), got {level}")
    if v.size == 1:
        return Interval(float(v[0]), math.nan, 1)
    sd = float(np.std(v, ddof=1))
    t = float(stdtrit(v.size - 1, 0.5 + level / 2))
    return Interval(float(v.mean()), t * sd / math.sqrt(v.size), int(v.size))


def paired_difference(a: dict[int, float], b: dict[int, float], level: float = 0.95) -> Interval:
    """Mean and CI of a[seed] - b[seed] over the seeds both have (a paired t interval)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError("paired_difference: no seed in common")
    return mean_ci((a[s] - b[s] for s in seeds), level)


def verdict(diff: Interval) -> str:
    """'significant', 'not significant', or 'one seed' (no interval) for a paired difference."""
    if diff.n < 2:
        return "one seed: no interval"
    return "significant" if diff.significant else "not significant"
