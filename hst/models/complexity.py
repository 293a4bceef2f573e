"""Model complexity (paper Table 1): parameters, MACs via fvcore, and forward time.

Convention: one fused multiply-add = one MAC. fvcore counts exactly that (it calls the
result "flops"); ``torch.utils.flop_counter`` counts 2 per multiply-add. The attention
matmuls (Q K^T and A V) are included through a handle for scaled_dot_product_attention,
which fvcore's trace otherwise counts as 0. Element-wise ops (norms, activations, adds)
are not counted, as in the field's tables; every op fvcore skipped is listed in the output.
"""

from __future__ import annotations

import argparse
import io
import time
from collections import Counter
from typing import Any

import torch

from hst.fsutil import atomic_write_text
from hst.models import ARCHS, VARIANTS, build_from_config, build_model, model_label
from hst.options import add_out

SIZES = (128, 256)
# Table 1's models by label: a run config's ``model`` section each, every registered architecture's
# Table 1 configurations (hst.models.Arch.table1).
MODELS: dict[str, dict[str, Any]] = {model_label(m): m for m in ({"arch": name, **options}
                                                                 for name, arch in ARCHS.items() for options in arch.table1)}


def _sdpa_macs(inputs: list, outputs: list) -> int:
    """MACs of softmax(Q K^T) V: B*h*N*M*d for Q K^T plus B*h*N*M*dv for A V."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(t) for t in inputs[:3])
    *batch, n, d = q
    m, dv = k[-2], v[-1]
    b = 1
    for s in batch:
        b *= s
    return b * n * m * (d + dv)


def _zero(inputs: list, outputs: list) -> int:
    return 0


# Ops that do no arithmetic: counted as 0 on purpose, so they are not reported as skipped.
ZERO_COST_OPS = ("aten::pixel_shuffle", "aten::randint", "aten::gather")


def count_params(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: torch.nn.Module, size: int | tuple[int, int]) -> tuple[int, dict[str, int]]:
    """(MACs of one forward pass on a 1 x C x H x W input, {op skipped by fvcore: times seen})."""
    from fvcore.nn import FlopCountAnalysis

    h, w = (size, size) if isinstance(size, int) else size
    x = torch.rand(1, model.in_channels, h, w)
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, x)
        analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
        for op in ZERO_COST_OPS:
            analysis.set_op_handle(op, _zero)
        # Norms are element-wise work, not counted (module docstring); fvcore has a handle for
        # layer_norm that counts it, so drop that handle: the op is then listed among the skipped.
        analysis._op_handles.pop("aten::layer_norm", None)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = int(analysis.total())
        skipped = dict(sorted(Counter(analysis.unsupported_ops()).items()))
    finally:
        model.train(was_training)
    return total, skipped


def layer_macs(model: torch.nn.Module, size: int) -> int:
    """MACs of the convolutions and linear layers of one forward pass on a 1 x C x size x size input, from their
    weights and output sizes (module hooks; one eager pass, no fvcore trace). :func:`count_macs` less the attention
    matmuls: cheap enough for the Snakefile's parse, which ranks trainings by it (hst.study.plan.training_work)."""
    total = 0

    def hook(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.ConvTranspose2d):  # each input pixel meets every weight
            total += inputs[0][0, 0].numel() * module.weight.numel()
        elif isinstance(module, torch.nn.Conv2d):  # each output pixel meets every weight
            total += output[0, 0].numel() * module.weight.numel()
        else:  # Linear: each output row meets every weight
            total += output.numel() // module.out_features * module.weight.numel()

    layers = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, layers)]
    was_training, threads = model.training, torch.get_num_threads()
    model.eval()
    # One thread: a pass this small gains nothing from more, and on a busy machine their spinning made it take seconds.
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            model(torch.rand(1, model.in_channels, size, size))
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def time_forward(model: torch.nn.Module, size: int, repeats: int = 3, device: str = "cpu") -> float:
    """Median seconds of one forward pass at size x size (after one warm-up)."""
    model = model.to(device).eval()
    x = torch.rand(1, model.in_channels, size, size, device=device)
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def settings(model_section: dict[str, Any], model: torch.nn.Module) -> dict[str, Any]:
    """Table 1's settings columns for one model (blocks, channels, heads, ratios, sampler), from its registry entry."""
    arch = model_section.get("arch", "hst")
    return ARCHS[arch].settings(model.config)


