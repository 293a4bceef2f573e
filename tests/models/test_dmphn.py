"""DMPHN (Zhang et al., CVPR 2019): the released encoder/decoder names and sizes, a strict load of files
saved under those names, the hierarchy and the stacks against the authors' test scripts written out,
the [-0.5, 0.5] convention, and padding and cropping for sizes the levels cannot split."""

import pytest
import torch

from hst.engine.checkpoint import load_model, save_checkpoint
from hst.errors import ConfigError
from hst.models import ARCHS, DMPHN, arch_of, build_arch, model_label
from hst.models.complexity import count_params
from hst.models.dmphn import Decoder, Encoder

ENCODER_KEYS = sorted([f"layer{k}.{p}" for k in (1, 5, 9) for p in ("weight", "bias")]
                      + [f"layer{k}.{i}.{p}" for k in (2, 3, 6, 7, 10, 11) for i in (0, 2) for p in ("weight", "bias")])
DECODER_KEYS = sorted([f"layer{k}.{p}" for k in (16, 20, 24) for p in ("weight", "bias")]
                      + [f"layer{k}.{i}.{p}" for k in (13, 14, 17, 18, 21, 22) for i in (0, 2) for p in ("weight", "bias")])


def test_encoder_and_decoder_have_the_released_names_and_sizes():
    assert sorted(Encoder().state_dict()) == ENCODER_KEYS and sorted(Decoder().state_dict()) == DECODER_KEYS
    assert count_params(Encoder()) == 868_288 and count_params(Decoder()) == 939_843
    # The released models (shared/reference/baselines/weights.md).
    assert count_params(DMPHN("1-2-4", 1)) == 5_424_393
    assert count_params(DMPHN("1-2-4-8", 1)) == 7_232_524
    assert count_params(DMPHN("1-2-4", 4)) == 21_697_572
    assert DMPHN("1-2-4").multiple_hw == (8, 8) and DMPHN("1-2-4-8").multiple_hw == (16, 8)
    assert DMPHN("1-2-4").size_multiple == 8 and DMPHN("1-2-4-8").size_multiple == 16


def _released_files(tmp_path, model: DMPHN) -> dict[str, str]:
    """The model's parts saved as the authors did: one state dict per file, named encoder_s{s}_lv{k}.pkl."""
    files = {}
    for kind in ("encoder", "decoder"):
        for part, module in getattr(model, kind).items():
            path = tmp_path / f"{kind}_{part}.pkl"
            torch.save({k: v.clone() for k, v in module.state_dict().items()}, path)
            files[f"{kind}.{part}"] = path
    return files


