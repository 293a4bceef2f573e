"""Training-step throughput on the CPU: batch 8 of 128x128 patches, HST-tiny vs HST-double.

    python benchmarks/bench_train_step.py [--batch 8 --size 128 --steps 5 --threads 2]

Prints images/s (median step) for each variant and their ratio, measured interleaved in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from hst.models import build_model


def make_step(variant: str, batch: int, size: int):
    torch.manual_seed(0)
    model = build_model(variant).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.999), weight_decay=0.02)
    x, y = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)

    def step() -> float:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(x), y).backward()
        opt.step()
        return time.perf_counter() - t0

    step()  # warm-up
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps = {v: make_step(v, args.batch, args.size) for v in ("tiny", "double")}
    times: dict[str, list[float]] = {v: [] for v in steps}
    for _ in range(args.steps):  # interleaved, so that any load on the machine hits both alike
        for v, step in steps.items():
            times[v].append(step())
    rates = {v: args.batch / sorted(t)[len(t) // 2] for v, t in times.items()}
    for v, r in rates.items():
        print(f"HST-{v:<6} train step, batch {args.batch} x {args.size}x{args.size}, CPU {args.threads} threads: "
              f"{r:.2f} images/s ({args.batch / r:.2f} s/step)")
    print(f"tiny / double throughput: {rates['tiny'] / rates['double']:.2f}x "
          f"(time saved per image: {100 * (1 - rates['double'] / rates['tiny']):.1f}%; paper claims 44.7% less training time)")


if __name__ == "__main__":
    main()
