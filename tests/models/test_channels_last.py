"""HST keeps its activations and convolution weights channels-last, with a fused LayerNorm and GDFN's
two halves computed apart (for speed): the same function as the plain NCHW computation (NCHW weights,
var_mean LayerNorm, NCHW gather, explicit softmax attention, GDFN's 2 x hidden convolution and chunk),
checked here on the same weights, input and sampler draws; and LayerNorm statistics in float32 under
autocast."""

import copy

import pytest
import torch
import torch.nn.functional as F

from hst.models import StochasticSampler, build_model, set_sampling
from hst.models.norm import LayerNorm2d


# --- the plain NCHW reference (the model's math before the channels-last rewrite) -----------------
def ref_ln(m, x):
    var, mu = torch.var_mean(x, dim=1, keepdim=True, unbiased=False)
    return (x - mu) * torch.rsqrt(var + m.eps) * m.weight[:, None, None] + m.bias[:, None, None]


def ref_sample(s, x):
    if s.ratio == 1:
        return x
    if not isinstance(s, StochasticSampler):  # max / avg pooling samplers: plain NCHW pooling
        return s(x.contiguous())
    b, c, hh, ww = x.shape
    idx = s.positions(x)  # the same draws (global RNG in training, the model's generator at inference)
    return x.flatten(2).gather(2, idx.unsqueeze(1).expand(b, c, idx.shape[1])).view(b, c, hh // s.ratio, ww // s.ratio)


def ref_gsa(g, x):
    t = ref_sample(g.sampler, x)
    b, c, h, w = t.shape
    q, k, v = g.qkv_dw(g.qkv(t)).reshape(b, 3, g.heads, c // g.heads, h * w).transpose(-1, -2).unbind(1)
    att = ((q @ k.transpose(-1, -2)) / g.beta).softmax(-1)
    return (att @ v).transpose(-1, -2).reshape(b, c, h, w)


def ref_gdfn(g, x):
    a, b = g.dwconv(g.project_in(x)).chunk(2, dim=1)  # Restormer's GDFN as written
    return g.project_out(F.gelu(a) * b)


def ref_block(blk, x):
    la = blk.la.body
    y = la[4](ref_ln(la[3], la[2](la[1](ref_ln(la[0], x)))))
    x = x + y
    x = x + blk.lp(ref_gsa(blk.gsa, ref_ln(blk.norm1, x)))
    return x + ref_gdfn(blk.ffn, ref_ln(blk.norm2, x))


def ref_stage(stage, x):
    for blk in stage:
        x = ref_block(blk, x)
    return x


def ref_hst(m, x):
    h, w = x.shape[-2:]
    inp = m._pad(x)
    feat = ref_ln(m.stem[1], m.stem[0](inp))
    skips = []
    for enc, down in zip(m.encoders, m.downs):
        feat = ref_stage(enc, feat)
        skips.append(feat)
        feat = down(feat)
    feat = ref_stage(m.bottom, feat)
    for i in reversed(range(3)):
        feat = m.reduces[i](torch.cat([m.ups[i](feat), skips[i]], dim=1))
        feat = ref_stage(m.decoders[i], feat)
    return (inp + m.head(feat))[..., :h, :w]


def _run(fn, model, x, seed):
    torch.manual_seed(seed)
    model.zero_grad(set_to_none=True)
    out = fn(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def plain_copy(model):
    """The same model with every weight in the plain contiguous (NCHW) layout."""
    plain = copy.deepcopy(model)
    with torch.no_grad():
        for p in plain.parameters():
            p.data = p.data.contiguous()
    assert all(p.is_contiguous() for p in plain.parameters())
    return plain


def _compare(model, x, mode):
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4)
    plain = plain_copy(model)
    for m in (model, plain):
        m.train(mode == "train")
        if mode != "train":
            set_sampling(m, mode, seed=3)  # the reference draws the same inference offsets
    out, grads = _run(model, model, x, seed=11)
    ref_out, ref_grads = _run(lambda t: ref_hst(plain, t), plain, x, seed=11)
    torch.testing.assert_close(out, ref_out, atol=2e-5, rtol=1e-4)
    assert grads.keys() == ref_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], atol=1e-4, rtol=1e-3, msg=name)
    return (out - ref_out).abs().max().item(), max((grads[n] - ref_grads[n]).abs().max().item() for n in grads)


@pytest.mark.parametrize("mode", ["train", "seeded", "grid"])
def test_tiny_equals_the_plain_nchw_computation_in_outputs_and_gradients(mode):
    torch.manual_seed(0)
    model = build_model("tiny", dim=8)
    _perturb(model)
    _compare(model, torch.rand(2, 3, 24, 40), mode)  # 24 x 40 -> padded: the crop path too


@pytest.mark.parametrize("sampler", ["max", "avg", "grid"])
def test_ablation_samplers_and_double_equal_the_plain_computation(sampler):
    torch.manual_seed(1)
    model = build_model("double", dim=8, sampler=sampler)
    _perturb(model)
    _compare(model, torch.rand(2, 3, 32, 32), "train")


def _perturb(model):
    # LayerNorm weights of one and biases of zero would hide a mix-up of the two: draw them.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LayerNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


def test_the_comparison_catches_a_changed_layer_norm():
    torch.manual_seed(0)
    model = build_model("tiny", dim=8)
    _perturb(model)
    model.stem[1].eps = 1e-1  # the model's eps no longer 1e-5 ...
    ref_eps = model.stem[1].eps
    model.train()
    torch.manual_seed(11)
    out = model(torch.rand(1, 3, 16, 16))
    model.stem[1].eps = 1e-5  # ... while the reference uses 1e-5
    torch.manual_seed(11)
    ref = ref_hst(model, torch.rand(1, 3, 16, 16))
    assert ref_eps != model.stem[1].eps and not torch.allclose(out, ref, atol=1e-4)


def test_activations_are_channels_last_inside_the_network():
    model = build_model("tiny", dim=8).eval()
    seen = []
    model.encoders[0].register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model(torch.rand(1, 3, 16, 16))
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and not seen[0].is_contiguous()


# --- LayerNorm statistics in float32 under autocast ------------------------------------------------
def _ln_input():
    # Pixels with a large common offset and small spread across channels, in bf16 as a convolution
    # under autocast returns them: bf16 statistics (mean rounded to 8 bits) lose the spread.
    torch.manual_seed(0)
    base = torch.randn(2, 1, 6, 6) * 4 + 20
    return (base + torch.randn(2, 48, 6, 6) * 0.3).bfloat16()


def test_layer_norm_statistics_are_float32_under_cpu_bf16_autocast():
    ln = LayerNorm2d(48)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
    x = _ln_input()
    with torch.no_grad():
        exact = ref_ln(ln, x.double()).float()  # the same bf16 input, statistics in float64
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = ln(x)
        bf16_stats = ref_ln(ln, x)  # what var_mean in bf16 gives (the old code under autocast)
    assert got.dtype == torch.bfloat16
    err = (got.float() - exact).abs().max().item()
    err_bf16 = (bf16_stats.float() - exact).abs().max().item()
    # Only the final rounding to bf16 remains (|y| < 6: half an ulp is 2^-6); bf16 statistics are far worse.
    assert err <= 2 ** -6, err
    assert err_bf16 > 8 * 2 ** -6, err_bf16


def test_layer_norm_float32_input_under_autocast_stays_float32():
    ln = LayerNorm2d(8)
    x = torch.randn(2, 8, 4, 4) * 3 + 5
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = ln(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, ref_ln(ln, x), atol=1e-5, rtol=1e-5)
