"""GSA's fused attention equals the explicit V . softmax(Q K^T / beta) of Sec. 3.3."""

import pytest
import torch

from hst.models.global_sparse_attention import GlobalSparseAttention


def explicit_attention(gsa: GlobalSparseAttention, x: torch.Tensor) -> torch.Tensor:
    tokens = gsa.sampler(x)
    b, c, h, w = tokens.shape
    q, k, v = gsa.qkv_dw(gsa.qkv(tokens)).chunk(3, dim=1)
    q, k, v = (t.reshape(b, gsa.heads, c // gsa.heads, h * w) for t in (q, k, v))
    attn = torch.softmax(q.transpose(-1, -2) @ k / gsa.beta, dim=-1)  # B x heads x N x N, materialised
    return (attn @ v.transpose(-1, -2)).transpose(-1, -2).reshape(b, c, h, w)


@pytest.mark.parametrize("sampler,ratio", [("grid", 2), ("max", 2), ("stochastic", 1), ("avg", 4)])
def test_fused_attention_equals_explicit_softmax_in_forward_and_gradients(sampler, ratio):
    torch.manual_seed(0)
    gsa = GlobalSparseAttention(dim=8, heads=2, ratio=ratio, sampler=sampler).double()
    with torch.no_grad():
        gsa.beta.copy_(torch.tensor([0.7, 2.5]).view(2, 1, 1))  # a different beta per head
    x = torch.randn(2, 8, 8, 16, dtype=torch.float64)
    grads = []
    for fn in (gsa, lambda t: explicit_attention(gsa, t)):
        xi = x.clone().requires_grad_(True)
        gsa.zero_grad()
        out = fn(xi)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append((out.detach(), xi.grad.clone(), gsa.beta.grad.clone(), gsa.qkv.weight.grad.clone()))
    for fused, explicit in zip(*grads):
        torch.testing.assert_close(fused, explicit, rtol=1e-9, atol=1e-10)


def test_float32_fused_matches_explicit_to_float_tolerance():
    torch.manual_seed(1)
    gsa = GlobalSparseAttention(dim=16, heads=4, ratio=2, sampler="grid")
    x = torch.randn(1, 16, 16, 16)
    torch.testing.assert_close(gsa(x), explicit_attention(gsa, x), rtol=1e-4, atol=1e-5)


def test_channels_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible by heads"):
        GlobalSparseAttention(dim=10, heads=4, ratio=1)


def test_memory_grows_with_n_not_n_squared():
    """At N = 8192 tokens an explicit attention matrix is 256 MiB; the fused path allocates far less."""
    gsa = GlobalSparseAttention(dim=8, heads=1, ratio=1).eval()
    x = torch.randn(1, 8, 64, 128)
    n = 64 * 128
    with torch.no_grad(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        gsa(x)
    biggest = max(e.self_cpu_memory_usage for e in prof.key_averages())
    assert biggest < n * n * 4 / 16, f"an op allocated {biggest / 2**20:.0f} MiB"
