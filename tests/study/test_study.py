"""The study config: validation with clear errors (overrides included), the runs the tables share, what it leaves out."""

import copy
from pathlib import Path

import pytest
import yaml

from hst.errors import ConfigError
from hst.study import Study

DEFAULT = yaml.safe_load(open("config/config.yaml"))
PAPER = yaml.safe_load(open("config/paper.yaml"))


def test_default_study_runs_each_training_once():
    study = Study(copy.deepcopy(DEFAULT))
    groups = ["ablation-tiny-stochastic", "ablation-double-stochastic", "ablation-tiny-max", "ablation-tiny-avg",
              "ablation-tiny-grid"]  # the tiny stochastic ablation run serves Table 5 and Table 6
    assert sorted(study.runs) == sorted(["derain-tiny", "deblur-tiny", *(f"{g}-s{s}" for g in groups for s in range(3)),
                                         "derain-prenet", *(f"ablation-prenet-s{s}" for s in range(3))])
    assert study.group_runs("ablation-tiny-max") == ["ablation-tiny-max-s0", "ablation-tiny-max-s1", "ablation-tiny-max-s2"]
    assert 'seed=2' in study.runs["ablation-tiny-max-s2"].train_args()
    assert study.runs["derain-tiny"].seed is None and not any(a.startswith("seed=") for a in study.runs["derain-tiny"].train_args())
    assert len(study.evaluations()) == 5 + 4 + 5 * 3 + 5 + 3
    # A baseline: its own recipe, the experiment's budget and seeds, no HST option; labelled by its architecture.
    prenet = study.runs["ablation-prenet-s1"]
    assert prenet.recipe == "config/recipes/prenet-synthetic.yaml" and prenet.baseline == "prenet"
    assert prenet.train_args() == ["schedule.iterations=100", "seed=1"] and prenet.test_sets == ("Rain100H",)
    assert study.model_label("ablation-prenet-s1") == "PReNet" and study.model_label("ablation-tiny-max-s0") == "HST-tiny (max sampler)"
    assert study.runs["derain-prenet"].train_args() == ["schedule.iterations=600"]
    assert study.protocol("RealBlur-J") == "realblur" and study.protocol("HIDE") == "gopro"
    assert study.protocol("Test100") == "derain"
    assert set(study.sets) == {"Rain13K", "GoPro-train", "RainTrainH", "Test100", "Rain100H", "Rain100L",
                               "Test2800", "Test1200", "GoPro-test", "HIDE", "RealBlur-R", "RealBlur-J"}
    assert study.synth_args("Rain13K") == ["--count", "64", "--size", "128", "--seed", "0"]
    assert study.synth_args("HIDE") == ["--count", "10", "--size", "96x128", "--seed", "0"]
    assert study.device == "cpu"


def test_paper_study_is_valid_and_uses_the_gpu_recipe():
    study = Study(copy.deepcopy(PAPER))
    assert study.source == "real" and study.device == "cuda"
    run = study.runs["ablation-double-stochastic"]
    assert "data.patches_per_image=20" in run.train_args() and 'model.variant="double"' in run.train_args()


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda c: c.update(resutls="x"), "resutls: unknown key (did you mean results?)"),
        (lambda c: c["experiments"]["derain"].update(test_sets=["Rain200"]), "experiments.derain.test_sets.0"),
        (lambda c: c["data"].update(source="web"), "data.source"),
        (lambda c: c["experiments"]["ablation"].update(samplers=["median"]), "experiments.ablation.samplers.0"),
        (lambda c: c["data"]["synthetic"].update(train_count=0), "data.synthetic.train_count"),
        (lambda c: c.pop("recipe"), "'recipe' is a required property"),
        (lambda c: c["experiments"]["ablation"].update(seeds=[0, 0]), "experiments.ablation.seeds"),
        (lambda c: c["experiments"]["derain"].update(seeds=[-1]), "experiments.derain.seeds.0"),
    ],
)
def test_bad_keys_are_one_line_errors_naming_the_key(edit, message):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    with pytest.raises(ConfigError) as info:
        Study(config, source="config/x.yaml")
    text = str(info.value)
    assert message in text and text.startswith("config/x.yaml: ") and "\n" not in text


