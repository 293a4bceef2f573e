"""Run configs: recipe defaults, YAML and --set overrides, and one-line errors naming the bad key."""

from __future__ import annotations

import inspect

import pytest

from hst.engine.config import DEFAULTS, SCHEMA, build_config, differences, load_config, parse_override, to_yaml
from hst.errors import ConfigError


def test_defaults_are_the_papers_recipe():
    config = build_config()
    assert config["optim"] == {"lr": 3e-4, "lr_min": 1e-6, "betas": [0.9, 0.999], "weight_decay": 0.02, "batch_size": 32,
                               "warmup_iterations": 0, "grad_clip": None,  # the paper states neither
                               "decay": "cosine", "milestones": [0.3, 0.5, 0.8], "gamma": 0.2}  # step decay: PReNet's
    assert config["data"]["patch_size"] == 128
    assert config["schedule"]["epochs"] == 250 and config["schedule"]["iterations"] is None
    assert config["model"] == {"arch": "hst", "variant": "tiny"}
    assert config["loss"]["name"] == "l1"


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 1e-3\nschedule:\n  iterations: 500\nmodel:\n  sampler: max\n")
    config = load_config(path, ["optim.batch_size=8", "model.ratios=[2, 2, 1, 1]", "loss.name=charbonnier"])
    # "1e-3" without a dot is a float here, as in Python (plain YAML 1.1 would read a string).
    assert config["optim"]["lr"] == 1e-3 and config["optim"]["batch_size"] == 8
    # Giving iterations alone switches the epoch default off.
    assert config["schedule"]["iterations"] == 500 and config["schedule"]["epochs"] is None
    assert config["model"] == {"arch": "hst", "variant": "tiny", "sampler": "max", "ratios": [2, 2, 1, 1]}
    assert config["loss"] == {"name": "charbonnier", "eps": 1e-3}
    # Untouched defaults stay.
    assert config["optim"]["weight_decay"] == 0.02


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", "optim.lrr: unknown key (did you mean optim.lr?)"),
        ("data.patchsize=64", "data.patchsize: unknown key (did you mean data.patch_size?)"),
        ("zzz=1", "zzz: unknown key (valid keys: model, data, optim, schedule, loss, seed, device, threads, compile)"),
        ("model.samplr=max", "model.samplr: unknown key (did you mean model.sampler?)"),
    ],
)
def test_unknown_key_is_named_with_a_suggestion(override, message):
    with pytest.raises(ConfigError) as info:
        build_config({}, [override])
    assert str(info.value) == message


def test_unknown_key_in_yaml(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("schedule:\n  epochs: 3\n  checkpoint_evry: 5\n")
    with pytest.raises(ConfigError, match=r"^schedule\.checkpoint_evry: unknown key \(did you mean schedule\.checkpoint_every\?\)$"):
        load_config(path)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("optim.lr=-1", "optim.lr:"),
        ("optim.betas=[0.9]", "optim.betas:"),
        ("loss.name=l2", "loss.name:"),
        ("device=gpu", "device:"),
        ("schedule.epochs=0", "schedule.epochs:"),
        ("data.patch_size=big", "data.patch_size:"),
        ("model.variant=huge", "model.variant:"),
        ("model.ratios=[4, 2, 2]", "model.ratios:"),
    ],
)
def test_wrong_values_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as info:
        build_config({}, [override])
    assert str(info.value).startswith(fragment)
    assert "\n" not in str(info.value)


def test_exactly_one_of_epochs_and_iterations():
    with pytest.raises(ConfigError, match="exactly one"):
        build_config({}, ["schedule.epochs=3", "schedule.iterations=4"])
    with pytest.raises(ConfigError, match="exactly one"):
        build_config({}, ["schedule.epochs=null"])


def test_lr_min_above_lr_is_refused():
    with pytest.raises(ConfigError, match="optim.lr_min"):
        build_config({}, ["optim.lr_min=1e-2"])


@pytest.mark.parametrize("text", ["optim.lr", "=3", "optim..lr=3"])
def test_malformed_override(text):
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        parse_override(text)


def test_override_values_are_yaml():
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a=3e-4") == (["a"], 3e-4)
    assert parse_override("a=true") == (["a"], True)


def test_setting_below_a_value_is_refused():
    with pytest.raises(ConfigError, match="optim.lr: is a value"):
        build_config({}, ["optim.lr.x=1"])


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read run config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(listy)


def test_round_trip_through_yaml(tmp_path):
    config = build_config({}, ["schedule.iterations=7", "data.train_set=/x/Rain"])
    path = tmp_path / "resolved.yaml"
    path.write_text(to_yaml(config))
    assert load_config(path) == config


def test_every_model_key_is_an_argument_of_its_architecture():
    from hst.models import ARCHS

    assert set(SCHEMA["properties"]["model"]["properties"]) == {"arch", *(k for a in ARCHS.values() for k in a.options)}
    for name, arch in ARCHS.items():
        arguments = set(inspect.signature(arch.model_class.__init__).parameters)
        assert set(arch.options) - {"variant"} <= arguments, name


def test_architectures_by_name_with_their_own_options_and_defaults(tmp_path):
    path = tmp_path / "prenet.yaml"
    path.write_text("model:\n  arch: prenet\n  stages: 3\n")
    assert load_config(path)["model"] == {"arch": "prenet", "stages": 3}  # no HST variant added
    net = __import__("hst.models", fromlist=["build_from_config"]).build_from_config(load_config(path)["model"])
    assert type(net).__name__ == "PReNet" and net.stages == 3
    with pytest.raises(ConfigError, match=r"^model\.variant: not an option of model\.arch prenet \(its options: stages, channels, blocks\)$"):
        load_config(path, ["model.variant=tiny"])
    with pytest.raises(ConfigError, match=r"^model\.stages: not an option of model\.arch hst"):
        load_config(None, ["model.stages=3"])
    with pytest.raises(ConfigError, match=r"^model\.arch: 'unet' is not one of \['hst', 'prenet', 'brn', 'dmphn'\]$"):
        load_config(None, ["model.arch=unet"])
    with pytest.raises(ConfigError, match=r"^model\.stagez: unknown key \(did you mean model\.stages\?\)$"):
        load_config(path, ["model.stagez=3"])


def test_defaults_fit_every_schema_section():
    assert set(SCHEMA["properties"]) == set(DEFAULTS)
    for section, values in DEFAULTS.items():
        if isinstance(values, dict):
            assert set(values) <= set(SCHEMA["properties"][section]["properties"]), section


def test_differences_lists_changed_keys():
    a = build_config({}, ["schedule.iterations=7"])
    b = build_config({}, ["schedule.iterations=8", "threads=2"])
    assert differences(a, b) == ["schedule.iterations", "threads"]
    assert differences(a, b, ignore={"threads"}) == ["schedule.iterations"]
