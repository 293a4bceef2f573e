"""The cluster path for real: a tiny study through `snakemake --profile profiles/slurm` on a one-node
SLURM cluster started for the test (tests/helpers/slurm.py), then the tables and the metrics against the
same study run locally (the session's shared tiny study, tests/pipeline/conftest.py, cut alike); and the
paper study's dry run through the profile.

Marked `slurm` (deselect with -m "not slurm"). Nothing is installed here: without slurmctld, slurmd,
munged (Debian's slurm-wlm and munge) and the slurm extra, or when not root, the tests are skipped
with the reason and how to enable them. .ci/run installs both, so CI runs them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers import slurm as slurm_cluster
from tests.helpers.pipeline import ENV, REPO, SHARED_TRAIN_THREADS, SNAKEMAKE, copy_study, snakemake, tiny_study

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
PROFILE = REPO / "profiles" / "slurm"
# What the paper study must fit: one node with one GPU and 8 CPUs (and 32 GB for one job).
NODE_CPUS, NODE_GPUS, JOB_MEM_MB = 8, 1, 32000
# The tiny study's trainings use 2 threads (the shared study's, which the local reference run is cut from), the
# other rules 1.
TRAIN_THREADS = SHARED_TRAIN_THREADS
# The rules whose jobs go to the cluster (the Snakefile's localrules and fetch, for real data, aside).
CLUSTER_RULES = {"synth", "check", "prepare", "train", "infer", "score", "score_input", "complexity", "readings",
                 "heatmap", "released_weights", "released_eval"}


def _need_plugin() -> None:
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed: pip install -e '.[slurm]'")


def cluster_study(config: Path) -> Path:
    """Cut the tiny study in ``config`` (tiny_study(baselines=True), the shared study's) to the smallest study that
    still sends every kind of cluster job: one test set per experiment and one seed, the ablation's stochastic
    and max samplers (Fig. 6's heatmap), every rain experiment on one training set, and a released weight file
    scored (fetch and evaluate); its trainings on the study's threads (SHARED_TRAIN_THREADS), which a SLURM
    job must ask for exactly."""
    study = yaml.safe_load(config.read_text())
    study["experiments"] = {
        "derain": {"train_set": "RainTrainH", "variant": "tiny", "test_sets": ["Rain100H"]},
        "deblur": {"train_set": "GoPro-train", "variant": "tiny", "test_sets": ["GoPro-test"]},
        "ablation": {"train_set": "RainTrainH", "test_sets": ["Rain100H"], "variants": ["tiny"],
                     "samplers": ["stochastic", "max"], "seeds": [0]},
    }
    study["released"]["evaluate"] = [{"weights": "tiny-prenet", "set": "Rain100H"}]
    study["heatmap"]["passes"] = 2
    assert study["train_threads"] == TRAIN_THREADS, study["train_threads"]
    config.write_text(yaml.safe_dump(study))
    return config


def cluster_profile(dest: Path, memory_mb: int, cpus: int) -> Path:
    """profiles/slurm as a user of this small cluster would adapt it: every memory request capped so
    that one job per CPU fits the node. Two test-only settings besides: trainings and inferences ask
    for a GPU, as they do for a cuda recipe (the tiny recipe runs on the CPU: there is no real GPU
    here, the job gets the fake one), and shorter status checks (the plugin's default: 40 s, and 10 s more after each that finds no job ended)."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    cap = memory_mb // cpus
    profile["default-resources"]["mem_mb"] = min(profile["default-resources"]["mem_mb"], cap)
    for rule, res in profile["set-resources"].items():
        if "mem_mb" in res:
            res["mem_mb"] = min(res["mem_mb"], cap)
    for rule in ("train", "infer"):
        profile["set-resources"][rule]["gpu"] = 1
    profile["slurm-init-seconds-before-status-checks"] = 2
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = slurm_cluster.missing()
    if why and os.environ.get("HST_REQUIRE_SLURM"):
        pytest.fail(f"HST_REQUIRE_SLURM is set but there is no SLURM here ({why})")
    if why:
        pytest.skip(f"no SLURM here ({why}); to run this test: {slurm_cluster.HOW_TO_ENABLE}")
    c = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
        yield c
    finally:
        c.stop()  # always, also when starting or a test failed


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    if cluster.cpus < TRAIN_THREADS:
        pytest.skip(f"the node has {cluster.cpus} CPU(s); the test's trainings use {TRAIN_THREADS}")
    tmp = tmp_path_factory.mktemp("slurm-study")
    config = cluster_study(tiny_study(tmp, baselines=True, threads=TRAIN_THREADS))  # from scratch
    profile = cluster_profile(tmp / "profile", cluster.memory_mb, cluster.cpus)
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(tmp), "--profile", str(profile),
           "--configfile", str(config), "--verbose"]
    start = time.monotonic()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=cluster.client_env(ENV),
                             timeout=1200)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"snakemake --profile slurm did not finish in 1200 s:\n{cluster.logs()}") from exc
    seconds = time.monotonic() - start
    text = out.stdout + out.stderr
    (tmp / "snakemake.log").write_text(text)
    if out.returncode != 0:
        raise AssertionError(f"snakemake --profile slurm failed ({out.returncode}):\n{text[-6000:]}\n{cluster.logs()}")
    print(f"\nsnakemake --profile slurm: {seconds:.0f} s (log: {tmp / 'snakemake.log'})")
    return tmp, text


