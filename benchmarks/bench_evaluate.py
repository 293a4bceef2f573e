"""One evaluation of 100 images of 481 x 321 with HST-tiny on this machine: inference and scoring timed apart.

    python benchmarks/bench_evaluate.py [--count 100 --size 321x481 --threads 2 --protocol derain
                                         --checkpoint MODEL.pt --sampling seeded --device cpu --workdir DIR]

Makes a synthetic Rain100H-shaped set (``hst.data.synth``, heavy rain on scikit-image's samples),
runs ``hst.engine.evaluate.evaluate`` with ``score=False`` (restoration, PNG writing, times.csv), then
``hst.engine.score.score_dir`` on the saved PNGs, and prints: the model time per image (what times.csv
holds), the wall time of the inference step (with reading and PNG writing), and the wall time
of scoring. Without ``--checkpoint`` an untrained HST-tiny is used (the time does not depend
on the weights).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hst import build_model
from hst.engine.checkpoint import save_checkpoint
from hst.data.synth import make_twin
from hst.envinfo import device_info, resolve_device
from hst.engine.evaluate import evaluate
from hst.engine.score import score_dir


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return int(h), int(w or h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100, help="images (default 100)")
    ap.add_argument("--size", type=_size, default=(321, 481), help="HxW (default 321x481, Rain100H's size)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--protocol", default="derain", choices=("derain", "gopro", "realblur"))
    ap.add_argument("--sampling", default="seeded", choices=("seeded", "grid", "ensemble"))
    ap.add_argument("--checkpoint", type=Path, help="a model.pt (default: an untrained HST-tiny)")
    ap.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--workdir", type=Path, help="keep the set and outputs here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench_evaluate_") as tmp:
        work = args.workdir or Path(tmp)
        start = time.perf_counter()
        set_dir = make_twin("Rain100H", work / "data", count=args.count, size=args.size, seed=0)
        made = time.perf_counter() - start
        checkpoint = args.checkpoint
        if checkpoint is None:
            torch.manual_seed(0)
            checkpoint = work / "hst-tiny-untrained.pt"
            save_checkpoint(checkpoint, build_model("tiny"))

        start = time.perf_counter()
        record = evaluate(checkpoint, set_dir, args.protocol, work / "eval", sampling=args.sampling,
                          score=False, device=args.device)
        inference_wall = time.perf_counter() - start
        start = time.perf_counter()
        summary = score_dir(work / "eval" / "restored", set_dir, args.protocol, work / "eval")
        scoring_wall = time.perf_counter() - start

        times = [float(line.split(",")[1]) for line in (work / "eval" / "times.csv").read_text().splitlines()[1:]]
        h, w = args.size
        device = device_info(resolve_device(args.device))
        print(f"set: {args.count} synthetic pairs of {w}x{h} (made in {made:.1f} s); protocol {args.protocol}; "
              f"sampling {args.sampling}")
        print(f"device: {device['type']} ({device.get('gpu') or device['cpu']}), torch threads {torch.get_num_threads()}, "
              f"torch {torch.__version__}")
        print(f"inference: {record['inference_seconds']:.1f} s of model time, {statistics.mean(times):.3f} s/image mean, "
              f"{statistics.median(times):.3f} s/image median; step wall time with I/O {inference_wall:.1f} s")
        print(f"scoring:   {scoring_wall:.1f} s ({scoring_wall / args.count:.3f} s/image)")
        print(f"total:     {inference_wall + scoring_wall:.1f} s for one evaluation of {args.count} images")
        print(f"(untrained model: psnr {summary['psnr']:.2f}, ssim {summary['ssim']:.4f})" if args.checkpoint is None
              else f"psnr {summary['psnr']:.2f}, ssim {summary['ssim']:.4f}")


if __name__ == "__main__":
    main()
