"""Training throughput on a GPU: images/s, achieved TFLOP/s and peak memory, eager vs torch.compile.

    python benchmarks/bench_gpu_train.py [--variants tiny double --size 128 --batch 32 --steps 30 --warmup 10]

On CUDA: HST-tiny and HST-double at 128x128, batch 32 (the paper's recipe), bf16 autocast,
channels_last, fused AdamW: the trainer's step, its state built as the trainer builds it
(``hst.study.plan.TrainingStep``, ``hst.engine.state.build_training_state``; the paper recipe's
optimiser, lr schedule and loss). Each (variant, mode) is timed after its
warm-up steps (which include compilation). TFLOP/s counts the useful work only: forward MACs
per image from fvcore (as Table 1, ``hst complexity``), times 2 FLOPs per MAC, times 3 for
forward plus backward. On a machine without CUDA it runs a tiny configuration (width 8,
32x32, batch 2, float32, a few steps, eager unless ``--modes`` says otherwise) so that the
script itself is exercised; its numbers say nothing about a GPU. ``--json PATH`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from hst.models.complexity import count_macs
from hst.models import build_model
from hst.study.plan import TrainingStep, hst_config


def measure(step, warmup: int, steps: int, device: torch.device) -> tuple[float, float, float | None]:
    """(seconds of warm-up, median seconds per step after it, peak GPU memory in GiB or None)."""
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    warm = time.perf_counter() - t0
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    return warm, sorted(times)[len(times) // 2], peak


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["tiny", "double"], choices=["tiny", "double"])
    ap.add_argument("--modes", nargs="+", choices=["eager", "compiled"],
                    help="default both on CUDA; eager on the CPU, where compiling took minutes and did not pay")
    ap.add_argument("--size", type=int, help="square patch size (default 128; CPU: 32)")
    ap.add_argument("--batch", type=int, help="batch size (default 32; CPU: 2)")
    ap.add_argument("--dim", type=int, help="model width (default the variant's; CPU: 8)")
    ap.add_argument("--steps", type=int, help="timed steps (default 30; CPU: 3)")
    ap.add_argument("--warmup", type=int, help="warm-up steps, compilation included (default 10; CPU: 1)")
    ap.add_argument("--backend", default="inductor", help="torch.compile backend (default inductor)")
    ap.add_argument("--threads", type=int, help="CPU threads")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = ap.parse_args(argv)

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    size = args.size or (128 if cuda else 32)
    batch = args.batch or (32 if cuda else 2)
    steps, warmup = args.steps or (30 if cuda else 3), args.warmup or (10 if cuda else 1)
    modes = args.modes or (["eager", "compiled"] if cuda else ["eager"])
    dim = args.dim or (None if cuda else 8)
    overrides = {"dim": dim} if dim else {}
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        where = f"{torch.cuda.get_device_name()}, bf16 autocast, channels_last, fused AdamW"
    else:
        where = f"CPU ({torch.get_num_threads()} threads), float32: a tiny configuration that tests the script, not a GPU figure"
    print(f"# {where}; torch {torch.__version__}; batch {batch}, {size}x{size}, {warmup} warm-up + {steps} timed steps")
    print(f"{'model':<11} {'mode':<9} {'GMACs/img':>9} {'images/s':>9} {'TFLOP/s':>8} {'peak GiB':>8} {'warm-up s':>9}")
    rows = []
    for variant in args.variants:
        macs = count_macs(build_model(variant, **overrides), size)[0]
        for mode in modes:
            torch._dynamo.reset()
            step = TrainingStep(hst_config(variant, size, overrides), batch, device, mode == "compiled", args.backend)
            warm, seconds, peak = measure(step, warmup, steps, device)
            rate = batch / seconds
            tflops = 6 * macs * rate / 1e12  # 2 FLOPs per MAC, forward + backward = 3 x forward
            row = {"model": f"HST-{variant}", "mode": mode, "backend": args.backend if mode == "compiled" else None,
                   "device": where, "batch": batch, "size": size, "dim": dim, "macs_per_image": macs,
                   "images_per_s": rate, "tflops": tflops, "peak_gib": peak, "warmup_s": warm, "torch": torch.__version__}
            rows.append(row)
            print(f"{row['model']:<11} {mode:<9} {macs / 1e9:>9.3f} {rate:>9.1f} {tflops:>8.4f} "
                  f"{'-' if peak is None else f'{peak:.2f}':>8} {warm:>9.1f}", flush=True)
            del step
            if cuda:
                torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