@pytest.mark.parametrize(
    "experiment,key,value,hint",
    [
        ("ablation", "model.variant", "double", "set experiments.ablation.variants"),
        ("derain", "model.variant", "double", "set experiments.derain.variant"),
        ("ablation", "model.sampler", "max", "set experiments.ablation.samplers"),
        ("deblur", "model.sampler", "max", "the deblur experiment trains the stochastic sampler"),
        ("ablation", "seed", 3, "set experiments.ablation.seeds"),
        ("derain", "data.train_set", "data/x/Rain100L", "trains on experiments.derain.train_set"),
        ("derain", "data.cache_dir", "data/_cache/x", "patch cache of experiments.derain.train_set"),
        ("deblur", "device", "cuda", "set it in the recipe"),
        ("ablation", "threads", 4, "train_threads"),
    ],
)
def test_overrides_that_set_a_runs_identity_are_refused_when_the_study_loads(experiment, key, value, hint):
    config = copy.deepcopy(DEFAULT)
    config["experiments"][experiment]["overrides"] = {"schedule.iterations": 5, key: value}
    with pytest.raises(ConfigError) as info:
        Study(config, source="config/x.yaml")
    text = str(info.value)
    assert text.startswith(f"config/x.yaml: experiments.{experiment}.overrides.{key}: not allowed in overrides")
    assert hint in text and "\n" not in text


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"schedule.iteration": 5}, "experiments.derain.overrides.schedule.iteration: unknown key (did you mean schedule.iterations?)"),
        ({"optim.lr": "fast"}, "experiments.derain.overrides.optim.lr: 'fast' is not of type 'number'"),
        ({"schedule.iterations": 0}, "experiments.derain.overrides.schedule.iterations: 0 is not valid"),
        ({"model.ratios": [4, 2]}, "experiments.derain.overrides.model.ratios: [4, 2] is too short"),
        ({"schedule": {"iterations": 5}}, "experiments.derain.overrides.schedule: is a section; set its keys one by one"),
        ({"modle.dim": 8}, "experiments.derain.overrides.modle: unknown key (did you mean model?)"),
    ],
)
def test_every_override_is_checked_against_the_run_config_schema_when_the_study_loads(overrides, message):
    config = copy.deepcopy(DEFAULT)
    config["experiments"]["derain"]["overrides"] = overrides
    with pytest.raises(ConfigError) as info:
        Study(config, source="config/x.yaml")
    assert str(info.value).startswith(f"config/x.yaml: {message}") and "\n" not in str(info.value)


def test_overrides_are_checked_with_the_recipe_and_valid_ones_pass():
    config = copy.deepcopy(DEFAULT)
    config["experiments"]["derain"]["overrides"] = {"schedule.iterations": 900, "model.zero_head": True}
    Study(config).check_recipe()  # the default's own overrides and a model option: fine
    config["experiments"]["derain"]["overrides"] = {"optim.lr_min": 1.0}
    with pytest.raises(ConfigError, match=r"^config/recipes/synthetic.yaml with experiments.derain.overrides: "
                                          r"optim.lr_min: 1.0 is above optim.lr"):
        Study(config).check_recipe()


def test_left_out_names_what_a_cut_down_study_lacks():
    assert Study(copy.deepcopy(DEFAULT)).left_out() == [] and Study(copy.deepcopy(PAPER)).left_out() == []
    config = copy.deepcopy(DEFAULT)
    config["experiments"] = {"ablation": {**DEFAULT["experiments"]["ablation"], "variants": ["tiny"], "samplers": ["max"]}}
    study = Study(config)
    assert study.heatmap_runs() == ("ablation-tiny-stochastic-s0", "ablation-tiny-max-s0")
    assert study.left_out() == ["the derain experiment (Table 3 and the deraining panels of Figs. 7-8)",
                                "the deblur experiment (Table 4 and the deblurring panels of Figs. 7-8)",
                                "Table 5's HST-double (experiments.ablation.variants)",
                                "Table 6's avg, grid samplers (experiments.ablation.samplers)"]
    config["experiments"]["ablation"]["samplers"] = ["stochastic"]
    assert Study(config).heatmap_runs() is None and "Fig. 6 (needs" in Study(config).left_out()[-1]


