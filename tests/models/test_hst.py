"""The HST network: variants, any input size, dtypes, devices, and bad input."""

import pytest
import torch

from hst.errors import ConfigError
from hst.models import HST, LGLBlock, build_model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model("tiny")


@pytest.mark.parametrize("shape", [(1, 3, 64, 64), (3, 3, 37, 50), (2, 3, 1, 1), (1, 3, 5, 130)])
def test_any_size_and_batch_comes_back_the_same_shape(tiny, shape):
    x = torch.rand(shape)
    with torch.no_grad():
        y = tiny.eval()(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_padding_multiple_follows_the_ratios():
    assert build_model("tiny").size_multiple == 8  # ratios 4/2/2/1 -> 4, 4, 8, 8 with the three stride-2 steps
    assert build_model("tiny", ratios=[8, 4, 2, 2]).size_multiple == 16
    model = build_model("tiny", ratios=[8, 4, 2, 2])
    assert model(torch.rand(1, 3, 20, 33)).shape == (1, 3, 20, 33)


def test_gradients_flow_and_output_is_residual(tiny):
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    tiny.train()(x).mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in tiny.parameters())
    tiny.zero_grad()
    with torch.no_grad():
        head = tiny.head.weight.clone()
        tiny.head.weight.zero_()
        assert torch.equal(tiny.eval()(x), x)  # I' = I + M with M = 0
        tiny.head.weight.copy_(head)


def test_bf16_autocast_on_cpu(tiny):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = tiny.eval()(torch.rand(1, 3, 24, 40))
    assert y.shape == (1, 3, 24, 40) and torch.isfinite(y.float()).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_and_autocast(tiny):
    model = tiny.cuda().eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        y = model(torch.rand(2, 3, 45, 61, device="cuda"))
    assert y.shape == (2, 3, 45, 61)
    tiny.cpu()


def test_variants_and_overrides():
    tiny, double = build_model("tiny"), build_model("double")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(double) > count(tiny)
    assert sum(isinstance(m, LGLBlock) for m in tiny.modules()) == 7  # 3 encoder + bottom + 3 decoder
    assert sum(isinstance(m, LGLBlock) for m in double.modules()) == 14
    m = build_model("tiny", sampler="max", ratios=[2, 2, 1, 1])
    assert m.config["sampler"] == "max" and m.config["ratios"] == [2, 2, 1, 1]
    rebuilt = HST(**m.config)
    assert rebuilt.config == m.config


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"variant": "triple"}, "unknown variant"),
        ({"sampler_kind": "max"}, "model.sampler_kind: unknown model option"),
        ({"sampler": "median"}, "unknown sampler"),
        ({"ratios": [4, 2, 2]}, "ratios must be 4 positive integers"),
        ({"ratios": [4, 0, 2, 1]}, "ratios must be 4 positive integers"),
    ],
)
def test_bad_model_options_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_model(**kwargs)


def test_bad_input_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        tiny(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        tiny(torch.rand(3, 16, 16))
    x = torch.rand(1, 3, 16, 16)
    x[0, 1, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        tiny(x)


def test_zero_head_starts_from_the_identity():
    """zero_head (our choice for short runs): M = 0 at initialisation, so I' = I exactly."""
    from hst import build_model

    torch.manual_seed(0)
    x = torch.rand(2, 3, 24, 40)
    assert torch.equal(build_model("tiny", dim=8, zero_head=True)(x), x)
    assert not torch.equal(build_model("tiny", dim=8)(x), x)


@pytest.mark.parametrize("upsampler", ["conv3x3-shuffle", "conv1x1-shuffle", "transposed2x2", "bilinear-conv1x1"])
@pytest.mark.parametrize("width", [1, 2])
def test_open_choices_upsampler_and_decoder0_width_build_and_run(upsampler, width):
    model = build_model("tiny", dim=8, upsampler=upsampler, decoder0_width=width)
    x = torch.rand(1, 3, 16, 16)
    assert model(x).shape == x.shape
    assert model.config["upsampler"] == upsampler and model.config["decoder0_width"] == width


def test_default_reading_keeps_the_state_dict_keys():
    keys = set(build_model("tiny", dim=8).state_dict())
    assert "ups.0.0.weight" in keys and "reduces.0.weight" in keys and "head.weight" in keys


@pytest.mark.parametrize("kwargs, match", [({"upsampler": "nearest"}, "unknown upsampler"),
                                           ({"decoder0_width": 3}, "decoder0_width must be 1")])
def test_bad_open_choice_is_a_clear_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_model("tiny", **kwargs)
