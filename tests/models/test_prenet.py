"""PReNet (Ren et al., CVPR 2019): the released checkpoints' names and sizes, and the recurrence by hand."""

import pytest
import torch

from hst.engine.checkpoint import load_model, save_checkpoint
from hst.models import ARCHS, PReNet, arch_of, build_arch
from hst.errors import ConfigError

# The 32 keys of the authors' net_latest.pth files (shared/reference/baselines/weights.md).
RELEASED_KEYS = sorted(
    [f"conv0.0.{p}" for p in ("weight", "bias")]
    + [f"res_conv{k}.{i}.{p}" for k in range(1, 6) for i in (0, 2) for p in ("weight", "bias")]
    + [f"conv_{g}.0.{p}" for g in "ifgo" for p in ("weight", "bias")]
    + [f"conv.0.{p}" for p in ("weight", "bias")]
)


def test_names_shapes_and_parameter_count_are_the_released_ones():
    model = PReNet()
    state = model.state_dict()
    assert sorted(state) == RELEASED_KEYS
    assert state["conv0.0.weight"].shape == (32, 6, 3, 3)
    assert state["res_conv3.2.weight"].shape == (32, 32, 3, 3)
    assert state["conv_g.0.weight"].shape == (32, 64, 3, 3)
    assert state["conv.0.weight"].shape == (3, 32, 3, 3)
    assert sum(p.numel() for p in model.parameters()) == 168_963


def test_output_is_the_input_plus_f_out_of_the_last_stage():
    torch.manual_seed(0)
    model = PReNet(stages=3).eval()
    with torch.no_grad():
        model.conv[0].weight.zero_()
        model.conv[0].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    y = torch.rand(2, 3, 9, 11)
    out = model(y)
    assert out.shape == y.shape
    torch.testing.assert_close(out, y + torch.tensor([0.1, -0.2, 0.3])[:, None, None])


def _by_hand(model: PReNet, y: torch.Tensor) -> torch.Tensor:
    """The paper's recurrence written out: stage t feeds [y, x_{t-1}] and carries (h, c) of the ConvLSTM."""
    conv = torch.nn.functional.conv2d
    sd = model.state_dict()

    def c3(name, t):
        return conv(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    h = torch.zeros(y.shape[0], 32, *y.shape[2:])
    c, x = torch.zeros_like(h), y
    for _ in range(model.stages):
        f = torch.relu(c3("conv0.0", torch.cat([y, x], 1)))
        xh = torch.cat([f, h], 1)
        i, fg = torch.sigmoid(c3("conv_i.0", xh)), torch.sigmoid(c3("conv_f.0", xh))
        g, o = torch.tanh(c3("conv_g.0", xh)), torch.sigmoid(c3("conv_o.0", xh))
        c = fg * c + i * g
        h = o * torch.tanh(c)
        z = h
        for k in range(1, 6):
            r = torch.relu(c3(f"res_conv{k}.2", torch.relu(c3(f"res_conv{k}.0", z))))
            z = torch.relu(z + r)
        x = y + c3("conv.0", z)
    return x


def test_forward_equals_the_recurrence_written_out():
    torch.manual_seed(1)
    model = PReNet().eval()
    y = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(model(y), _by_hand(model, y))


def test_registry_builds_by_name_and_checkpoints_record_the_architecture(tmp_path):
    assert set(ARCHS) >= {"hst", "prenet"}
    model = build_arch("prenet", {"stages": 2, "channels": 8, "blocks": 1})
    assert arch_of(model) == "prenet" and model.config == {"stages": 2, "channels": 8, "blocks": 1}
    save_checkpoint(tmp_path / "p.pt", model)
    loaded, ckpt = load_model(tmp_path / "p.pt")
    assert ckpt["arch"] == "prenet" and type(loaded) is PReNet
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(ConfigError, match=r"model\.width: unknown prenet option"):
        build_arch("prenet", {"width": 3})
    with pytest.raises(ConfigError, match=r"model\.arch: unknown architecture 'unet'"):
        build_arch("unet", {})


def test_a_checkpoint_without_arch_reads_as_hst(tmp_path):
    from hst.models import build_model

    model = build_model("tiny", dim=8)
    save_checkpoint(tmp_path / "h.pt", model)
    ckpt = torch.load(tmp_path / "h.pt", weights_only=True)
    del ckpt["arch"]  # as written before architectures had names
    torch.save(ckpt, tmp_path / "old.pt")
    loaded, _ = load_model(tmp_path / "old.pt")
    assert arch_of(loaded) == "hst"
