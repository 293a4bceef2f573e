"""Training-step throughput on the CPU: batch 8 of 128x128 patches, HST-tiny vs HST-double; then
HST-tiny against the untuned network of ../shared/bench/naive_hst.py (HST-tiny written plainly).

    python benchmarks/bench_train_step.py [--batch 8 --size 128 --steps 5 --threads 2 --untuned PATH]

Prints images/s (median step) for each variant and their ratio, measured interleaved in the same run;
then, when the untuned model is there, the ratio HST-tiny / untuned at batch 8, 32x32, 1 thread (the
default study's shape) and batch 8, 128x128, 2 threads, each interleaved in the same run.

HST's step is the trainer's (``hst.study.plan.TrainingStep``: the state ``hst.engine.state.build_training_state``
builds for the paper recipe, its optimiser, lr schedule and loss); the untuned network's is a plain loop
(zero_grad, forward, L1, backward, and the same optimiser from ``hst.engine.state.build_optimizer``).

The untuned step at 128x128 depends on the process's history: on this project's machine it did
1.97 images/s in a fresh process (``step_ratio.py``) and 2.81 after this script's HST-tiny /
HST-double rows, while HST-tiny's stayed at 3.4-3.8 (the untuned network allocates more large
tensors, and fresh memory costs page faults). Compare ratios within one script, not across them.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch

from hst.engine.state import build_optimizer
from hst.study.plan import TrainingStep, hst_config


# The untuned yardstick lives outside the repository (it is not the project's code): ../shared/bench/.
UNTUNED = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "naive_hst.py"
# (batch, size, threads) of the ratio lines: the default study's shape and the paper's patch size.
RATIO_SHAPES = ((8, 32, 1), (8, 128, 2))


def make_step(variant: str, batch: int, size: int):
    """A timed step of HST-``variant`` as the trainer takes it."""
    train = TrainingStep(hst_config(variant, size), batch, torch.device("cpu"))

    def step() -> float:
        t0 = time.perf_counter()
        train()
        return time.perf_counter() - t0

    step()  # warm-up
    return step


def plain_step(model: torch.nn.Module, batch: int, size: int):
    """A timed step of ``model`` in a plain loop: zero_grad, forward, L1 loss, backward, the paper recipe's optimiser."""
    torch.manual_seed(0)
    model = model.train()
    opt = build_optimizer(model.parameters(), hst_config("tiny", size)["optim"], torch.device("cpu"))
    x, y = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)

    def step() -> float:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(x), y).backward()
        opt.step()
        return time.perf_counter() - t0

    step()  # warm-up
    return step


def interleaved(steps: dict, n: int, batch: int) -> dict[str, float]:
    """images/s (median step) of each step function, timed in turn so that any load hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(n):
        for k, step in steps.items():
            times[k].append(step())
    return {k: batch / sorted(t)[len(t) // 2] for k, t in times.items()}


def untuned_ratios(path: Path, n: int) -> None:
    """HST-tiny / untuned network throughput at RATIO_SHAPES, or say why it is skipped."""
    if not path.is_file():
        print(f"untuned model not found at {path}, ratio skipped")
        return
    spec = importlib.util.spec_from_file_location("naive_hst", path)
    naive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(naive)
    for batch, size, threads in RATIO_SHAPES:
        torch.set_num_threads(threads)
        steps = {"tiny": make_step("tiny", batch, size), "untuned": plain_step(naive.NaiveHST(), batch, size)}
        rates = interleaved(steps, n, batch)
        print(f"HST-tiny {rates['tiny']:.2f} vs untuned {rates['untuned']:.2f} images/s: "
              f"{rates['tiny'] / rates['untuned']:.2f}x (batch {batch}, {size}x{size}, {threads} threads; untuned: {path})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--untuned", type=Path, default=UNTUNED, help="naive_hst.py, the untuned yardstick (default: %(default)s)")
    args = ap.parse_args()
    print(f"# torch {torch.__version__}, CPU {args.threads} threads")
    torch.set_num_threads(args.threads)
    steps = {v: make_step(v, args.batch, args.size) for v in ("tiny", "double")}
    rates = interleaved(steps, args.steps, args.batch)
    for v, r in rates.items():
        print(f"HST-{v:<6} train step, batch {args.batch} x {args.size}x{args.size}, CPU {args.threads} threads: "
              f"{r:.2f} images/s ({args.batch / r:.2f} s/step)")
    print(f"tiny / double throughput: {rates['tiny'] / rates['double']:.2f}x "
          f"(time saved per image: {100 * (1 - rates['double'] / rates['tiny']):.1f}%; paper claims 44.7% less training time)")
    untuned_ratios(args.untuned, args.steps)


if __name__ == "__main__":
    main()
