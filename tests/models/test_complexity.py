"""Table 1 complexity: fvcore MACs agree with torch's flop counter, and nothing is dropped silently."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from hst.cli import main
from hst.models import build_model
from hst.models.complexity import complexity_rows, count_macs, count_params
from hst.models.global_sparse_attention import GlobalSparseAttention


def test_fvcore_macs_are_half_of_torch_flop_counter():
    model = build_model("tiny").eval()
    macs, skipped = count_macs(model, 64)
    # The math backend spells attention as two bmm's, which torch's counter knows; the fused CPU
    # kernel used otherwise is opaque to it.
    with FlopCounterMode(display=False) as counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        model(torch.rand(1, 3, 64, 64))
    assert counter.get_flop_counts()["Global"].get(torch.ops.aten.bmm, 0) > 0
    assert 2 * macs == counter.get_total_flops()
    assert "aten::scaled_dot_product_attention" not in skipped  # handled, not dropped
    assert "aten::pixel_shuffle" not in skipped
    assert "aten::gelu" in skipped  # element-wise work is listed, not hidden


def test_attention_handle_counts_qk_and_av():
    class Wrap(torch.nn.Module):
        in_channels = 8

        def __init__(self):
            super().__init__()
            self.gsa = GlobalSparseAttention(8, heads=2, ratio=2, sampler="grid")

        def forward(self, x):
            return self.gsa(x)

    model = Wrap()
    macs, _ = count_macs(model, 16)
    n = (16 // 2) ** 2
    convs = n * 8 * 24 + n * 24 * 9  # 1x1 to QKV, then the 3x3 depth-wise conv
    attention = 2 * n * n * 4 * 2  # heads x (QK^T + AV), head dim 4
    assert macs == convs + attention


@pytest.mark.slow
def test_rows_of_every_registered_architecture():
    rows = complexity_rows(sizes=(64,))
    assert [r["model"] for r in rows] == ["HST-tiny", "HST-double", "PReNet", "BRN", "DMPHN(1-2-4)", "Stack(4)-DMPHN"]
    # PReNet as weights.md counts it: 168,963 parameters, 1,010,880 MACs per pixel (66.25 G at 256x256).
    prenet = rows[2]
    assert prenet["params"] == 168_963
    assert prenet["gmacs_64"] == round(1_010_880 * 64 * 64 / 1e9, 3)
    assert rows[0]["params"] == count_params(build_model("tiny"))
    assert rows[1]["gmacs_64"] > rows[0]["gmacs_64"]
    # Every row says which architecture and variant it measures: the tables select on these columns.
    assert [(r["arch"], r["variant"]) for r in rows] == [("hst", "tiny"), ("hst", "double"), ("prenet", ""), ("brn", ""),
                                                         ("dmphn", ""), ("dmphn", "")]
    # The released baselines as weights.md counts them: BRN's used parameters, DMPHN's encoders and decoders.
    assert [r["params"] for r in rows[3:]] == [375_526, 5_424_393, 21_697_572]


@pytest.mark.slow
def test_cli_prints_markdown_and_csv(capsys, tmp_path):
    assert main(["complexity", "--sizes", "32"]) == 0
    out = capsys.readouterr().out
    assert "HST-tiny" in out and "HST-double" in out and "paper" not in out  # measurements only: the claims are the paper layer's
    assert main(["complexity", "--format", "csv", "--models", "HST-tiny", "--sizes", "32", "-o", str(tmp_path / "t.csv")]) == 0
    assert (tmp_path / "t.csv").read_text().startswith("model,arch,variant,blocks,channels,heads,ratios,sampler,params,gmacs_32")


@pytest.mark.slow
def test_readings_cover_every_open_choice_with_the_reduction_of_tiny_against_double(capsys):
    from hst.models.complexity import readings_rows

    rows = readings_rows()
    assert len(rows) == 4 * 3 * 2
    default = next(r for r in rows if (r["upsampler"], r["ratios"], r["decoder0"]) == ("conv3x3-shuffle", "4/2/2/1", "C"))
    assert default["params_tiny"] == count_params(build_model("tiny"))
    assert default["params_double"] == count_params(build_model("double"))
    for r in rows:
        assert r["reduction_pct"] == round(100 * (1 - r["params_tiny"] / r["params_double"]), 2)
        assert set(r) == {"upsampler", "ratios", "decoder0", "params_tiny", "params_double", "reduction_pct"}
    assert main(["complexity", "--readings"]) == 0
    out = capsys.readouterr().out
    assert "bilinear-conv1x1" in out and "8/4/2/2" in out and "48.1" not in out
