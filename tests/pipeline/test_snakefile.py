"""End to end: the real Snakefile on a tiny study, in a scratch folder; then the things a user relies on."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hst.paper.tables import read_csv
from hst.study import Study
from tests.helpers.pipeline import (ENV, REPO, REPORT_TABLES, SNAKEMAKE, STUDY_FILE, TOY_LABEL, copy_study, snakemake,
                                    tiny_study)

# Every test here runs Snakemake (a dry run is 5 s): slow.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished(shared_study):
    """The session's tiny finished study (tests/pipeline/conftest.py): its folder and study file."""
    return shared_study, shared_study / STUDY_FILE


@pytest.mark.slow
def test_pipeline_writes_every_table_with_its_provenance(finished):
    tmp, _ = finished
    tables = tmp / "results" / "tables"
    for i in range(1, 7):
        md = (tables / f"table{i}.md").read_text()
        assert "SYNTHETIC TWINS" in md and "REDUCED" in md and "device:" in md and "commit" in md
        assert pd.read_csv(tables / f"table{i}.csv", comment="#").shape[0] > 0
    t3 = pd.read_csv(tables / "table3.csv", comment="#")
    assert {"degraded input (no restoration)", "HST-tiny [synthetic twins]", "PreNet"} <= set(t3.method)
    t6 = pd.read_csv(tables / "table6.csv", comment="#")
    assert set(t6.sampler.dropna()) == {"stochastic", "max"}
    assert (tables / "fig6_heatmap.png").stat().st_size > 1000
    study = json.loads((tmp / "results" / "study.json").read_text())
    assert set(study["runs"]) == {"derain-tiny", "deblur-tiny", "ablation-tiny-stochastic-s0", "ablation-tiny-stochastic-s1",
                                  "ablation-tiny-max-s0", "ablation-tiny-max-s1",
                                  "derain-prenet", "ablation-prenet-s0", "ablation-prenet-s1",
                                  "derain-toynet", "ablation-toynet-s0", "ablation-toynet-s1", "derain-brn", "deblur-dmphn"}
    # PReNet trained by the same trainer, with its recipe's loss, scored beside HST in Tables 3 and 5.
    prenet = json.loads((tmp / "results/runs/ablation-prenet-s1/run.json").read_text())
    assert prenet["config"]["model"]["arch"] == "prenet" and prenet["config"]["loss"]["name"] == "neg_ssim"
    assert prenet["seed"] == 1 and prenet["params"] == 168_963
    assert "PReNet [retrained here, synthetic twins]" in set(t3.method)
    t5 = pd.read_csv(tables / "table5.csv", comment="#")
    assert "PReNet (retrained here)" in set(t5.model)
    assert "PReNet (retrained here) - HST-tiny stochastic on Rain100H" in (tables / "table5.md").read_text()
    t1 = pd.read_csv(tables / "table1.csv", comment="#")
    assert int(t1[t1.model == "PReNet"].params.iloc[0]) == 168_963
    # The released weights: fetched, made a checkpoint, scored under their own protocol and the table's.
    released = pd.read_csv(tables / "released.csv", comment="#")
    assert list(released["weights"]) == ["tiny-prenet"] and released["own protocol"].iloc[0] == "prenet"
    assert released["table protocol"].iloc[0] == "derain" and float(released["published PSNR"].iloc[0]) == 30.0
    for protocol in ("prenet", "derain"):
        summary = pd.read_csv(tmp / f"results/released/tiny-prenet/Rain100L/{protocol}/summary.csv")
        assert summary.protocol.iloc[0] == protocol and summary.images.iloc[0] == 2
    assert json.loads((tmp / "results/runs/ablation-tiny-max-s1/run.json").read_text())["seed"] == 1
    t6md = (tables / "table6.md").read_text()
    assert "mean of 2" in t6md and "±" in t6md and "Δ PSNR vs HST-tiny stochastic" in t6md
    assert len(t6[t6.seeds.astype(str).str.startswith("seed")]) == 4  # per-seed rows stay in the CSV
    run = json.loads((tmp / "results/runs/derain-tiny/run.json").read_text())
    assert run["config"]["schedule"]["iterations"] == 4 and run["environment"]["git"]["commit"]
    # Every rule's log, for every job of it, under the study's results folder (two studies never share logs).
    sets = {s for r in study["runs"].values() for s in [r["train_set"], *r["test_sets"]]}
    evals = [f"{name}/{s}" for name, r in study["runs"].items() for s in r["test_sets"]]
    expected = {"synth": [f"data/synth_{s}.log" for s in sets], "check": [f"data/check_{s}.log" for s in sets],
                "prepare": [f"data/prepare_{r['train_set']}.log" for r in study["runs"].values()],
                "train": [f"train/{name}.log" for name in study["runs"]], "infer": [f"infer/{e}.log" for e in evals],
                "score": [f"score/{e}.log" for e in evals], "table": [f"tables/table{i}.log" for i in range(1, 7)],
                "results": ["tables/results.log"]}
    logs = tmp / "results" / "logs"
    assert not (tmp / "logs").exists()
    for rule, names in expected.items():
        missing = [name for name in names if not (logs / name).is_file()]
        assert not missing, f"rule {rule}: no log {missing} under {logs}"


