"""The samplers of Sec. 3.4 and Table 6: one element per region, uniform draws, seeded inference."""

import pytest
import torch
import torch.nn.functional as F

from hst.models import build_model, set_sampling
from hst.models.sampler import AvgSampler, GridSampler, MaxSampler, StochasticSampler, build_sampler


def indexed_map(b=3, c=2, h=8, w=12):
    """Every pixel holds its flat index; channel k adds 1000*k, so a pixel's channels stay recognisable."""
    base = torch.arange(h * w, dtype=torch.float64).view(1, 1, h, w)
    return (base + 1000 * torch.arange(c, dtype=torch.float64).view(1, c, 1, 1)).expand(b, c, h, w).clone()


@pytest.mark.parametrize("r", [2, 4])
def test_exactly_one_element_per_region_with_all_its_channels(r):
    x = indexed_map(h=8, w=16)
    out = StochasticSampler(r).train()(x)
    assert out.shape == (3, 2, 8 // r, 16 // r)
    idx = out[:, 0].long()
    assert torch.equal(out[:, 1], out[:, 0] + 1000)  # all channels of the chosen pixel go together
    rows, cols = idx // 16, idx % 16
    i = torch.arange(8 // r).view(1, -1, 1)
    j = torch.arange(16 // r).view(1, 1, -1)
    assert torch.equal(rows // r, i.expand_as(rows)) and torch.equal(cols // r, j.expand_as(cols))


def chi_square_of_offsets(sampler, passes=2000, r=4, size=16, batch=4, seed=0):
    torch.manual_seed(seed)
    x = indexed_map(b=batch, c=1, h=size, w=size)
    counts = torch.zeros(r * r, dtype=torch.float64)
    for _ in range(passes):
        idx = sampler(x)[:, 0].long()
        offset = (idx // size % r) * r + idx % size % r
        counts += torch.bincount(offset.flatten(), minlength=r * r)
    expected = counts.sum() / (r * r)
    return float(((counts - expected) ** 2 / expected).sum()), counts


# chi-square with 15 degrees of freedom: P(stat > 60) is about 1e-7 for a uniform sampler.
CHI2_BOUND = 60.0


class SlightlyBiasedSampler(StochasticSampler):
    """Offset 0 drawn 10% more often than the others: a bias the uniformity test must catch."""

    def draw_offsets(self, batch, h, w, device):
        n = self.ratio**2
        probs = torch.ones(n)
        probs[0] = 1.1
        return torch.multinomial(probs, batch * h * w, replacement=True).view(batch, h, w)


def test_every_offset_is_drawn_uniformly():
    stat, counts = chi_square_of_offsets(StochasticSampler(4).train())
    assert (counts > 0).all()
    assert stat < CHI2_BOUND, f"chi-square {stat:.1f} over {counts.tolist()}"


def test_uniformity_bound_rejects_a_biased_sampler():
    stat, _ = chi_square_of_offsets(SlightlyBiasedSampler(4).train())
    assert stat > CHI2_BOUND
    stat, _ = chi_square_of_offsets(GridSampler(4).train(), passes=50)
    assert stat > CHI2_BOUND


def test_draws_differ_per_image_and_per_pass_in_training():
    s = StochasticSampler(4).train()
    x = indexed_map(b=2, c=1, h=16, w=16)
    a, b = s(x), s(x)
    assert not torch.equal(a[0], a[1])  # same image twice in a batch: different draws
    assert not torch.equal(a, b)  # the next pass: different draws


def test_seeded_inference_is_bit_for_bit_repeatable():
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    x = torch.rand(2, 3, 40, 48)
    with torch.no_grad():
        set_sampling(model, "seeded", 7)
        a = model(x)
        torch.rand(5)  # global RNG traffic must not matter
        set_sampling(model, "seeded", 7)
        b = model(x)
        set_sampling(model, "seeded", 8)
        c = model(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_grid_policy_takes_the_top_left_element_at_inference():
    s = StochasticSampler(2).eval()
    s.eval_policy = "grid"
    x = indexed_map(c=1, h=8, w=8)
    assert torch.equal(s(x), x[:, :, ::2, ::2])
    assert torch.equal(GridSampler(2).train()(x), x[:, :, ::2, ::2])


def test_gradients_reach_only_the_sampled_elements():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    torch.manual_seed(3)
    s = StochasticSampler(4).train()
    out = s(x)
    out.sum().backward()
    torch.manual_seed(3)
    idx = s.positions(x.detach())
    mask = torch.zeros(2, 64)
    mask.scatter_(1, idx, 1.0)
    assert torch.equal(x.grad, mask.view(2, 1, 8, 8).expand(2, 3, 8, 8))
    assert int(mask.sum()) == 2 * 4


def test_max_and_avg_equal_pooling():
    x = torch.randn(2, 5, 8, 12)
    assert torch.equal(MaxSampler(4)(x), F.max_pool2d(x, 4))
    assert torch.allclose(AvgSampler(2)(x), F.avg_pool2d(x, 2))
    assert torch.equal(build_sampler("max", 1)(x), x)


def test_ratio_that_does_not_divide_is_a_clear_error():
    with pytest.raises(ValueError, match="does not divide"):
        StochasticSampler(4)(torch.rand(1, 1, 10, 8))
    with pytest.raises(ValueError, match="positive integer"):
        StochasticSampler(0)
    with pytest.raises(ValueError, match="unknown sampler"):
        build_sampler("median", 2)