def test_released_weights_are_scored_under_their_authors_protocol_and_the_tables():
    config = copy.deepcopy(DEFAULT)
    config["experiments"] = {"deblur": config["experiments"]["deblur"]}
    config["released"] = {"evaluate": [{"weights": "prenet-rain100l", "set": "Rain100L"}]}
    study = Study(config)
    (item,) = study.released
    assert item["own_protocol"] == "prenet" and item["table_protocol"] == "derain"
    assert item["protocols"] == ["prenet", "derain"] and item["published"]["psnr"] == 37.48
    assert "Rain100L" in study.test_sets  # its set is made (or fetched) and its input scored like every test set
    config["released"]["evaluate"][0]["weights"] = "prenet-rain100x"
    with pytest.raises(ConfigError, match=r"^config: released\.evaluate\.0\.weights: 'prenet-rain100x' is not in the "
                                          r"weights registry \(prenet-rain100l, prenet-rain100h, prenet-rain1400, brn-rain100l, .*\)$"):
        Study(config)


def test_an_override_in_exponent_notation_is_a_number_whoever_read_the_file(tmp_path):
    """``optim.lr: 3e-4``: YAML 1.1 (PyYAML, Snakemake's --configfile) reads the string '3e-4', YAML 1.2 the number.
    The study reads it as the number either way, and its trainings get it."""
    text = (Path("config/config.yaml").read_text(encoding="utf-8")
            .replace("      schedule.iterations: 100\n", "      schedule.iterations: 100\n      optim.lr: 3e-4\n"))
    assert "optim.lr: 3e-4" in text
    snakemake_view = yaml.safe_load(text)
    assert snakemake_view["experiments"]["ablation"]["overrides"]["optim.lr"] == "3e-4"
    (tmp_path / "study.yaml").write_text(text)
    for study in (Study(snakemake_view), Study.from_file(tmp_path / "study.yaml")):
        run = study.runs["ablation-tiny-max-s0"]
        assert run.overrides["optim.lr"] == 0.0003 and "optim.lr=0.0003" in run.train_args()


def test_importing_the_study_loads_neither_opencv_nor_the_paper_layer():
    """The Snakefile's parse imports hst.study: no cv2 (scoring's), no hst.paper (the tables'), no fvcore."""
    import subprocess
    import sys

    code = "import sys, hst.study; print(sorted(m for m in ('cv2', 'hst.paper', 'fvcore', 'skimage') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("path", ["config/config.yaml", "config/paper.yaml"])
@pytest.mark.slow
def test_trainings_are_ranked_as_fvcore_would_rank_them(path):
    """The pipeline's priorities (layer MACs, one eager pass) order the trainings as Table 1's fvcore count does."""
    import json

    from hst.models import build_from_config
    from hst.models.complexity import count_macs
    from hst.study.plan import _macs_per_pixel, training_ranks, training_work

    study = Study.from_file(path)
    fvcore: dict[str, float] = {}

    def work(run: str) -> float:
        model = study.run_config(run)["model"]
        key = json.dumps(model, sort_keys=True)
        if key not in fvcore:
            fvcore[key] = count_macs(build_from_config(model), 32)[0] / (32 * 32)
        return training_work(study, run) / _macs_per_pixel(key) * fvcore[key]

    order = sorted(study.runs, key=lambda r: (work(r), r))
    assert training_ranks(study) == {r: i + 1 for i, r in enumerate(order)}


def test_each_table_reads_only_its_own_runs():
    """study.json's "reads" (hst.study.layout.table_reads): Table 6 the ablation's sampler runs, Table 5 its variants and
    the baselines beside them, Tables 1 and 2 no training, results.csv every run."""
    study = Study.from_file("config/config.yaml")
    reads = study.describe()["reads"]
    assert list(reads) == ["table1", "table2", "table3", "table4", "table5", "table6", "results"]  # no released weights
    assert {study.runs[r].group for r in reads["table6"]["runs"]} == {
        f"ablation-tiny-{s}" for s in ("stochastic", "max", "avg", "grid")}
    assert {study.runs[r].group for r in reads["table5"]["runs"]} == {
        "ablation-tiny-stochastic", "ablation-double-stochastic", "ablation-prenet"}
    assert {study.runs[r].experiment for r in reads["table3"]["runs"]} == {"derain"}
    assert reads["table6"]["inputs"] == ["Rain100H"] and reads["table1"]["complexity"]
    assert not reads["table1"]["runs"] and not reads["table2"]["runs"] and reads["table2"]["data"]
    assert reads["results"]["runs"] == list(study.runs)
    assert sorted(map(tuple, reads["results"]["evaluations"])) == sorted(study.evaluations())