@pytest.mark.slow
def test_brn_and_dmphn_train_and_score_as_baselines(finished):
    """BRN beside HST in deraining, DMPHN in deblurring: each trained by the same trainer with its recipe's loss,
    scored under the set's protocol, with its rows in Tables 1, 3 and 4."""
    tmp, _ = finished
    tables = tmp / "results" / "tables"
    assert {"BRN", "DMPHN(1-2-4)"} <= set(read_csv(tables / "table1.csv")["model"])
    assert "BRN [retrained here, synthetic twins]" in set(read_csv(tables / "table3.csv")["method"])
    t4 = read_csv(tables / "table4.csv")
    row = t4[t4["method"] == "DMPHN(1-2-4) [retrained here, synthetic twins]"]
    assert len(row) == 1 and float(row["GoPro PSNR"].iloc[0]) > 0
    for run, arch, loss in (("derain-brn", "brn", "neg_ssim"), ("deblur-dmphn", "dmphn", "mse")):
        record = json.loads((tmp / "results" / "runs" / run / "run.json").read_text())
        assert record["config"]["model"]["arch"] == arch and record["config"]["loss"]["name"] == loss


@pytest.mark.slow
def test_an_architecture_registered_outside_the_package_gets_its_rows(finished):
    """ToyNet (tests/helpers/toy_arch.py, registered through $HST_PLUGINS) trained as a baseline: its rows in
    Tables 1, 3 and 5 under its own label, its columns in results.csv; hst/paper/ names no architecture."""
    tmp, _ = finished
    tables = tmp / "results" / "tables"
    assert TOY_LABEL in set(read_csv(tables / "table1.csv")["model"])
    assert f"{TOY_LABEL} [retrained here, synthetic twins]" in set(read_csv(tables / "table3.csv")["method"])
    table5 = read_csv(tables / "table5.csv")
    assert f"{TOY_LABEL} (retrained here)" in set(table5["model"])
    results = read_csv(tables / "results.csv")
    toy = results[results["arch"] == "toynet"]
    assert set(toy["baseline"]) == {"toynet"} and set(toy["model"]) == {TOY_LABEL}
    assert set(toy["experiment"]) == {"derain", "ablation"} and toy["variant"].isna().all()


