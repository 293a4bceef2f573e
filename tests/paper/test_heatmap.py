"""Fig. 6 counts: the stochastic sampler reaches every position, max pooling only each region's maxima."""

import numpy as np
import torch

from hst.paper.heatmap import coverage_stats, pick_counts
from hst.models.sampler import MaxSampler, StochasticSampler


def test_stochastic_reaches_every_position_and_counts_add_up():
    torch.manual_seed(0)
    feat = torch.randn(4, 8, 8)
    counts = pick_counts(StochasticSampler(4).train(), feat, passes=200)
    assert counts.shape == (8, 8) and counts.sum() == 200 * 4  # one pick per 4x4 region per pass
    assert (counts > 0).all()
    assert coverage_stats("stochastic", counts, 200)["ever_picked_pct"] == 100.0


def test_max_pooling_picks_the_same_maxima_every_pass():
    feat = torch.zeros(2, 8, 8)
    feat[0, 1, 2] = feat[0, 5, 6] = feat[0, 1, 6] = feat[0, 6, 1] = 1.0  # channel 0: one maximum per region
    feat[1] = feat[0]  # channel 1 agrees
    counts = pick_counts(MaxSampler(4), feat, passes=10)
    expected = np.zeros((8, 8))
    expected[1, 2] = expected[5, 6] = expected[1, 6] = expected[6, 1] = 10.0
    assert np.array_equal(counts, expected)
    assert coverage_stats("max", counts, 10)["ever_picked_pct"] == 100.0 * 4 / 64
