"""One GPU check: the paper recipe trains, is killed and resumes; the throughput benchmark; 2 GPUs against 1.

    python benchmarks/gpu_check.py [--out gpu_check.json] [--signal INT|TERM|KILL] [--keep DIR]

Run once, from the repository, on a machine with one (or two) CUDA GPUs; no network. Each
stage has a time limit (``--limit-scale`` stretches them all) and ends in one PASS, FAIL or
SKIP line; one summary follows (the card and every figure), also written as JSON to
``--out``. The exit status is 1 if any stage failed.

- data: a synthetic Rain13K twin (``python -m hst data synth`` + ``prepare``) in a temp folder.
- train: 50 iterations of the paper recipe (``config/recipes/paper.yaml``: bf16 autocast,
  channels_last, fused AdamW, ``compile: auto``) with ``python -m hst train``: the loss falls
  (the last log row's mean against the first's) and the final weights are finite.
- resume: that training is killed after its first checkpoint (``--signal``: SIGINT to its
  process group, as Ctrl-C; TERM or KILL as a scheduler would) and the same command runs
  again: it must continue from the checkpoint's iteration and finish, with every log row once.
- bench: ``benchmarks/bench_gpu_train.py`` (the trainer's step, ``hst.study.plan.TrainingStep``):
  HST-tiny and HST-double, eager and compiled: images/s, TFLOP/s, peak memory.
- multi-gpu: with 2 or more GPUs, ``torchrun --nproc_per_node 2`` against one process, same
  data and global batch: images/s of both, and the weights agree (docs/gpu.md, "Several GPUs"):
  ``|w2 - w1| / |w1 - w0|`` (L2 over all weights; w0 the initial weights) at most
  ``--weights-tol``, i.e. the runs went the same way to within that share of the distance
  they moved (processes that did not share gradients or data would differ by the order of
  the move itself). With one GPU: "skipped: 1 GPU".

Without CUDA every stage runs a tiny CPU configuration (width 8, 32x32 patches, float32,
compile off in training; the benchmark's compiled rows use torch.compile's "eager" backend;
the multi-process stage uses gloo): it tests this script end to end, and its figures are NOT
GPU figures (the summary says so).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from hst.engine.checkpoint import load_checkpoint
from hst.envinfo import device_info, git_commit, now_utc
from hst.fsutil import atomic_write_text
from hst.models import build_from_config

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "config" / "recipes" / "paper.yaml"
BENCH = REPO / "benchmarks" / "bench_gpu_train.py"
TRAIN_SET = "Rain13K"
SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM, "KILL": signal.SIGKILL}
NOT_GPU = "NO GPU: a tiny CPU configuration that tests this script end to end; NONE of these figures is a GPU figure"


@dataclass
class Setup:
    """What each stage runs: the paper's shapes on CUDA, a tiny configuration on the CPU."""

    gpu: bool
    synth: list[str]  # `hst data synth` options
    train: list[str]  # `hst train --set` items besides the set and the schedule
    iterations: int
    log_every: int
    checkpoint_every: int
    multi_iterations: int
    bench: list[str]  # bench_gpu_train.py options
    limits: dict[str, float]  # seconds per stage


def setup(gpu: bool, scale: float) -> Setup:
    """On CUDA the recipe as it is (HST-tiny, batch 32 of 128x128, bf16, compiled); its time limits add up
    to 8 minutes without the multi-GPU stage. On the CPU a tiny configuration, with roomier limits."""
    if gpu:
        s = Setup(gpu=True, synth=["--count", "64"], train=[], iterations=50, log_every=5, checkpoint_every=10,
                  multi_iterations=30, bench=[],
                  limits={"data": 60, "train": 150, "resume": 90, "bench": 180, "multi-gpu": 240})
    else:
        s = Setup(gpu=False, synth=["--count", "8", "--size", "40"],
                  train=["model.dim=8", "data.patch_size=32", "optim.batch_size=4", "data.workers=0",
                         "device=cpu", "compile=false", "threads=1"],
                  iterations=24, log_every=4, checkpoint_every=4, multi_iterations=8,
                  bench=["--variants", "tiny", "double", "--modes", "eager", "compiled", "--backend", "eager",
                         "--steps", "2", "--warmup", "1", "--threads", "1"],
                  limits={"data": 120, "train": 240, "resume": 240, "bench": 300, "multi-gpu": 300})
    s.limits = {k: v * scale for k, v in s.limits.items()}
    return s


