"""The study config: validation with clear errors, and the runs the tables share."""

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
    assert sorted(study.runs) == sorted(["derain-tiny", "deblur-tiny", *(f"{g}-s{s}" for g in groups for s in range(3))])
    assert study.group_runs("ablation-tiny-max") == ["ablation-tiny-max-s0", "ablation-tiny-max-s1", "ablation-tiny-max-s2"]
    assert 'seed=2' in study.runs["ablation-tiny-max-s2"].train_args()
    assert study.runs["derain-tiny"].seed is None and not any(a.startswith("seed=") for a in study.runs["derain-tiny"].train_args())
    assert len(study.evaluations()) == 5 + 4 + 5 * 3
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