@pytest.fixture(scope="module")
def local_run(shared_study, slurm_run, tmp_path_factory):
    """The same study run here, to the SLURM run's evaluations (what the test compares): a copy of the shared
    finished study (the same tiny study) cut as the cluster's, Snakemake bringing it to the cut study (what
    differs reruns: the edit matrix, test_edits.py, shows that this equals a from-scratch run). Its results folder
    also keeps the shared study's evaluations that the cut study does not have."""
    config = cluster_study(copy_study(shared_study, tmp_path_factory.mktemp("local-study") / "study"))
    remote, _ = slurm_run
    evaluations = [str(p.relative_to(remote)) for p in sorted((remote / "results" / "eval").rglob("summary.csv"))]
    snakemake(config.parent, *evaluations, "--cores", "2", "--configfile", str(config), "--quiet", "rules")
    return config.parent


def sbatch_calls(text: str) -> dict[str, list[str]]:
    """The plugin's sbatch calls (logged with --verbose), by rule; the --wrap'ed command left out."""
    calls: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "sbatch call: " not in line:
            continue
        call = line.split("sbatch call: ", 1)[1].split(" --wrap=", 1)[0]
        rule = re.search(r"--comment '?rule_([A-Za-z_]+?)(?:_wildcards|'| )", call)
        calls.setdefault(rule.group(1) if rule else "?", []).append(call)
    return calls