@dataclass
class Stage:
    """One stage's verdict: PASS, FAIL or SKIP, what it measured, and why."""

    name: str
    limit_s: float
    status: str = "FAIL"
    seconds: float = 0.0
    detail: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<9} {self.seconds:6.1f} s (limit {self.limit_s:.3g} s)  {self.detail}"


class Failed(Exception):
    """A stage's check did not hold; the message says which."""


# ----------------------------------------------------------------------------- processes


def child_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    """A child in a session of its own (so its whole process group can be signalled), SIGINT at its default."""
    with log.open("w") as fh:
        return subprocess.Popen(cmd, cwd=REPO, env=child_env(), stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def finish(proc: subprocess.Popen, deadline: float, what: str, limit: float) -> int:
    """Wait for the child until ``deadline``; past it, kill its group and fail the stage."""
    try:
        return proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.wait()
        raise Failed(f"{what}: over the stage's time limit of {limit:.3g} s, killed") from None


def run(cmd: list[str], log: Path, deadline: float, what: str, limit: float) -> None:
    """Run a child to its end within the deadline; fail with the tail of its log if it fails."""
    proc = start(cmd, log)
    try:
        rc = finish(proc, deadline, what, limit)
    finally:
        if proc.poll() is None:  # this script itself interrupted: leave nothing running
            kill_group(proc)
    if rc != 0:
        raise Failed(f"{what}: exit status {rc}; {log}:\n{tail(log)}")


def tail(log: Path, lines: int = 25) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join("    | " + line for line in text[-lines:])


def train_command(run_dir: Path, items: list[str], processes: int = 1) -> list[str]:
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return [*launcher, "-m", "hst", "train", "--config", str(RECIPE), "--out", str(run_dir), "--no-progress",
            *[a for item in items for a in ("--set", item)]]


def schedule(s: Setup, train_set: Path, iterations: int, checkpoint_every: int) -> list[str]:
    return [f"data.train_set={train_set}", "schedule.epochs=null", f"schedule.iterations={iterations}",
            f"schedule.log_every={s.log_every}", f"schedule.checkpoint_every={checkpoint_every}", *s.train]


def log_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "train_log.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def images_per_s(rows: list[dict[str, str]]) -> float:
    """The median log row's images/s (the first rows of a process include its compilation)."""
    return statistics.median(float(r["images_per_s"]) for r in rows)


# ----------------------------------------------------------------------------- stages


def stage_data(s: Setup, root: Path) -> Stage:
    st = Stage("data", s.limits["data"])
    deadline = time.monotonic() + st.limit_s
    hst = [sys.executable, "-m", "hst", "data"]
    run([*hst, "synth", TRAIN_SET, "--root", str(root), *s.synth], root.parent / "synth.log", deadline, "data synth", st.limit_s)
    run([*hst, "prepare", TRAIN_SET, "--root", str(root)], root.parent / "prepare.log", deadline, "data prepare", st.limit_s)
    twin = json.loads((root / TRAIN_SET / "twin.json").read_text())
    pairs = len(list((root / TRAIN_SET / "input").iterdir()))
    st.figures = {"set": TRAIN_SET, "pairs": pairs, "size": twin.get("size")}
    st.status, st.detail = "PASS", f"synthetic {TRAIN_SET} twin: {pairs} pairs, made and prepared offline"
    return st


def kill_after_first_checkpoint(cmd: list[str], run_dir: Path, log: Path, limit: float, sig_name: str) -> tuple[str, float, int]:
    """Start the training; once its first checkpoint is written, send ``sig_name`` to its process group.

    Returns (how it ended: "killed" or "finished", seconds to the first checkpoint, exit status)."""
    ckpt, t0 = run_dir / "checkpoint.pt", time.monotonic()
    proc = start(cmd, log)
    try:
        while proc.poll() is None and not ckpt.exists():
            if time.monotonic() > t0 + limit:
                raise Failed(f"no checkpoint within the stage's time limit of {limit:.3g} s; {log}:\n{tail(log)}")
            time.sleep(0.02)
        first = time.monotonic() - t0
        if proc.poll() is not None:
            if proc.returncode != 0:
                raise Failed(f"the training failed before its first checkpoint (exit status {proc.returncode}); "
                             f"{log}:\n{tail(log)}")
            return "finished", first, 0
        kill_group(proc, SIGNALS[sig_name])
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Failed(f"SIG{sig_name}: the training still ran 30 s later; killed with SIGKILL") from None
        return "killed", first, rc
    finally:
        if proc.poll() is None:  # past the limit, or this script itself interrupted: leave nothing running
            kill_group(proc)
            proc.wait()


def stage_train_and_resume(s: Setup, train_set: Path, work: Path, sig_name: str) -> tuple[Stage, Stage]:
    """One training of the recipe, killed after its first checkpoint (train), then resumed to its end (resume)."""
    train, resume = Stage("train", s.limits["train"]), Stage("resume", s.limits["resume"])
    run_dir, total = work / "train", s.iterations
    cmd = train_command(run_dir, schedule(s, train_set, total, s.checkpoint_every))

    t0 = time.monotonic()
    try:
        ended, first_checkpoint_s, rc = kill_after_first_checkpoint(cmd, run_dir, work / "train-1.log", train.limit_s, sig_name)
    except Failed as exc:
        train.seconds, train.detail = time.monotonic() - t0, str(exc)
        resume.detail = "not run: the training failed before it could be killed"
        return train, resume
    train.seconds = time.monotonic() - t0
    train.figures["first_checkpoint_s"] = round(first_checkpoint_s, 1)
    if ended == "finished":
        resume.detail = "the training finished before it could be killed: nothing was resumed"
    else:
        killed_at = int(load_checkpoint(run_dir / "checkpoint.pt")["iteration"])
        t1 = time.monotonic()
        try:
            if (run_dir / "model.pt").exists() or rc == 0:
                raise Failed(f"SIG{sig_name} did not stop the training mid-way (exit status {rc}, model.pt written)")
            # The same command again: it must pick up the checkpoint and finish.
            run(cmd, work / "train-2.log", t1 + resume.limit_s, "the resumed training", resume.limit_s)
            resume_checks(resume, run_dir, total, s.log_every, killed_at, sig_name)
        except Failed as exc:
            resume.detail = str(exc)
        resume.seconds = time.monotonic() - t1
    if not (run_dir / "model.pt").exists():
        train.detail = "the run did not finish (see resume)"
    else:
        train_checks(train, run_dir, s.gpu, first_checkpoint_s)
    return train, resume


def resume_checks(st: Stage, run_dir: Path, total: int, log_every: int, killed_at: int, sig_name: str) -> None:
    """The resumed run continued from the checkpoint's iteration and finished, every log row once."""
    record = json.loads((run_dir / "run.json").read_text())
    segments = record["segments"]
    statuses = [seg["status"] for seg in segments]
    iterations = [int(r["iteration"]) for r in log_rows(run_dir)]
    st.figures = {"signal": f"SIG{sig_name}", "killed_at": killed_at, "resumed_at": segments[-1]["start_iteration"],
                  "final_iteration": record["iteration"], "segments": statuses, "log_iterations": iterations}
    problems = []
    if not 0 < killed_at < total:
        problems.append(f"checkpoint at iteration {killed_at}, not mid-way through {total}")
    if statuses != ["interrupted", "finished"]:
        problems.append(f"segments {statuses}, not ['interrupted', 'finished']")
    if segments[-1]["start_iteration"] != killed_at:
        problems.append(f"resumed at iteration {segments[-1]['start_iteration']}, not at the checkpoint's {killed_at}")
    if record["status"] != "finished" or record["iteration"] != total:
        problems.append(f"run {record['status']} at iteration {record['iteration']}, not finished at {total}")
    if iterations != list(range(log_every, total + 1, log_every)):
        problems.append(f"log rows at iterations {iterations}: rows repeated or lost")
    if problems:
        raise Failed("; ".join(problems))
    st.status = "PASS"
    st.detail = (f"SIG{sig_name} after the checkpoint at iteration {killed_at}; the same command resumed at "
                 f"{killed_at} and finished at {total}; log rows {iterations[0]}..{iterations[-1]} once each")


def train_checks(st: Stage, run_dir: Path, gpu: bool, first_checkpoint_s: float) -> None:
    """The finished run: the loss fell (last log row against the first), the weights are finite, compiled on CUDA."""
    record, rows = json.loads((run_dir / "run.json").read_text()), log_rows(run_dir)
    weights = load_checkpoint(run_dir / "model.pt")["state_dict"]
    finite = all(bool(torch.isfinite(w).all()) for w in weights.values() if w.is_floating_point())
    first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
    compiled = [seg["compiled"] for seg in record["segments"]]
    st.figures.update(
        iterations=record["iteration"], compiled=compiled, loss_first_row=first, loss_last_row=last,
        weights_finite=finite, images_per_s=round(images_per_s(rows), 2), train_seconds=round(record["train_seconds"], 1),
        first_step_seconds=[seg.get("first_step_seconds") for seg in record["segments"]],
        batch=record["config"]["optim"]["batch_size"], patch=record["config"]["data"]["patch_size"],
        width=record["model_config"].get("dim"),
    )
    problems = []
    if not last < first:
        problems.append(f"the loss did not fall ({first:.4g} in the first log row, {last:.4g} in the last)")
    if not finite:
        problems.append("the final weights hold NaN or infinite values")
    if gpu and not all(compiled):
        problems.append("compile: auto did not compile on CUDA")
    if problems:
        st.detail = "; ".join(problems)
        return
    st.status = "PASS"
    st.detail = (f"{record['iteration']} iterations ({'compiled' if all(compiled) else 'eager'}), loss {first:.4g} -> "
                 f"{last:.4g} (first and last log rows), weights finite, {st.figures['images_per_s']:.1f} images/s "
                 f"(median log row), first checkpoint after {first_checkpoint_s:.1f} s")


def stage_bench(s: Setup, work: Path) -> Stage:
    st = Stage("bench", s.limits["bench"])
    rows_json = work / "bench.json"
    t0 = time.monotonic()
    try:
        run([sys.executable, str(BENCH), *s.bench, "--json", str(rows_json)], work / "bench.log", t0 + st.limit_s,
            "bench_gpu_train.py", st.limit_s)
    finally:
        st.seconds = time.monotonic() - t0
    rows = json.loads(rows_json.read_text())
    table = [line for line in (work / "bench.log").read_text().splitlines() if line.startswith(("# ", "model ", "HST-"))]
    st.figures = {"rows": rows, "table": table}
    got = [(r["model"], r["mode"]) for r in rows]
    want = [(f"HST-{v}", m) for v in ("tiny", "double") for m in ("eager", "compiled")]
    bad = [f"{r['model']} {r['mode']}" for r in rows
           if not (math.isfinite(r["images_per_s"]) and r["images_per_s"] > 0 and math.isfinite(r["tflops"]))
           or (s.gpu and r["peak_gib"] is None)]
    if got != want or bad:
        st.detail = f"rows {got}, wanted {want}; without a finite throughput (or peak memory): {bad}"
        return st
    st.status = "PASS"
    st.detail = "; ".join(f"{r['model']} {r['mode']} {r['images_per_s']:.1f} img/s" for r in rows)
    return st


def weight_gap(one: Path, two: Path) -> tuple[float, float]:
    """(|w2 - w1| / |w1 - w0|, max |w2 - w1|): w0 the initial weights, which the trainer draws after seeding."""
    record = json.loads((one / "run.json").read_text())
    config = record["config"]
    torch.manual_seed(int(config["seed"]))
    w0 = build_from_config(config["model"]).state_dict()
    w1, w2 = load_checkpoint(one / "model.pt")["state_dict"], load_checkpoint(two / "model.pt")["state_dict"]
    keys = [k for k in w1 if w1[k].is_floating_point()]
    diff = math.sqrt(sum(float((w2[k].double() - w1[k].double()).pow(2).sum()) for k in keys))
    moved = math.sqrt(sum(float((w1[k].double() - w0[k].double()).pow(2).sum()) for k in keys))
    worst = max(float((w2[k] - w1[k]).abs().max()) for k in keys)
    return diff / moved, worst


def stage_multi(s: Setup, train_set: Path, work: Path, tol: float) -> Stage:
    st = Stage("multi-gpu", s.limits["multi-gpu"])
    gpus = torch.cuda.device_count() if s.gpu else 0
    if s.gpu and gpus < 2:
        st.status, st.detail = "SKIP", f"skipped: {gpus} GPU"
        return st
    items = schedule(s, train_set, s.multi_iterations, s.multi_iterations)
    t0 = time.monotonic()
    deadline = t0 + st.limit_s
    try:
        run(train_command(work / "one", items), work / "one.log", deadline, "1 process", st.limit_s)
        run(train_command(work / "two", items, 2), work / "two.log", deadline, "torchrun, 2 processes", st.limit_s)
    finally:
        st.seconds = time.monotonic() - t0
    one, two = log_rows(work / "one"), log_rows(work / "two")
    rel, worst = weight_gap(work / "one", work / "two")
    loss_gap = max(abs(float(a["loss"]) - float(b["loss"])) / abs(float(a["loss"])) for a, b in zip(one, two))
    ips1, ips2 = images_per_s(one), images_per_s(two)
    info = json.loads((work / "two" / "run.json").read_text())
    st.figures = {"processes": 2, "backend": "nccl" if s.gpu else "gloo (CPU)", "iterations": s.multi_iterations,
                  "images_per_s_1": round(ips1, 2), "images_per_s_2": round(ips2, 2), "speedup": round(ips2 / ips1, 3),
                  "weights_rel_gap": rel, "weights_max_abs_gap": worst, "loss_rows_max_rel_gap": loss_gap,
                  "world_size": info["world_size"], "weights_tol": tol}
    if info["world_size"] != 2 or info["status"] != "finished":
        st.detail = f"the torchrun run is {info['status']} with world size {info['world_size']}"
    elif not rel <= tol:
        st.detail = f"weights of 2 processes and 1 differ by {rel:.3g} of the distance moved (tolerance {tol})"
    else:
        st.status = "PASS"
        st.detail = (f"{ips1:.1f} images/s with 1 process, {ips2:.1f} with 2 ({ips2 / ips1:.2f}x); weights agree: "
                     f"|w2-w1|/|w1-w0| = {rel:.2g} (max abs {worst:.2g}), logged losses agree to {loss_gap:.2g} (relative)")
    return st


# ----------------------------------------------------------------------------- summary


def card(gpu: bool) -> dict[str, Any]:
    """The device in words (hst.envinfo.device_info: the GPU, its memory, CUDA, cuDNN; the CPU), the driver, torch."""
    info = {"torch": torch.__version__, **device_info(torch.device("cuda", 0) if gpu else torch.device("cpu"))}
    if gpu:
        info.update(gpus=torch.cuda.device_count(), driver=None)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30)
            info["driver"] = out.stdout.split()[0] if out.returncode == 0 and out.stdout.strip() else None
    return info


