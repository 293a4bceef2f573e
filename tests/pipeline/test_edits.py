"""The edit matrix (issue 15): a tiny study is edited as a researcher would, one edit at a time, and after
each the same `snakemake` command (Tables 1-6 its targets) brings the tables to those of a from-scratch run
of the edited study.

Every edit prints one line: the jobs that ran (from Snakemake's job stats) and the comparison. Tables are
compared as CSVs, their `#` header lines but the commit lines, and every column but the training wall times.
The from-scratch runs are made once per distinct study (an edit undone, or a Ctrl-C during a rerun, reuses
the run of the study it comes back to) and build the same targets. Every run starts with Table 1's inputs
(complexity.csv, readings.csv: the same for every study, no edit changes them) copied from the session's
(tests/pipeline/conftest.py: complexity_outputs). Their datasets are made
from scratch too, once per distinct data section, in a data root the from-scratch runs of studies with that
section share (never the edited study's own data: a stale set there must show as a difference).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers.pipeline import ENV, REPO, SNAKEMAKE, snakemake, tiny_study

pytestmark = pytest.mark.slow
TABLES = [f"results/tables/table{i}.csv" for i in range(1, 7)]
TIME_COLUMNS = re.compile(r"training time")  # wall-clock seconds: differ from run to run


def matrix_study(tmp: Path) -> Path:
    """tiny_study shrunk further: one test set per experiment, one sampler (2 seeds), 2 iterations, 1-2 pairs of
    24 px per set: 4 trainings."""
    config = tiny_study(tmp)
    study = yaml.safe_load(config.read_text())
    recipe = yaml.safe_load((tmp / study["recipe"]).read_text())
    recipe["data"]["patch_size"] = 16
    recipe["schedule"].update(iterations=2, log_every=1, checkpoint_every=1)
    (tmp / study["recipe"]).write_text("# the matrix's recipe\n" + yaml.safe_dump(recipe))
    study["data"]["synthetic"].update(train_count=2, test_count=1, train_size=24, test_size=[24, 24])
    study["experiments"]["derain"].update(train_set="RainTrainH", test_sets=["Rain100H"])
    study["experiments"]["deblur"].update(test_sets=["GoPro-test"])
    study["experiments"]["ablation"].update(samplers=["stochastic"])
    study["heatmap"]["passes"] = 2
    config.write_text(yaml.safe_dump(study))
    return config


def comparable(path: Path) -> list[str]:
    """A table's CSV without its commit lines and its training-time columns."""
    import pandas as pd

    lines = path.read_text().splitlines()
    header = [line for line in lines if line.startswith("#") and "commit" not in line]
    try:
        frame = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # a table of an experiment that the study does not have
        return header
    frame = frame[[c for c in frame.columns if not TIME_COLUMNS.search(c)]]
    return header + frame.to_csv(index=False).splitlines()


def tables_of(workdir: Path) -> dict[str, list[str]]:
    return {t: comparable(workdir / t) for t in TABLES}