def test_tiny_study_runs_as_slurm_jobs_with_the_profiles_requests(cluster, slurm_run):
    tmp, text = slurm_run
    calls = sbatch_calls(text)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", text)
    ctld_log = (cluster.root / "log" / "slurmctld.log").read_text()
    accepted = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", ctld_log))
    n_calls = sum(len(v) for v in calls.values())
    print(f"SLURM jobs: {len(submitted)} submitted, {len(accepted)} accepted by slurmctld; "
          + ", ".join(f"{rule} {len(v)}" for rule, v in sorted(calls.items())))
    print("sbatch of one training:", calls["train"][0])
    assert len(submitted) == n_calls == len(accepted) > 20, (len(submitted), n_calls, len(accepted))
    assert set(submitted) == accepted
    assert set(calls) == CLUSTER_RULES, sorted(calls)  # every kind of job but fetch (real data) went to the cluster
    assert not {"study_json", "table", "results", "visual"} & set(calls), sorted(calls)  # localrules: not queued
    assert "?" not in calls, calls["?"]
    for rule, lines in calls.items():
        for call in lines:
            args = shlex.split(call)
            partition = args[args.index("-p") + 1]
            gpus = [a for a in args if a.startswith("--gpus")]
            assert not any(a.startswith("--gres") for a in args), call  # the GPU is asked for once
            mem = int(args[args.index("--mem") + 1])
            assert mem <= cluster.memory_mb // cluster.cpus, call
            if rule in ("train", "infer"):
                assert partition == "gpu" and gpus == ["--gpus=1"], call
            else:
                assert partition == "cpu" and not gpus, call
            # Threads follow the study: its train_threads for a training, 1 for every other rule.
            assert f"--cpus-per-task={TRAIN_THREADS if rule == 'train' else 1}" in args, call
            assert "-A" not in args, call  # no account set, none invented
    # Every job ran on the node and exited 0, as SLURM itself recorded it.
    completed = set(re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS 0", ctld_log))
    assert completed == accepted, sorted(accepted - completed)


def test_slurm_run_writes_the_tables_and_the_local_runs_metrics(slurm_run, local_run):
    tmp, _ = slurm_run
    tables = tmp / "results" / "tables"
    for i in range(1, 7):
        assert "SYNTHETIC TWINS" in (tables / f"table{i}.md").read_text()
        assert pd.read_csv(tables / f"table{i}.csv", comment="#").shape[0] > 0
    # The trainings used the study's threads, and the tables say so (no override to report).
    for run in (tmp / "results" / "runs").glob("*/run.json"):
        assert yaml.safe_load(run.read_text())["config"]["threads"] == TRAIN_THREADS, run
    header = (tables / "table3.md").read_text()
    assert f"{TRAIN_THREADS} threads" in header and "train_threads" not in header, header[:800]
    # The SLURM run's metrics as a regression reference, which the local run must meet (every reference row
    # present: the local run also has the shared study's other evaluations, which the SLURM run does not).
    reference = tmp / "reference"
    hst = [sys.executable, "-m", "hst", "regression"]
    subprocess.run([*hst, "--run", str(tmp / "results"), "--reference", str(reference), "--update"],
                   check=True, capture_output=True, text=True, env=ENV, timeout=300)
    out = subprocess.run([*hst, "--run", str(local_run / "results"), "--reference", str(reference)],
                         capture_output=True, text=True, env=ENV, timeout=300)
    print("regression (local run vs SLURM run):", (out.stdout + out.stderr).strip().splitlines()[-1:])
    assert out.returncode == 0, out.stdout + out.stderr
    # The same check, by hand: every score of every evaluation of the SLURM run equal to the local run's.
    summaries = sorted((tmp / "results" / "eval").rglob("summary.csv"))
    assert len(summaries) == 6, summaries  # 4 runs' evaluations, and the degraded inputs' of Rain100H and GoPro-test
    for summary in summaries:
        rel = summary.relative_to(tmp)
        a, b = pd.read_csv(local_run / rel), pd.read_csv(summary)
        cols = [c for c in a.columns if c.startswith(("psnr", "ssim"))]
        assert cols and a[cols].equals(b[cols]), rel


def test_status_command_squeue_is_what_works_without_accounting(cluster):
    # The plugin's default status query fails on this cluster; the profile's squeue does not.
    sacct = cluster.run("sacct", "-X", "-n", check=False)
    assert sacct.returncode != 0 or "disabled" in (sacct.stdout + sacct.stderr).lower(), sacct
    assert yaml.safe_load((PROFILE / "config.yaml").read_text())["slurm-status-command"] == "squeue"
    assert cluster.run("squeue", "-h", check=False).returncode == 0


def test_daemons_are_stopped(cluster):
    assert set(cluster.running()) == {"munged", "slurmctld", "slurmd"}
    cluster.stop()
    assert cluster.running() == [], cluster.running()
    ping = cluster.run("scontrol", "ping", check=False, timeout=60)
    assert "DOWN" in ping.stdout + ping.stderr, ping
    print("daemons stopped:", ", ".join(sorted(p for p in cluster.procs)), "| scontrol ping:", ping.stdout.strip())


def test_paper_study_dry_run_through_the_profile_fits_one_gpu_node():
    """Every job of the paper study, with the shipped profile's requests, fits a node with 1 GPU, 8 CPUs."""
    _need_plugin()
    # A dry run caps threads at --cores (1 unless given; a SLURM run does not cap them): a large
    # --cores shows each job's threads as SLURM would get them.
    out = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(REPO), "-n", "-p", "--cores", "1024",
                          "--profile", str(PROFILE), "--configfile", str(REPO / "config/paper.yaml")],
                         capture_output=True, text=True, env=ENV, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    jobs = []
    for block in re.split(r"\n(?=rule \w+:\n)", text):
        head = re.match(r"rule (\w+):\n", block)
        if not head or head.group(1) == "all":
            continue
        res = dict(re.findall(r"(\w+)=([^,\n]+)", re.search(r"resources: (.*)", block).group(1)))
        threads = re.search(r"--set threads=(\d+)|--threads (\d+)", block)
        threads = int(next(g for g in threads.groups() if g)) if threads else 1
        jobs.append((head.group(1), res, threads))
    counts = {}
    for rule, res, threads in jobs:
        counts[rule] = counts.get(rule, 0) + 1
        cpus = int(res.get("cpus_per_task", threads))
        assert 1 <= cpus <= NODE_CPUS and threads <= NODE_CPUS, (rule, res, threads)
        assert int(res.get("gpu", 0)) <= NODE_GPUS and "gres" not in res and "gpus" not in res, (rule, res)
        assert int(res["mem_mb"]) <= JOB_MEM_MB and int(res["runtime"]) > 0, (rule, res)
        assert res["slurm_partition"] == ("gpu" if rule in ("train", "infer") else "cpu"), (rule, res)
        if rule in ("train", "infer"):
            assert int(res["gpu"]) == 1, (rule, res)  # the paper recipe runs on cuda
    trains = [threads for rule, _, threads in jobs if rule == "train"]
    assert trains and set(trains) == {yaml.safe_load((REPO / "config/paper.yaml").read_text())["train_threads"]}
    stats = re.search(r"total\s+(\d+)", text)
    assert stats and int(stats.group(1)) == len(jobs) + 1, (stats and stats.group(1), len(jobs))
    print(f"paper dry run through profiles/slurm: {len(jobs)} jobs ("
          + ", ".join(f"{r} {n}" for r, n in sorted(counts.items())) + f"); train threads {sorted(set(trains))}")