def card_line(c: dict[str, Any]) -> str:
    if c["type"] != "cuda":
        return f"card: {NOT_GPU} ({c['cpu']}, {c['cpu_count']} cores; torch {c['torch']})"
    return (f"card: {c['gpu']}, {c['gpu_memory_gib']} GiB, {c['gpus']} GPU(s); driver {c['driver']}, CUDA {c['cuda']}, "
            f"cuDNN {c['cudnn']}; torch {c['torch']}")


def summary(c: dict[str, Any], stages: list[Stage], seconds: float, out: Path | None) -> str:
    failed = [st.name for st in stages if st.status == "FAIL"]
    lines = ["", "==== HST GPU check: summary ====", card_line(c)]
    for st in stages:
        lines.append(st.line())
        if "table" in st.figures:  # the benchmark's own table
            lines += ["      " + line for line in st.figures["table"]]
        elif st.figures:
            lines.append("      " + ", ".join(f"{k}={v}" for k, v in st.figures.items()))
    counts = {k: sum(st.status == k for st in stages) for k in ("PASS", "FAIL", "SKIP")}
    lines.append(f"RESULT: {'FAIL (' + ', '.join(failed) + ')' if failed else 'PASS'}: {counts['PASS']} passed, "
                 f"{counts['FAIL']} failed, {counts['SKIP']} skipped, in {seconds:.0f} s" + (f"; JSON: {out}" if out else ""))
    if c["type"] != "cuda":
        lines.append(f"!!!! {NOT_GPU} !!!!")
    return "\n".join(lines)