def test_files_under_the_released_names_load_strictly_into_the_parts(tmp_path):
    torch.manual_seed(0)
    source = DMPHN("1-2-4", 2).eval()
    state = {}
    for prefix, path in _released_files(tmp_path, source).items():
        for key, value in torch.load(path, map_location="cpu", weights_only=True).items():
            state[f"{prefix}.{key}"] = value
    model = build_arch("dmphn", {"levels": "1-2-4", "stacks": 2}).eval()
    model.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def _script_1_2_4(model: DMPHN, images_lv1: torch.Tensor) -> torch.Tensor:
    """DMPHN_1_2_4_test.py's forward pass, line by line (input already in [-0.5, 0.5])."""
    e = {k: model.encoder[f"s1_lv{k}"] for k in (1, 2, 3)}
    d = {k: model.decoder[f"s1_lv{k}"] for k in (1, 2, 3)}
    H, W = images_lv1.shape[2:]
    lv2_1, lv2_2 = images_lv1[:, :, 0:H // 2, :], images_lv1[:, :, H // 2:H, :]
    lv3 = [lv2_1[:, :, :, 0:W // 2], lv2_1[:, :, :, W // 2:W], lv2_2[:, :, :, 0:W // 2], lv2_2[:, :, :, W // 2:W]]
    f3 = [e[3](p) for p in lv3]
    f3_top, f3_bot = torch.cat((f3[0], f3[1]), 3), torch.cat((f3[2], f3[3]), 3)
    feature_lv3 = torch.cat((f3_top, f3_bot), 2)
    r3_top, r3_bot = d[3](f3_top), d[3](f3_bot)
    feature_lv2 = torch.cat((e[2](lv2_1 + r3_top), e[2](lv2_2 + r3_bot)), 2) + feature_lv3
    residual_lv2 = d[2](feature_lv2)
    return d[1](e[1](images_lv1 + residual_lv2) + feature_lv2)


def test_dmphn_1_2_4_is_the_authors_test_script_shifted_by_one_half():
    torch.manual_seed(2)
    model = DMPHN("1-2-4", 1).eval()
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _script_1_2_4(model, x - 0.5) + 0.5)


def _script_stack2(model: DMPHN, x: torch.Tensor) -> torch.Tensor:
    """SDNet2_test.py's forward pass for stacks s1 and s2 (the stacked scripts' pattern)."""
    H, W = x.shape[2:]
    E = lambda s, k: model.encoder[f"s{s}_lv{k}"]  # noqa: E731
    D = lambda s, k: model.decoder[f"s{s}_lv{k}"]  # noqa: E731
    quads = lambda t: [t[:, :, :H // 2, :W // 2], t[:, :, :H // 2, W // 2:], t[:, :, H // 2:, :W // 2], t[:, :, H // 2:, W // 2:]]  # noqa: E731
    halves = lambda t: [t[:, :, :H // 2], t[:, :, H // 2:]]  # noqa: E731
    f, r = {}, {}
    q = [E(1, 3)(p) for p in quads(x)]
    f["1_3"] = [torch.cat((q[0], q[1]), 3), torch.cat((q[2], q[3]), 3)]
    r3 = [D(1, 3)(t) for t in f["1_3"]]
    f["1_2"] = [E(1, 2)(h + rr) + t for h, rr, t in zip(halves(x), r3, f["1_3"])]
    r2 = D(1, 2)(torch.cat(f["1_2"], 2))
    f["1_1"] = E(1, 1)(x + r2) + torch.cat(f["1_2"], 2)
    r["1"] = D(1, 1)(f["1_1"])
    q = [E(2, 3)(p) for p in quads(r["1"])]
    f3 = [torch.cat((q[0], q[1]), 3) + f["1_3"][0], torch.cat((q[2], q[3]), 3) + f["1_3"][1]]
    r3 = [D(2, 3)(t) for t in f3]
    f2 = [E(2, 2)(h + rr) + t + p for h, rr, t, p in zip(halves(r["1"]), r3, f3, f["1_2"])]
    r2 = D(2, 2)(torch.cat(f2, 2)) + r["1"]  # + residual['s1']['lv1'], as the scripts do
    return D(2, 1)(E(2, 1)(r["1"] + r2) + torch.cat(f2, 2) + f["1_1"])


def test_stack_2_is_the_authors_stacked_script():
    torch.manual_seed(3)
    model = DMPHN("1-2-4", 2).eval()
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _script_stack2(model, x - 0.5) + 0.5)


def test_levels_1_2_4_8_split_the_height_again():
    torch.manual_seed(4)
    model = DMPHN("1-2-4-8", 1).eval()
    seen = []
    model.encoder["s1_lv4"].register_forward_hook(lambda m, args, out: seen.append(tuple(args[0].shape[2:])))
    with torch.no_grad():
        out = model(torch.rand(1, 3, 32, 16))
    assert out.shape == (1, 3, 32, 16) and seen == [(8, 8)] * 8


def test_the_network_sees_minus_one_half_to_one_half_and_returns_zero_to_one():
    model = DMPHN("1-2-4", 1).eval()
    seen = []
    model.encoder["s1_lv3"].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        model.decoder["s1_lv1"].layer24.weight.zero_()
        model.decoder["s1_lv1"].layer24.bias.zero_()
        x = torch.rand(1, 3, 16, 16)
        out = model(x)
    assert float(torch.cat([s.flatten() for s in seen]).min()) >= -0.5 and float(seen[0].max()) <= 0.5
    torch.testing.assert_close(seen[0], x[:, :, :8, :8] - 0.5)
    torch.testing.assert_close(out, torch.full_like(x, 0.5))  # a zero network output is mid-grey, as the scripts' + 0.5


@pytest.mark.parametrize("size", [(13, 21), (7, 5), (1, 1), (17, 40)])
def test_sizes_the_levels_cannot_split_are_padded_and_cropped(size):
    torch.manual_seed(5)
    model = DMPHN("1-2-4", 1).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        out = model(x)
        assert out.shape == x.shape
        h, w = size
        ph, pw = -h % 8, -w % 8
        mode = "reflect" if ph < h and pw < w else "replicate"
        padded = torch.nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
        torch.testing.assert_close(out, model(padded)[..., :h, :w])


def test_registry_labels_checkpoints_and_options(tmp_path):
    model = build_arch("dmphn", {"levels": "1-2-4", "stacks": 4})
    assert arch_of(model) == "dmphn" and model.config == {"levels": "1-2-4", "stacks": 4}
    assert model_label({"arch": "dmphn"}) == "DMPHN(1-2-4)"
    assert model_label({"arch": "dmphn", "stacks": 4}) == "Stack(4)-DMPHN"
    assert model_label({"arch": "dmphn", "levels": "1-2-4-8"}) == "DMPHN(1-2-4-8)"
    assert {"levels": "1-2-4", "stacks": 4} in ARCHS["dmphn"].table1
    save_checkpoint(tmp_path / "d.pt", DMPHN("1-2-4-8"))
    loaded, ckpt = load_model(tmp_path / "d.pt")
    assert ckpt["arch"] == "dmphn" and loaded.config == {"levels": "1-2-4-8", "stacks": 1}
    with pytest.raises(ConfigError, match="levels must be one of"):
        build_arch("dmphn", {"levels": "1-3"})
    with pytest.raises(ConfigError, match="stacks must be 1 to 4"):
        build_arch("dmphn", {"stacks": 5})


def test_the_recipe_trains_dmphn_with_its_papers_optimiser_and_loss():
    from pathlib import Path

    from hst.engine.config import load_config
    from hst.engine.state import build_training_state

    config = load_config(Path(__file__).resolve().parents[2] / "config/recipes/dmphn-synthetic.yaml")
    assert config["model"] == {"arch": "dmphn", "levels": "1-2-4", "stacks": 1} and config["loss"]["name"] == "mse"
    assert (config["optim"]["lr"], config["optim"]["decay"], config["optim"]["gamma"]) == (1e-4, "step", 0.1)
    assert config["data"]["patch_size"] % 8 == 0
    torch.manual_seed(0)
    state = build_training_state(config, torch.device("cpu"), 4)
    x = torch.rand(2, 3, 16, 16)
    first = float(state.step(x, x.flip(-1)).detach())
    assert first > 0 and float(state.step(x, x.flip(-1)).detach()) < first
