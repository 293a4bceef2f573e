"""The study config: validation with clear errors (overrides included), the runs the tables share, what it leaves out."""

import copy

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