@pytest.mark.slow
def test_second_run_has_nothing_to_do(shared_study, tmp_path):
    config = copy_study(shared_study, tmp_path / "study")  # a dry run writes Snakemake's locks: not in the shared one
    out = snakemake(config.parent, "-n", "--configfile", str(config))
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_pipeline_stopped_mid_training_resumes_from_the_checkpoint(shared_study, tmp_path):
    """Ctrl-C (SIGINT to the process group) while a training runs; the same command then resumes it. On a copy
    of the shared study cut to one training, its recipe made long enough to be stopped."""
    import signal
    import time

    config = copy_study(shared_study, tmp_path / "study")
    work = config.parent
    study = yaml.safe_load(config.read_text())
    study["experiments"] = {"ablation": {"train_set": "RainTrainH", "test_sets": ["Rain100H"], "variants": ["tiny"],
                                         "samplers": ["stochastic"], "seeds": [0]}}
    study.pop("released")
    config.write_text(yaml.safe_dump(study))
    recipe = yaml.safe_load((work / study["recipe"]).read_text())
    # Long enough that it cannot finish between the first checkpoint (iteration 2) and the signal, one poll
    # (0.05 s) later: 38 iterations still to go, half a second or more on a fast, idle machine.
    recipe["schedule"].update(iterations=40, checkpoint_every=2, log_every=2)
    (work / study["recipe"]).write_text(yaml.safe_dump(recipe))
    run = work / "results/runs/ablation-tiny-stochastic"  # one seed: a run of its own, not yet trained
    # Table 6 (what the one training is for) is the target: the report's pieces and figures are not what this tests.
    target = "results/tables/table6.md"
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(work), target, "--cores", "2",
           "--configfile", str(config), "--quiet", "rules"]
    # A user's Ctrl-C: SIGINT at its default disposition in the pipeline's processes, even when the
    # tests themselves run in the background of a shell (nohup ... &), which starts them with SIGINT ignored.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (run / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    assert (run / "checkpoint.pt").exists() and not (run / "model.pt").exists(), "not stopped mid-training"

    snakemake(work, target, "--cores", "2", "--configfile", str(config), "--quiet", "rules")
    record = json.loads((run / "run.json").read_text())
    assert record["segments"][-1]["start_iteration"] > 0, record["segments"]  # resumed, not restarted
    assert [s["status"] for s in record["segments"]] == ["interrupted", "finished"], record["segments"]
    assert (run / "model.pt").exists() and (work / "results/tables/table6.md").exists()
    iterations = [int(line.split(",")[0]) for line in (run / "train_log.csv").read_text().splitlines()[1:]]
    assert iterations == list(range(2, 41, 2))  # the 40-iteration training's rows, none duplicated or lost


def test_bad_config_key_is_one_clear_line(tmp_path):
    out = snakemake(tmp_path, "-n", "--config", "resutls=x", check=False)
    assert out.returncode != 0
    assert "error: config: resutls: unknown key (did you mean results?)" in out.stdout + out.stderr


def test_bad_overrides_stop_the_pipeline_when_it_loads_with_one_line(tmp_path):
    config = tiny_study(tmp_path)
    study = yaml.safe_load(config.read_text())
    for overrides, message in (({"model.variant": "double"}, "error: config: experiments.ablation.overrides.model.variant: "
                                                              "not allowed in overrides"),
                               ({"optim.lr_min": 1.0}, "with experiments.ablation.overrides: optim.lr_min: 1.0 is above optim.lr")):
        study["experiments"]["ablation"]["overrides"] = overrides
        config.write_text(yaml.safe_dump(study))
        out = snakemake(tmp_path, "-n", "--configfile", str(config), check=False)
        assert out.returncode != 0 and message in out.stdout + out.stderr


def test_a_study_override_in_exponent_notation_is_a_number(tmp_path):
    """``optim.lr: 3e-4`` in a --configfile (which Snakemake reads as YAML 1.1: the string '3e-4') is the number."""
    config = tiny_study(tmp_path)
    config.write_text(config.read_text().replace("overrides: {}", "overrides: {optim.lr: 3e-4}", 1))
    assert "optim.lr: 3e-4" in config.read_text()
    out = snakemake(tmp_path, "-n", "-p", "--configfile", str(config), "--forcerun", "train")  # check: the study loads
    assert "optim.lr=0.0003" in out.stdout


def test_one_table_alone_waits_for_its_own_trainings_only(tmp_path):
    """Table 6 (the samplers) on a fresh folder: the ablation's HST-tiny trainings, none of derain, deblur or PReNet."""
    study = yaml.safe_load((REPO / "config/config.yaml").read_text())  # the default study, its recipes found from here
    study["recipe"] = str(REPO / study["recipe"])
    for experiment in study["experiments"].values():
        for baseline in experiment.get("baselines", {}).values():
            baseline["recipe"] = str(REPO / baseline["recipe"])
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    out = snakemake(tmp_path, "-n", "results/tables/table6.md", "--configfile", str(tmp_path / "study.yaml"))
    trained = set(re.findall(r"results/runs/([\w-]+)/model\.pt", out.stdout))
    study = Study.from_file(tmp_path / "study.yaml")
    assert trained == {name for name, r in study.runs.items()
                       if r.experiment == "ablation" and not r.baseline and r.variant == "tiny"}, trained
    assert not any(name.startswith(("derain", "deblur")) or "prenet" in name for name in trained)
    assert "rule table:" in out.stdout and "rule results:" not in out.stdout


