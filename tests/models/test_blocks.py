"""LA, LP, GDFN and the LGL block equations of Sec. 3.2."""

import pytest
import torch
import torch.nn.functional as F

from hst.models import GDFN, LGLBlock, LocalAggregation, LocalPropagation
from hst.models.norm import LayerNorm2d


def test_layer_norm_normalises_each_pixel_over_channels():
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    y = LayerNorm2d(6)(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 5, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(2, 5, 7), atol=1e-3, rtol=0)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (6,)).permute(0, 3, 1, 2)
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ratio", [1, 2, 4])
def test_local_propagation_restores_the_full_size(ratio):
    lp = LocalPropagation(8, ratio)
    assert lp.expand.out_channels == 8 * ratio * ratio
    assert lp(torch.rand(2, 8, 3, 5)).shape == (2, 8, 3 * ratio, 5 * ratio)


def test_local_aggregation_layout():
    la = LocalAggregation(8)
    kinds = [type(m).__name__ for m in la.body]
    assert kinds == ["LayerNorm2d", "Conv2d", "Conv2d", "LayerNorm2d", "Conv2d"]
    assert la.body[2].groups == 8 and la.body[2].kernel_size == (3, 3)
    assert la(torch.rand(1, 8, 6, 6)).shape == (1, 8, 6, 6)


@pytest.mark.parametrize("bias", [False, True])
def test_gdfn_sliced_inference_equals_the_whole(bias):
    torch.manual_seed(0)
    g = GDFN(16, bias=bias)
    assert g.hidden == int(16 * 2.66)
    x = torch.randn(2, 16, 9, 11)
    whole = g(x)  # autograd on: the plain path
    with torch.no_grad():
        sliced = g(x)
    torch.testing.assert_close(sliced, whole.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gdfn_equals_restormers_formula_in_outputs_and_gradients(bias, channels_last):
    # GDFN computes its halves a and b with their own convolutions on slices of the parameters; the
    # function is Restormer's: one 2 x hidden 1x1 conv, the depth-wise conv, chunk, GELU(a) * b, 1x1.
    torch.manual_seed(0)
    g = GDFN(16, bias=bias)
    if bias:
        with torch.no_grad():
            for p in g.parameters():
                p.normal_()
    x = torch.randn(2, 16, 9, 11)
    if channels_last:
        g = g.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    weights = torch.randn(2, 16, 9, 11)

    def grads(fn):
        g.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        out = fn(xi)
        (out * weights).sum().backward()
        return out.detach(), xi.grad, [p.grad.clone() for p in g.parameters()]

    def formula(t):
        a, b = F.conv2d(F.conv2d(t, g.project_in.weight, g.project_in.bias), g.dwconv.weight, g.dwconv.bias,
                        padding=1, groups=2 * g.hidden).chunk(2, dim=1)
        return F.conv2d(F.gelu(a) * b, g.project_out.weight, g.project_out.bias)

    def close(a, b):  # float32 rounding of sums in another order: relative to the tensor's scale
        assert (a - b).abs().max() <= 1e-5 * b.abs().max(), ((a - b).abs().max(), b.abs().max())

    out, gx, gp = grads(g)
    ref, rgx, rgp = grads(formula)
    close(out, ref)
    close(gx, rgx)
    for a, b in zip(gp, rgp):
        close(a, b)
    with torch.no_grad():  # the sliced inference path
        close(g(x), ref)


def test_lgl_block_follows_the_three_residual_equations():
    torch.manual_seed(0)
    blk = LGLBlock(8, heads=2, ratio=2, sampler="grid").eval()
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        x1 = blk.la(x) + x
        x2 = blk.lp(blk.gsa(blk.norm1(x1))) + x1
        expected = blk.ffn(blk.norm2(x2)) + x2
        torch.testing.assert_close(blk(x), expected)
