"""Training-step throughput on the CPU: batch 8 of 128x128 patches, HST-tiny vs HST-double.

    python benchmarks/bench_train_step.py [--batch 8 --size 128 --steps 5 --threads 2]

Prints images/s for each variant and their ratio, measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from hst.models import build_model


def images_per_second(variant: str, batch: int, size: int, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(variant).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.999), weight_decay=0.02)
    x, y = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(x), y).backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rates = {v: images_per_second(v, args.batch, args.size, args.steps) for v in ("tiny", "double")}
    for v, r in rates.items():
        print(f"HST-{v:<6} train step, batch {args.batch} x {args.size}x{args.size}, CPU {args.threads} threads: "
              f"{r:.2f} images/s ({args.batch / r:.2f} s/step)")
    print(f"tiny / double throughput: {rates['tiny'] / rates['double']:.2f}x "
          f"(time saved per image: {100 * (1 - rates['double'] / rates['tiny']):.1f}%; paper claims 44.7% less training time)")


if __name__ == "__main__":
    main()