@pytest.fixture(scope="module")
def paper_dry_run() -> str:
    """The paper study's dry run, printing the commands of its trainings, inferences and heatmap."""
    out = snakemake(REPO, "-n", "-p", "--configfile", str(REPO / "config/paper.yaml"), "--forcerun", "train", "infer",
                    "heatmap")
    return out.stdout + out.stderr


def test_paper_study_dry_run_lists_downloads_without_network(paper_dry_run):
    assert "extended by additional config" not in paper_dry_run  # paper.yaml stands alone, not merged into the default
    for rule in ("fetch", "check", "prepare", "train", "infer", "score", "table", "results", "complexity"):
        assert f"rule {rule}:" in paper_dry_run, rule


def test_trainings_asking_for_several_gpus_run_under_torchrun(paper_dry_run):
    assert "python -m hst train --config" in paper_dry_run and "torchrun" not in paper_dry_run
    four = snakemake(REPO, "-n", "-p", "--configfile", str(REPO / "config/paper.yaml"), "--forcerun", "train",
                     "--set-resources", "train:gpu=4", "--resources", "gpu=4")
    text = four.stdout + four.stderr
    assert "torchrun --standalone --nproc_per_node 4 -m hst train --config" in text
    assert "python -m hst train" not in text


def test_every_rule_that_runs_a_model_gets_the_recipes_device(paper_dry_run):
    lines = [line for line in paper_dry_run.splitlines() if " evaluate " in line or " heatmap " in line]
    assert any(" heatmap " in line for line in lines) and len(lines) > 1
    for line in lines:  # the paper recipe's device: cuda
        assert "--device cuda" in line, line


# -- the HTML report (snakemake --report), checked in a real headless browser -----------------
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
BROWSER_MISSING = ("needs Debian's chromium and its driver and selenium: apt-get install chromium chromium-driver; "
                   "pip install -e '.[test]'")
# The released weights' page: only a study with released.evaluate (the finished tiny study) has it.
RELEASED_PAGE = "results/report/released.html"
REPORT_FIGURES = ["results/tables/fig6_heatmap.png", "results/tables/fig7_visual.png", "results/report/training_curves.png",
                  "results/report/cost_quality.png", "results/report/psnr_per_image.png"]


@pytest.fixture(scope="module")
def report(shared_report):
    return shared_report


@pytest.mark.slow
def test_report_is_one_self_contained_page_with_every_piece(report):
    text = report.read_text(encoding="utf-8")
    assert report.stat().st_size > 100_000
    assert 'src="http' not in text and "src='http" not in text  # scripts and images are embedded
    for piece in REPORT_TABLES + [RELEASED_PAGE] + REPORT_FIGURES:
        assert piece in text, piece
    tmp = report.parents[1]
    claims = (tmp / "results/report/claims.html").read_text()
    assert "48.1%" in claims and "44.7%" in claims and "+1.10 dB" in claims and "+2.97 dB" in claims
    assert "bilinear-conv1x1" in claims and "8/4/2/2" in claims  # the readings of the open choices
    times = (tmp / "results/report/times.html").read_text()
    assert "derain-tiny" in times and "max RSS" in times
    table3 = (tmp / "results/report/table3.html").read_text()
    assert "<table" in table3 and "SYNTHETIC TWINS" in table3 and "PreNet" in table3


@pytest.mark.slow
def test_visual_panel_picks_crops_of_every_derain_and_deblur_test_set(finished):
    tmp, _ = finished
    log = (tmp / "results/logs/visual.log").read_text()
    for test_set in ("Rain100H", "Rain100L", "GoPro-test", "RealBlur-J"):
        assert f"{test_set}: " in log and "crop" in log
    assert (tmp / "results/tables/fig7_visual.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=BROWSER_MISSING)
def test_report_loads_in_a_headless_browser_without_console_errors(report, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason=BROWSER_MISSING)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(report.as_uri())
        WebDriverWait(driver, 30).until(lambda d: "RESULTS" in d.find_element("tag name", "body").text)
        kinds = driver.execute_script("return Object.entries(results).map(([path, r]) => [path, r.mime_type])")
        pages = sorted(p for p, mime in kinds if mime == "text/html")
        images = sorted(p for p, mime in kinds if mime == "image/png")
        assert pages == sorted(REPORT_TABLES + [RELEASED_PAGE]) and images == sorted(REPORT_FIGURES)
        menu = driver.find_element("tag name", "body").text
        for category in ("1 Tables", "2 Figures", "3 Training", "4 Claims"):
            assert category in menu
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