def complexity_rows(models=tuple(MODELS), sizes=SIZES, with_time: bool = False) -> list[dict[str, Any]]:
    """One row per model of :data:`MODELS`: settings, params, GMACs per size, the ops fvcore skipped."""
    rows = []
    for name in models:
        section = MODELS[name]
        model = build_from_config(section)
        options = {k: v for k, v in section.items() if k != "arch"}
        row: dict[str, Any] = {"model": name, "arch": section["arch"], "variant": options.get("variant", ""),
                               **settings(section, model), "params": count_params(model)}
        skipped_all: Counter = Counter()
        for size in sizes:
            macs, skipped = count_macs(model, size)
            row[f"gmacs_{size}"] = round(macs / 1e9, 3)
            skipped_all |= Counter(skipped)  # per forward pass; the same ops at every size
            if with_time:
                row[f"cpu_s_{size}"] = round(time_forward(model, size), 4)
        row["skipped_ops"] = " ".join(f"{op.removeprefix('aten::')}x{n}" for op, n in sorted(skipped_all.items()))
        rows.append(row)
    return rows


def render(rows: list[dict[str, Any]], fmt: str = "markdown") -> str:
    """The rows as CSV or Markdown (with the MAC convention)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    out = io.StringIO()
    if fmt == "csv":
        df.to_csv(out, index=False)
        return out.getvalue()
    out.write(df.to_markdown(index=False))
    out.write("\n\nMACs: fvcore, 1 per multiply-add (torch.utils.flop_counter would print twice these), "
              "attention matmuls included; skipped_ops = element-wise ops fvcore does not count.\n")
    return out.getvalue()


# The choices the paper leaves open that change the parameter count or could: the upsampler, the
# sampling ratios per level, and the width of decoder level 0 (C, or 2C as Restormer's).
READING_RATIOS = ((4, 2, 2, 1), (8, 4, 2, 1), (8, 4, 2, 2))
READING_DECODER0 = (1, 2)


def readings_rows() -> list[dict[str, Any]]:
    """Parameters of every HST variant (``params_<variant>``) for every reading of the open choices, and the
    first variant's reduction against the last (``reduction_pct``: tiny against double); the report sets
    it beside the paper's claim."""
    from hst.models.hst import UPSAMPLERS

    rows = []
    for up in UPSAMPLERS:
        for ratios in READING_RATIOS:
            for width in READING_DECODER0:
                opts = dict(upsampler=up, ratios=ratios, decoder0_width=width)
                params = {f"params_{v}": count_params(build_model(v, **opts)) for v in VARIANTS}
                first, last = params[f"params_{next(iter(VARIANTS))}"], params[f"params_{list(VARIANTS)[-1]}"]
                rows.append({"upsampler": up, "ratios": "/".join(map(str, ratios)),
                             "decoder0": "C" if width == 1 else "2C", **params,
                             "reduction_pct": round(100.0 * (1 - first / last), 2)})
    return rows


def render_readings(rows: list[dict[str, Any]], fmt: str = "markdown") -> str:
    import pandas as pd

    df = pd.DataFrame(rows)
    if fmt == "csv":
        return df.to_csv(index=False)
    return df.to_markdown(index=False) + "\n\nDefault reading: conv3x3-shuffle, 4/2/2/1, C.\n"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown", help="output format (default markdown)")
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS),
                        help="the models of Table 1 (default: all)")
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), help="square input sizes (default 128 256)")
    parser.add_argument("--time", action="store_true", help="also time one CPU forward pass per size")
    parser.add_argument("--readings", action="store_true",
                        help="parameters of tiny/double for each reading of the paper's open choices "
                             "(upsampler, ratios, decoder level 0 width) and the reduction of tiny against double")
    add_out(parser, "write to this file (atomically) instead of standard output", required=False, old=("--output",))


def run(args: argparse.Namespace) -> int:
    if args.readings:
        text = render_readings(readings_rows(), args.format)
    else:
        text = render(complexity_rows(args.models, args.sizes, args.time), args.format)
    if args.out:
        atomic_write_text(args.out, text)
    else:
        print(text, end="")
    return 0