def run_stage(stages: list[Stage], name: str, limit: float, body) -> Any:
    """Run ``body()``; a Failed check (or any error) becomes that stage's FAIL line; print the line(s)."""
    t0 = time.monotonic()
    try:
        result = body()
    except Exception as exc:  # one stage's error must not hide the others' verdicts
        detail = str(exc) if isinstance(exc, Failed) else f"{type(exc).__name__}: {exc}"
        result = (Stage(name, limit, "FAIL", time.monotonic() - t0, detail),)
    done = result if isinstance(result, tuple) else (result,)
    for st in done:
        if not st.seconds:
            st.seconds = time.monotonic() - t0
        stages.append(st)
        print(st.line(), flush=True)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, metavar="JSON", help="also write the summary as JSON here")
    ap.add_argument("--signal", choices=sorted(SIGNALS), default="INT",
                    help="how the training is killed after its first checkpoint (default INT, a Ctrl-C)")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="work in DIR (new or empty) and keep it (logs, runs); default a temp folder, removed")
    ap.add_argument("--limit-scale", type=float, default=1.0, help="multiply every stage's time limit (default 1)")
    ap.add_argument("--weights-tol", type=float, default=0.1,
                    help="multi-gpu: largest |w2 - w1| / |w1 - w0| accepted (default 0.1)")
    args = ap.parse_args(argv)

    gpu = torch.cuda.is_available()
    s = setup(gpu, args.limit_scale)
    c = card(gpu)
    print(f"# HST GPU check, {now_utc()}; {card_line(c)}", flush=True)
    if not gpu:
        print(f"# !!!! {NOT_GPU} !!!!", flush=True)
    t0 = time.monotonic()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        if any(args.keep.iterdir()):
            ap.error(f"--keep: {args.keep} is not empty")
        work = args.keep.resolve()
    else:
        work = Path(tempfile.mkdtemp(prefix="hst-gpu-check-"))
    stages: list[Stage] = []
    try:
        root = work / "data"
        (data,) = run_stage(stages, "data", s.limits["data"], lambda: stage_data(s, root))
        train_set = root / TRAIN_SET
        if data.status == "PASS":
            run_stage(stages, "train", s.limits["train"], lambda: stage_train_and_resume(s, train_set, work, args.signal))
            if stages[-1].name == "train":  # an unexpected error: no verdict on the resume
                stages.append(Stage("resume", s.limits["resume"], "FAIL", 0.0, "not run: the train stage broke off"))
                print(stages[-1].line(), flush=True)
        else:
            for name in ("train", "resume"):
                stages.append(Stage(name, s.limits[name], "FAIL", 0.0, "not run: no training data"))
                print(stages[-1].line(), flush=True)
        run_stage(stages, "bench", s.limits["bench"], lambda: stage_bench(s, work))
        if data.status == "PASS":
            run_stage(stages, "multi-gpu", s.limits["multi-gpu"], lambda: stage_multi(s, train_set, work, args.weights_tol))
        else:
            stages.append(Stage("multi-gpu", s.limits["multi-gpu"], "FAIL", 0.0, "not run: no training data"))
            print(stages[-1].line(), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - t0
    print(summary(c, stages, seconds, args.out), flush=True)
    failed = any(st.status == "FAIL" for st in stages)
    if args.out:
        report = {"format": "hst-gpu-check", "version": 1, "time_utc": now_utc(), "git": git_commit(REPO),
                  "gpu": gpu, "not_gpu_figures": None if gpu else NOT_GPU, "card": c, "seconds": round(seconds, 1),
                  "result": "FAIL" if failed else "PASS", "stages": [asdict(st) for st in stages]}
        atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