def jobs_ran(output: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table: rule -> jobs run ({} when there was nothing to do)."""
    match = re.search(r"Job stats:\njob +count\n[- ]+\n(.*?)\ntotal", output, re.S)
    if not match:
        assert "Nothing to be done" in output, output[-3000:]
        return {}
    return {rule: int(n) for rule, n in (line.split() for line in match.group(1).splitlines())}


class Matrix:
    """The edited study's folder, its config and recipe, and the from-scratch runs made so far."""

    def __init__(self, tmp: Path, complexity: Path):
        self.tmp = tmp
        self.work = tmp / "work"
        self.complexity = complexity  # Table 1's inputs, copied into every run's results (the module docstring)
        shutil.copytree(complexity, self.work / "results/complexity")
        self.config = matrix_study(self.work)
        self.recipe = self.work / yaml.safe_load(self.config.read_text())["recipe"]
        self.references: dict[str, dict[str, list[str]]] = {}
        self.pools: dict[str, Path] = {}  # a data section -> the data root of its from-scratch runs
        self.lines: list[str] = []
        self.clock = time.perf_counter()  # each edit's line says how long it took, its from-scratch run included

    def study(self) -> dict:
        return yaml.safe_load(self.config.read_text())

    def args(self) -> list[str]:
        """The one command of every run: the tables (what the matrix compares; the report's pieces follow from them,
        and the study shapes, test_study_shapes.py, rebuild those after an edit)."""
        return [*TABLES, "--cores", "2", "--configfile", str(self.config)]  # --configfile takes every word after it

    def run(self) -> dict[str, int]:
        out = snakemake(self.work, *self.args())
        return jobs_ran(out.stdout + out.stderr)

    def key(self) -> str:
        recipe = yaml.safe_load(self.recipe.read_text())  # its values: a comment is not another study
        return json.dumps([self.study(), recipe], sort_keys=True)

    def reference(self) -> dict[str, list[str]]:
        """The tables of a from-scratch run of the study as it is now (made once per distinct study)."""
        key = self.key()
        if key not in self.references:
            ref = self.tmp / f"scratch{len(self.references)}"
            (ref / "results").mkdir(parents=True)
            shutil.copytree(self.complexity, ref / "results/complexity")
            shutil.copy(self.recipe, ref / self.recipe.name)
            study = self.study()
            section = json.dumps(study["data"], sort_keys=True)
            study["data"]["root"] = str(self.pools.setdefault(section, self.tmp / f"scratch-data{len(self.pools)}"))
            (ref / "study.yaml").write_text(yaml.safe_dump(study))
            snakemake(ref, *TABLES, "--cores", "2", "--configfile", str(ref / "study.yaml"))  # as Matrix.args()
            self.references[key] = tables_of(ref)
        return self.references[key]

    def check(self, edit: str, ran: dict[str, int], note: str = "") -> None:
        mine, theirs = tables_of(self.work), self.reference()
        for table in TABLES:
            assert mine[table] == theirs[table], (edit, table, mine[table], theirs[table])
        what = ", ".join(f"{rule} x{n}" for rule, n in ran.items() if rule != "all") or "nothing"
        now = time.perf_counter()
        line = f"{edit}: reran {what}{note}; tables equal to a from-scratch run ({now - self.clock:.0f} s)"
        self.clock = now
        self.lines.append(line)
        print(line, flush=True)

    def interrupted(self, trigger: str) -> float:
        """Start the pipeline, Ctrl-C it as soon as a file matching ``trigger`` (a glob in the study's
        folder) is written, and wait for it to stop; return when the signal went."""
        start = time.time()
        cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(self.work), *self.args()]
        # A user's Ctrl-C: SIGINT at its default disposition in the pipeline's processes (see test_snakefile).
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
                                start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = start + 600
        while proc.poll() is None and time.time() < deadline:
            if any(p.stat().st_mtime > start for p in self.work.glob(trigger)):
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the pipeline ended before {trigger} was written"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=300) != 0
        return time.time()


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_every_edit_reruns_what_it_changes_and_the_tables_equal_a_fresh_run(tmp_path, complexity_outputs):
    started = time.perf_counter()
    m = Matrix(tmp_path, complexity_outputs)
    ran = m.run()
    assert ran["train"] == 4 and ran["table"] == 6
    m.references[m.key()] = tables_of(m.work)  # the first run is a from-scratch run
    m.check("from scratch", ran)

    edit_yaml(m.config, lambda s: s["experiments"]["ablation"].update(seeds=[0, 2]))
    ran = m.run()
    assert ran["train"] == 1 and ran["study_json"] == 1 and "synth" not in ran  # the seed-2 run only
    assert "mean of 2" in (m.work / "results/tables/table6.md").read_text()
    m.check("seeds [0, 1] -> [0, 2]", ran)

    edit_yaml(m.config, lambda s: s["experiments"]["deblur"].update(test_sets=["HIDE"]))
    ran = m.run()
    assert ran["synth"] == 1 and ran["infer"] == 1 and "train" not in ran and "prepare" not in ran
    m.check("deblur test sets [GoPro-test] -> [HIDE]", ran)

    edit_yaml(m.config, lambda s: s["data"]["synthetic"].update(train_count=3))
    ran = m.run()
    assert ran["synth"] == 2 and ran["prepare"] == 2 and ran["train"] == 4 and "score_input" not in ran
    logs = "".join(p.read_text() for p in (m.work / "results/logs/train").glob("*.log"))
    assert logs.count("its training data changed") == 4 and "restarting from scratch" in logs
    m.check("data.synthetic.train_count 2 -> 3", ran)

    edit_yaml(m.config, lambda s: s["data"]["synthetic"].update(train_count=2))
    m.interrupted("results/logs/data/synth_*.log")
    ran = m.run()
    assert ran["synth"] >= 1 and ran["train"] == 4
    m.check("Ctrl-C during synth (train_count 3 -> 2), the same command again", ran)

    text = m.recipe.read_text()
    m.recipe.write_text(text.replace("lr: 0.001", "lr: 0.002"))
    ran = m.run()
    assert ran["train"] == 4 and ran["infer"] == 4 and "synth" not in ran and "prepare" not in ran
    assert "its config differs (optim.lr)" in (m.work / "results/logs/train/derain-tiny.log").read_text()
    m.check("recipe optim.lr 0.001 -> 0.002", ran)

    m.recipe.write_text(m.recipe.read_text().replace("# the matrix's recipe", "# the matrix's recipe, edited"))
    dry = snakemake(m.work, "-n", *m.args())
    assert "Nothing to be done" in dry.stdout + dry.stderr
    m.check("recipe comment edited", m.run())

    m.recipe.write_text(m.recipe.read_text().replace("lr: 0.002", "lr: 0.001"))
    m.interrupted("results/logs/train/*.log")
    ran = m.run()
    assert ran["train"] >= 1
    m.check("Ctrl-C during a training (optim.lr 0.002 -> 0.001), the same command again", ran)

    edit_yaml(m.config, lambda s: s["evaluation"].update(seed=1))
    ran = m.run()
    assert ran["infer"] == 4 and ran["score"] == 4 and "train" not in ran and "score_input" not in ran
    m.check("evaluation.seed 0 -> 1", ran)

    edit_yaml(m.config, lambda s: s["evaluation"].update(seed=0))
    m.interrupted("results/logs/score/*/*.log")
    ran = m.run()
    assert ran["score"] >= 1 and "train" not in ran
    m.check("Ctrl-C during scoring (evaluation.seed 1 -> 0), the same command again", ran)

    edit_yaml(m.config, lambda s: s["experiments"].pop("deblur"))
    ran = m.run()
    assert "train" not in ran and "infer" not in ran and ran["study_json"] == 1 and ran["table"] == 6, ran
    assert "the study has no deblur experiment" in (m.work / "results/tables/table4.md").read_text()
    m.check("experiment deblur removed", ran)

    print(f"edit matrix: {len(m.lines)} edits, {len(m.references)} from-scratch runs, "
          f"{time.perf_counter() - started:.0f} s", flush=True)
