"""What a study costs before it starts: iterations, images and wall time per training, downloads and disk.

``python -m hst plan [--configfile config/paper.yaml] [--throughput IMG_PER_S]``

The wall time of a training is its images divided by its throughput. ``--throughput`` is
HST-tiny's training throughput (images/s) at the recipe's patch size on the device the study
will use (e.g. from ``benchmarks/bench_gpu_train.py``); without it, a few training steps of
HST-tiny are measured here, on this machine, and so are a few of each baseline's recipe (PReNet's):
every measured step is the trainer's, its state built by :func:`hst.engine.state.build_training_state`,
so each architecture steps with its own recipe's optimiser settings, lr schedule and loss. Other
models' throughput is scaled by their forward MACs per image (fvcore, as Table 1), from HST-tiny's, or
from their recipe's measured model; so HST-double at twice the MACs takes twice as long. Evaluation,
data preparation and checkpoint writes are not counted.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hst.errors import ConfigError

DEFAULT_STUDY = "config/config.yaml"


@dataclass
class TrainingPlan:
    """One training of the study: its size and its estimated wall time."""

    run: str
    model: str
    patch: int
    batch: int
    train_set: str
    pairs: int
    iterations: int
    images: int
    macs: int
    seconds: float
    params: int


def human_bytes(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def human_time(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def folder_bytes(path: Path) -> int | None:
    if not path.is_dir():
        return None
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def train_pairs(study, name: str) -> int:
    """Pairs of a training set: the synthetic twin's count, or the registry's count for a real set."""
    if study.source == "synthetic":
        return int(study.config["data"]["synthetic"]["train_count"])
    from hst.data.registry import load_registry

    return load_registry(study.config["data"].get("registry_override")).get(name).pairs


@functools.cache
def _macs_per_pixel(model_json: str) -> float:
    """MACs per pixel of one forward pass of a run config's ``model`` section: its convolutions and linear layers
    at 32 x 32 (:func:`hst.models.complexity.layer_macs`: one eager pass; fvcore's trace took seconds per model)."""
    from hst.models import build_from_config
    from hst.models.complexity import layer_macs

    return layer_macs(build_from_config(json.loads(model_json)), 32) / (32 * 32)


def training_work(study, run: str) -> float:
    """A training's work in forward MACs of its layers (iterations x batch x patch pixels x MACs per pixel)."""
    r = study.runs[run]
    config = study.run_config(run)
    data, batch = config["data"], int(config["optim"]["batch_size"])
    iterations = config["schedule"]["iterations"]
    if not iterations:
        iterations = int(config["schedule"]["epochs"]) * max(train_pairs(study, r.train_set) * int(data["patches_per_image"]) // batch, 1)
    pixels = int(data["patch_size"]) ** 2
    return float(iterations) * batch * pixels * _macs_per_pixel(json.dumps(config["model"], sort_keys=True))


def training_ranks(study) -> dict[str, int]:
    """Each training's rank by :func:`training_work` (1: the least work; ties by name): the pipeline's priorities,
    so the longest trainings start first and none starts last to run alone while the other cores idle."""
    order = sorted(study.runs, key=lambda r: (training_work(study, r), r))
    return {run: i + 1 for i, run in enumerate(order)}


class TrainingStep:
    """The trainer's iteration for run config ``config`` on a fixed random batch of its patch size: ``state``
    is what :func:`hst.engine.state.build_training_state` builds for the trainer (the recipe's own model,
    optimiser, lr schedule, loss and gradient clipping), calling the object takes one
    :meth:`~hst.engine.state.TrainingState.step`. ``compiled``: torch.compile with ``backend``; the lr
    schedule runs over ``total`` iterations (its values do not change the step's time).

    On CUDA as the trainer runs it: bf16 autocast, channels_last, fused AdamW; float32 elsewhere.
    ``benchmarks/bench_gpu_train.py`` and ``benchmarks/bench_train_step.py`` time the same step.
    """

    def __init__(self, config: dict[str, Any], batch: int, device, compiled: bool = False, backend: str = "inductor",
                 total: int = 1000) -> None:
        import torch

        from hst.engine.state import build_training_state

        self.state = build_training_state({**config, "compile": compiled}, device, total, backend=backend)
        size = int(config["data"]["patch_size"])
        x, y = torch.rand(batch, 3, size, size, device=device), torch.rand(batch, 3, size, size, device=device)
        self.inp, self.target = self.state.to_device(x, y)

    def __call__(self) -> None:
        self.state.step(self.inp, self.target)


def hst_config(variant: str, size: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The paper recipe's run config (the defaults: AdamW, cosine decay, L1) for HST-``variant`` at ``size`` x
    ``size`` patches, with ``overrides`` of its ``model`` section (e.g. ``{"dim": 8}``)."""
    from hst.engine.config import load_config

    model = [f"model.{k}={v}" for k, v in (overrides or {}).items()]
    return load_config(None, [f"model.variant={variant}", f"data.patch_size={size}", *model])


def measure_throughput(config: dict[str, Any], steps: int = 3) -> tuple[float, str]:
    """Training images/s of run config ``config`` on this machine, its own state stepping (:class:`TrainingStep`):
    CUDA if present (batch 32, bf16), else the CPU (batch 2); at the config's patch size, eager."""
    import torch

    from hst.models import model_label

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    batch = 32 if cuda else 2
    step = TrainingStep(config, batch, device)
    step()  # warm-up
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    rate = batch * steps / (time.perf_counter() - t0)
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    patch, optim = int(config["data"]["patch_size"]), config["optim"]
    return rate, (f"measured here: {model_label(config['model'])}, batch {batch}, {patch}x{patch}, {where}, eager, "
                  f"{type(step.state.optimizer).__name__} lr {optim['lr']:g} weight decay {optim['weight_decay']:g}, "
                  f"{config['loss']['name']} loss")


def measure_recipes(study) -> dict[str, tuple[float, str]]:
    """Each baseline recipe of ``study`` (a recipe other than the study's) measured here with its own training
    state (:func:`measure_throughput`): recipe path -> (images/s at the recipe's patch size, how)."""
    from hst.engine.config import load_config

    recipes = dict.fromkeys(r.recipe for r in study.runs.values() if r.recipe != study.recipe)
    return {recipe: measure_throughput(load_config(recipe)) for recipe in recipes}


def plan_trainings(study, throughput: float, patch0: int,
                   measured: dict[str, tuple[float, str]] | None = None) -> list[TrainingPlan]:
    """Every training of ``study`` (``Study.runs``), sized from its recipe and its set; timed from HST-tiny's
    ``throughput`` at ``patch0`` scaled by MACs per image, or, for a recipe in ``measured``
    (:func:`measure_recipes`), from that recipe's own measured rate scaled by MACs per image."""
    from hst.models.complexity import count_macs, count_params
    from hst.engine.config import load_config
    from hst.models import build_from_config, model_label

    macs_cache: dict[str, tuple[int, int]] = {}

    def model_cost(config: dict[str, Any], patch: int) -> tuple[int, int]:
        """(MACs per image, parameters); the sampler aside (a gather or a pooling: no MACs to speak of)."""
        model = build_from_config(config["model"])
        key = json.dumps([type(model).__name__, {k: v for k, v in model.config.items() if k != "sampler"}, patch],
                         sort_keys=True)
        if key not in macs_cache:
            macs_cache[key] = (count_macs(model, patch)[0], count_params(model))
        return macs_cache[key]

    ref_macs = model_cost(load_config(None, ["model.variant=tiny"]), patch0)[0]
    plans = []
    for run in study.runs.values():
        config = load_config(run.recipe, run.train_args())
        data, batch = config["data"], int(config["optim"]["batch_size"])
        pairs = train_pairs(study, run.train_set)
        per_epoch = pairs * int(data["patches_per_image"]) // batch
        if per_epoch == 0:
            raise ConfigError(f"{run.name}: optim.batch_size {batch} is more than an epoch of {run.train_set}")
        schedule = config["schedule"]
        iterations = int(schedule["iterations"] or schedule["epochs"] * per_epoch)
        macs, params = model_cost(config, int(data["patch_size"]))
        rate = throughput * ref_macs / macs
        if run.recipe in (measured or {}):
            own = load_config(run.recipe)
            rate = measured[run.recipe][0] * model_cost(own, int(own["data"]["patch_size"]))[0] / macs
        name = model_label(config["model"])
        plans.append(TrainingPlan(run.name, name, int(data["patch_size"]), batch, run.train_set, pairs, iterations,
                                  iterations * batch, macs, iterations * batch / rate, params))
    return plans


def data_rows(study) -> tuple[list[list[str]], int, int, list[str]]:
    """(rows: archive or set, downloads, disk; known download bytes; known disk bytes; notes)."""
    root = Path(study.root)
    rows, download, disk, notes = [], 0, 0, []
    if study.source == "synthetic":
        syn = study.config["data"]["synthetic"]
        for name in study.sets:
            split = "train" if name in study.train_sets else "test"
            size = syn[f"{split}_size"]
            h, w = (size, size) if isinstance(size, int) else size
            pixels = syn[f"{split}_count"] * h * w * 3 * 2  # input + target, uint8
            on_disk = folder_bytes(root / name)
            cache = pixels if split == "train" else 0
            rows.append([name, f"synthesised ({syn[f'{split}_count']} pairs {w}x{h})", "-",
                         human_bytes(on_disk if on_disk is not None else pixels) + ("" if on_disk is not None else " (raw pixels, at most)"),
                         human_bytes(cache) if cache else "-"])
            disk += (on_disk if on_disk is not None else pixels) + cache
        return rows, 0, disk, notes
    from hst.data.registry import load_registry

    registry = load_registry(study.config["data"].get("registry_override"))
    seen: set[str] = set()
    for name in study.sets:
        entry = registry.get(name)
        archive = entry.copies[0].archive if entry.copies else None
        new = archive is not None and archive.name not in seen
        if archive is not None:
            seen.add(archive.name)
        size = archive.size if archive is not None else None
        if new and size is not None:
            download += size
            disk += 2 * size  # the archive, and its pairs extracted (already-compressed images: about as large)
        elif new:
            notes.append(f"{archive.file}: size not pinned in the registry; not in the totals")
        cache_index = root / "_cache" / name / "index.json"
        cache = json.loads(cache_index.read_text()).get("bytes") if cache_index.exists() else None
        if name in study.train_sets:
            disk += cache or 0
            if cache is None:
                notes.append(f"{name}: patch cache (uncompressed pixels, several times the archive) known after `hst data prepare`")
        rows.append([name, f"{entry.pairs:,}", f"{archive.file if archive else '-'}" + ("" if new else " (shared)"),
                     human_bytes(size) if new else "-",
                     human_bytes(cache) if cache is not None else ("unknown" if name in study.train_sets else "-")])
    return rows, download, disk, notes


def table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda row: "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)]) + "\n"


def render(study, source: str, plans: list[TrainingPlan], throughput: float, how: str,
           data: tuple[list[list[str]], int, int, list[str]], measured: dict[str, tuple[float, str]] | None = None) -> str:
    out = io.StringIO()
    out.write(f"study: {study.name} ({source}); recipe {study.recipe}\n")
    out.write(f"throughput: {throughput:.3g} images/s for HST-tiny ({how}); other models scaled by MACs per image\n")
    for recipe, (rate, recipe_how) in (measured or {}).items():
        out.write(f"throughput: {rate:.3g} images/s for {recipe} ({recipe_how}); its runs scaled from it\n")
    out.write("\n")
    rows = [[p.run, p.model, p.train_set, f"{p.pairs:,}", f"{p.patch}x{p.patch}", str(p.batch), f"{p.iterations:,}",
             f"{p.images:,}", f"{p.macs / 1e9:.2f}", f"{p.images / p.seconds:.3g}", human_time(p.seconds)] for p in plans]
    total_it, total_img, total_s = sum(p.iterations for p in plans), sum(p.images for p in plans), sum(p.seconds for p in plans)
    rows.append(["total", f"{len(plans)} trainings", "", "", "", "", f"{total_it:,}", f"{total_img:,}", "", "", human_time(total_s)])
    out.write(table(["training", "model", "train set", "pairs", "patch", "batch", "iterations", "images", "GMACs/img",
                     "img/s", "est. time"], rows, right={3, 5, 6, 7, 8, 9, 10}))
    data_table, download, disk, notes = data
    out.write(f"\ndata ({study.source}, under {study.root}):\n")
    out.write(table(["set", "pairs", "archive", "download", "patch cache"] if study.source == "real"
                    else ["set", "source", "download", "on disk", "patch cache"], data_table, right={3, 4}))
    results = sum(p.params * 4 * 4 for p in plans)  # model.pt + checkpoint.pt (weights, AdamW's two moments)
    out.write(f"\nresults (under {study.results}): checkpoints and weights {human_bytes(results)}; restored test images "
              f"about the size of the test sets' targets ({len(study.evaluations())} evaluations)\n")
    out.write(f"\ntotal: {human_time(total_s)} of training ({total_it:,} iterations, {total_img:,} images); "
              f"downloads {human_bytes(download)}; disk at least {human_bytes(disk + results)}\n")
    for note in dict.fromkeys(notes):
        out.write(f"  note: {note}\n")
    return out.getvalue()


# ----------------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", default=DEFAULT_STUDY, metavar="STUDY.yaml",
                        help=f"the study (default {DEFAULT_STUDY}); its recipe path is read from the current folder")
    parser.add_argument("--throughput", type=float, metavar="IMG_PER_S",
                        help="HST-tiny training images/s at the recipe's patch size on the study's device "
                             "(all GPUs of a multi-GPU run together); omitted: measured here with a few steps")


def run(args: argparse.Namespace) -> int:
    from hst.engine.config import load_config
    from hst.study import Study

    if args.throughput is not None and not args.throughput > 0:
        raise ConfigError(f"--throughput: {args.throughput} is not a positive number of images per second")
    study = Study.from_file(args.configfile)
    patch0 = int(load_config(study.recipe)["data"]["patch_size"])
    measured = {}
    if args.throughput is not None:
        throughput, how = args.throughput, f"given, at {patch0}x{patch0}"
    else:
        throughput, how = measure_throughput(load_config(study.recipe, ["model.variant=tiny"]))
        measured = measure_recipes(study)
    plans = plan_trainings(study, throughput, patch0, measured)
    print(render(study, args.configfile, plans, throughput, how, data_rows(study), measured), end="")
    return 0
