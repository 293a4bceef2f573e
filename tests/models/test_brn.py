"""BRN (Shang et al., ICASSP 2020; Ren et al., TIP 2020): the released checkpoints' names and sizes, a strict
load of a state dict under those names (with the RecDerain release's ``module.`` prefix stripped), and the
bilateral recurrence written out by hand."""

import pytest
import torch

from hst.engine.checkpoint import load_model, save_checkpoint
from hst.errors import ConfigError
from hst.models import ARCHS, BRN, arch_of, build_arch, build_from_config, model_label
from hst.models.complexity import count_params

_PAIR = ("weight", "bias")
# The 64 keys of the authors' net_latest.pth files (shared/reference/baselines/weights.md).
RELEASED_KEYS = sorted(
    [f"{n}.0.{p}" for n in ("conv0", "conv0_r", "conv", "conv_r") for p in _PAIR]
    + [f"conv_{g}{b}.0.{p}" for g in "ifgo" for b in ("", "_r") for p in _PAIR]
    + [f"res_conv{k}{b}.{i}.{p}" for k in range(1, 6) for b in ("", "_r") for i in (0, 2) for p in _PAIR]
)


def test_names_shapes_and_parameter_counts_are_the_released_ones():
    model = BRN()
    state = model.state_dict()
    assert sorted(state) == RELEASED_KEYS
    assert state["conv0.0.weight"].shape == (32, 9, 3, 3) and state["conv0_r.0.weight"].shape == (32, 6, 3, 3)
    assert state["conv_i.0.weight"].shape == (32, 96, 3, 3) and state["conv_o_r.0.weight"].shape == (32, 96, 3, 3)
    assert state["conv.0.weight"].shape == (3, 32, 3, 3) and state["conv_r.0.weight"].shape == (3, 32, 3, 3)
    assert sum(v.numel() for v in state.values()) == 412_518  # what the files hold
    assert count_params(model) == 375_526  # what the network uses (res_conv4_r, res_conv5_r frozen)
    assert count_params(BRN(stages=8)) == 375_526  # the stages share their weights


def test_a_state_dict_under_the_released_names_loads_strictly_and_restores_the_same(tmp_path):
    torch.manual_seed(0)
    source = BRN(stages=2).eval()
    # As csdwren/RecDerain saved it (nn.DataParallel): every key under `module.`.
    released = {f"module.{k}": v.clone() for k, v in source.state_dict().items()}
    torch.save(released, tmp_path / "net_latest.pth")
    state = torch.load(tmp_path / "net_latest.pth", map_location="cpu", weights_only=True)
    model = build_arch("brn", {"stages": 2}).eval()
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    y = torch.rand(1, 3, 10, 13)
    with torch.no_grad():
        torch.testing.assert_close(model(y), source(y), rtol=0, atol=0)


def _by_hand(model: BRN, y: torch.Tensor) -> torch.Tensor:
    """The two branches written out: F_r over [y, r] with its LSTM over [f_r, h_r, h]; F_x over [y, x, r]
    with its LSTM over [f_x, h, h_r]; 3 and 5 residual blocks; the output x_T itself."""
    sd = model.state_dict()

    def c3(name, t):
        return torch.nn.functional.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    def branch(b, inp, h, c, other, blocks):
        z = torch.cat([torch.relu(c3(f"conv0{b}.0", inp)), h, other], 1)
        i, f = torch.sigmoid(c3(f"conv_i{b}.0", z)), torch.sigmoid(c3(f"conv_f{b}.0", z))
        g, o = torch.tanh(c3(f"conv_g{b}.0", z)), torch.sigmoid(c3(f"conv_o{b}.0", z))
        c = f * c + i * g
        h = o * torch.tanh(c)
        z = h
        for k in range(1, blocks + 1):
            z = torch.relu(z + torch.relu(c3(f"res_conv{k}{b}.2", torch.relu(c3(f"res_conv{k}{b}.0", z)))))
        return c3(f"conv{b}.0", z), h, c

    h = torch.zeros(y.shape[0], 32, *y.shape[2:])
    c, h_r, c_r, x, r = h.clone(), h.clone(), h.clone(), y, y
    for _ in range(model.stages):
        r, h_r, c_r = branch("_r", torch.cat([y, r], 1), h_r, c_r, h, 3)
        x, h, c = branch("", torch.cat([y, x, r], 1), h, c, h_r, 5)
    return x


def test_forward_equals_the_bilateral_recurrence_written_out():
    torch.manual_seed(1)
    model = BRN(stages=3).eval()
    y = torch.rand(2, 3, 11, 9)
    with torch.no_grad():
        out = model(y)
        assert out.shape == y.shape
        torch.testing.assert_close(out, _by_hand(model, y))


def test_registry_labels_checkpoints_and_options(tmp_path):
    model = build_from_config({"arch": "brn", "stages": 8})
    assert arch_of(model) == "brn" and model.config == {"stages": 8} and model.size_multiple == 1
    assert model_label({"arch": "brn", "stages": 4}) == "BRN" and model_label({"arch": "brn", "stages": 8}) == "BRN (8 stages)"
    assert ARCHS["brn"].settings(model.config)["channels"] == "32"
    save_checkpoint(tmp_path / "b.pt", BRN(stages=1))
    loaded, ckpt = load_model(tmp_path / "b.pt")
    assert ckpt["arch"] == "brn" and loaded.config == {"stages": 1}
    with pytest.raises(ConfigError, match=r"model\.channels: unknown brn option"):
        build_arch("brn", {"channels": 16})
    with pytest.raises(ConfigError, match="stages must be >= 1"):
        build_arch("brn", {"stages": 0})


def test_the_recipe_trains_brn_with_its_papers_optimiser_and_loss():
    from pathlib import Path

    from hst.engine.config import load_config
    from hst.engine.state import build_training_state

    config = load_config(Path(__file__).resolve().parents[2] / "config/recipes/brn-synthetic.yaml")
    assert config["model"] == {"arch": "brn", "stages": 4} and config["loss"]["name"] == "neg_ssim"
    assert (config["optim"]["lr"], config["optim"]["decay"], config["optim"]["gamma"]) == (1e-3, "step", 0.2)
    torch.manual_seed(0)
    state = build_training_state(config, torch.device("cpu"), 4)
    x = torch.rand(2, 3, 16, 16)
    losses = [float(state.step(x, x.flip(-1)).detach()) for _ in range(2)]
    assert all(-1 <= v <= 1 for v in losses)
    assert state.model.res_conv4_r[0].weight.grad is None  # built, never called: frozen
