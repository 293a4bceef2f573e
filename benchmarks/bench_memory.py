"""HST-tiny on one 1280x720 image (a GoPro frame) on the CPU: time and peak memory, beside what an
explicit N x N attention matrix would have needed at each level.

    python benchmarks/bench_memory.py [--height 720 --width 1280 --threads 2]

Run it in a fresh process: peak resident memory (ru_maxrss) covers the whole process.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from hst.models import build_model, set_sampling


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", default="tiny")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = build_model(args.variant).eval()
    set_sampling(model, "seeded", 0)
    x = torch.rand(1, 3, args.height, args.width)
    before = rss_gb()
    t0 = time.perf_counter()
    with torch.no_grad():
        y = model(x)
    seconds = time.perf_counter() - t0
    peak = rss_gb()

    cfg = model.config
    m = model.size_multiple
    hp, wp = -(-args.height // m) * m, -(-args.width // m) * m
    print(f"HST-{args.variant}, input {args.width}x{args.height} (padded to {wp}x{hp}), {args.threads} threads")
    print(f"forward: {seconds:.2f} s; peak RSS {peak:.2f} GB (before forward {before:.2f} GB); output {tuple(y.shape)}")
    print("level  tokens N   heads  explicit N x N attention (fp32)   per block")
    explicit_total = 0.0
    for level in range(4):
        h, w = hp // 2**level, wp // 2**level
        r = cfg["ratios"][level]
        n = (h // r) * (w // r)
        gb = n * n * cfg["heads"][level] * 4 / 1024**3
        blocks = cfg["num_blocks"][level] * (2 if level < 3 else 1)  # encoder + decoder at levels 1-3
        explicit_total = max(explicit_total, gb)
        print(f"{level + 1:>5}  {n:>8}   {cfg['heads'][level]:>5}  {gb:>10.1f} GB                    x{blocks}")
    print(f"largest single attention matrix an explicit implementation needs: {explicit_total:.1f} GB; "
          f"fused SDPA peak of the whole forward: {peak:.2f} GB ({explicit_total / peak:.0f}x less)")
    print(f"target: peak resident memory under 2 GB -> {'met' if peak < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
