"""Means over seeds with Student-t intervals, and paired differences, against hand-computed values."""

import math

import pytest

from hst.metrics.stats import mean_ci, paired_difference, verdict


def test_mean_ci_by_hand():
    # [1, 2, 3]: mean 2, sd 1; t(0.975, 2) = 4.302652729749464; half-width = t / sqrt(3).
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci.mean == 2.0 and ci.n == 3
    assert ci.half_width == pytest.approx(4.302652729749464 / math.sqrt(3), abs=1e-12)
    # [10, 14]: mean 12, sd 2 sqrt(2); t(0.975, 1) = 12.706204736174698.
    ci = mean_ci([10.0, 14.0])
    assert ci.half_width == pytest.approx(12.706204736174698 * 2 * math.sqrt(2) / math.sqrt(2), abs=1e-9)
    # 90% interval of [1, 2, 3]: t(0.95, 2) = 2.919985580355516.
    assert mean_ci([1.0, 2.0, 3.0], 0.90).half_width == pytest.approx(2.919985580355516 / math.sqrt(3), abs=1e-9)


def test_one_value_has_no_interval_and_bad_input_is_refused():
    ci = mean_ci([5.0])
    assert ci.mean == 5.0 and math.isnan(ci.half_width) and not ci.significant
    with pytest.raises(ValueError, match="no values"):
        mean_ci([])
    with pytest.raises(ValueError, match="non-finite"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], 1.5)


def test_paired_difference_pairs_by_seed():
    a = {0: 20.0, 1: 21.1, 2: 21.9, 3: 99.0}  # seed 3 has no partner: left out
    b = {0: 19.0, 1: 20.0, 2: 21.0}
    d = paired_difference(a, b)  # differences 1.0, 1.1, 0.9: mean 1, sd 0.1
    assert d.n == 3 and d.mean == pytest.approx(1.0)
    assert d.half_width == pytest.approx(4.302652729749464 * 0.1 / math.sqrt(3))
    assert d.low > 0 and d.significant and verdict(d) == "significant"
    # An unpaired comparison of the same numbers would not be significant: pairing matters.
    assert not mean_ci(a[s] for s in (0, 1, 2)).low > mean_ci(b.values()).high
    with pytest.raises(ValueError, match="no seed in common"):
        paired_difference({0: 1.0}, {1: 1.0})


def test_verdicts():
    assert verdict(paired_difference({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.5, 1: 1.5, 2: 2.5})) == "not significant"
    assert verdict(paired_difference({0: 1.0}, {0: 0.0})) == "one seed: no interval"
    d = paired_difference({0: 1.0, 1: 1.1, 2: 0.9}, {0: 2.0, 1: 2.1, 2: 1.95})
    assert d.high < 0 and verdict(d) == "significant"
