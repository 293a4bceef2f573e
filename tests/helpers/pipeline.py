"""The real Snakefile on a tiny study, in a scratch folder: the study, the command, its environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from hst.models import PLUGINS_ENV

TOY_MODULE = "tests.helpers.toy_arch"  # registers ToyNet, labelled TOY_LABEL in the tables
TOY_LABEL = "ToyNet"
STUDY_FILE = "tiny.yaml"
# The shared tiny study's train_threads (tests/pipeline/conftest.py): two, so that the SLURM test, whose study is
# that one cut, sees a training's job ask for more CPUs than the other rules' (tests/pipeline/test_slurm.py).
SHARED_TRAIN_THREADS = 2
REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Rules run `python -m hst`: the interpreter of this test's environment must come first on PATH.
# The test-only architecture (tests/helpers/toy_arch.py) is registered in every process through HST_PLUGINS.
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
       PLUGINS_ENV: TOY_MODULE}


def tiny_study(tmp: Path, baselines: bool = False, threads: int | None = None) -> Path:
    """The default study shrunk: 2 rain test sets, 2 blur test sets, 2 samplers x 2 seeds, a few iterations.
    Its files (study, recipes, weights registry) name each other relative to ``tmp``, the folder Snakemake
    runs in (``--directory``): a copy of a finished study (:func:`copy_study`) is itself finished.
    Without ``baselines`` it trains HST only; with, PReNet (its recipe shrunk alike) and the test-only ToyNet
    (tests/helpers/toy_arch.py) beside HST-tiny in the deraining and ablation experiments, BRN in deraining,
    DMPHN(1-2-4) in deblurring, and a released PReNet weight file (made here, served from disk
    through a weights registry of its own) scored on Rain100L under its own protocol and the table's.
    ``threads``: the study's train_threads (the default study's when None)."""
    recipe = yaml.safe_load((REPO / "config/recipes/synthetic.yaml").read_text())
    recipe["data"]["patch_size"] = 32
    recipe["optim"]["batch_size"] = 2
    recipe["schedule"].update(iterations=4, log_every=2, checkpoint_every=2)
    (tmp / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    study = yaml.safe_load((REPO / "config/config.yaml").read_text())
    study["recipe"] = "recipe.yaml"
    study["data"]["synthetic"].update(train_count=3, test_count=2, train_size=40, test_size=[24, 40])
    study["experiments"]["derain"].update(test_sets=["Rain100H", "Rain100L"], overrides={})
    study["experiments"]["deblur"].update(test_sets=["GoPro-test", "RealBlur-J"], overrides={})
    study["experiments"]["ablation"].update(variants=["tiny"], samplers=["stochastic", "max"], seeds=[0, 1], overrides={})
    study["heatmap"]["passes"] = 10
    if threads is not None:
        study["train_threads"] = threads
    for experiment in study["experiments"].values():
        experiment.pop("baselines", None)
    if baselines:
        for name in ("prenet", "brn", "dmphn"):  # each baseline's own recipe, shrunk alike
            own = yaml.safe_load((REPO / f"config/recipes/{name}-synthetic.yaml").read_text())
            own["optim"]["batch_size"] = 2
            own["schedule"].update(iterations=4, log_every=2, checkpoint_every=2)
            (tmp / f"{name}.yaml").write_text(yaml.safe_dump(own))
        toy = {**recipe, "model": {"arch": "toynet", "width": 4}}  # the test-only architecture: HST's recipe otherwise
        (tmp / "toynet.yaml").write_text(yaml.safe_dump(toy))
        for experiment in ("derain", "ablation"):
            study["experiments"][experiment]["baselines"] = {"prenet": {"recipe": "prenet.yaml"},
                                                             "toynet": {"recipe": "toynet.yaml"}}
        study["experiments"]["derain"]["baselines"]["brn"] = {"recipe": "brn.yaml"}
        study["experiments"]["deblur"]["baselines"] = {"dmphn": {"recipe": "dmphn.yaml"}}
        study["released"] = {"registry": released_registry(tmp).name,
                             "evaluate": [{"weights": "tiny-prenet", "set": "Rain100L"}]}
    path = tmp / STUDY_FILE
    path.write_text(yaml.safe_dump(study))
    return path


def released_registry(tmp: Path) -> Path:
    """A weights registry naming one small PReNet, saved as its authors saved theirs (pre-1.6 torch format)."""
    import hashlib
    import io

    import torch

    from hst.models import PReNet

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.save(PReNet(stages=2, channels=4, blocks=1).state_dict(), buf, _use_new_zipfile_serialization=False)
    (tmp / "released.pth").write_bytes(buf.getvalue())
    entry = {"arch": "prenet", "config": {"stages": 2, "channels": 4, "blocks": 1}, "file": "tiny-prenet.pth",
             "size": len(buf.getvalue()), "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
             "trained_on": "nothing (random weights)", "sources": [{"kind": "file", "path": "released.pth"}],
             "published": [{"set": "Rain100L", "psnr": 30.0, "ssim": 0.9, "protocol": "prenet", "source": "this test"}]}
    path = tmp / "weights.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "weights": {"tiny-prenet": entry}}))
    return path


def copy_study(finished: Path, dest: Path) -> Path:
    """A copy of the finished tiny study in ``finished`` at ``dest`` (its outputs' times and Snakemake's records
    kept: nothing to do there until the copy is edited); its study file. The weights (``*.pt``: most of the
    study's bytes) are hard links: the harness writes them only by replacing the file (hst.fsutil), never in
    place, so a rerun in the copy leaves the original as it was."""
    shutil.copytree(finished, dest, symlinks=True, copy_function=_link_weights)
    return dest / STUDY_FILE


def _link_weights(src: str, dst: str) -> None:
    if src.endswith(".pt"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=900)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


# The report's table pages (Tables 1-6), its claims and times pages.
REPORT_TABLES = [f"results/report/table{i}.html" for i in range(1, 7)] + ["results/report/claims.html", "results/report/times.html"]
