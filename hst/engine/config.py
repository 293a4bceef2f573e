"""Run configs: the paper's training recipe as defaults, YAML files, ``--set`` overrides and a strict schema.

A run config is a nested dict. :data:`DEFAULTS` is the recipe of Sec. 4.1 (AdamW, betas
(0.9, 0.999), weight decay 0.02, lr 3e-4 with cosine decay, batch 32, 128 x 128 crops,
250 epochs); values the paper leaves open (lr_min, the loss, augmentation) are our choice and
named so in the schema's descriptions. :func:`load_config` merges a YAML file and ``a.b=value``
overrides onto the defaults and validates the result against :data:`SCHEMA`, whose objects all
have ``additionalProperties: false``, so a misspelt key is an error naming its path.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Iterable

import yaml

from hst.errors import ConfigError
from hst.models import EVAL_POLICIES
from hst.schema import dotted as _dotted
from hst.schema import parse_yaml
from hst.schema import read_yaml as _read_yaml
from hst.schema import validate as check_schema

# How a restoration samples (hst.engine.restorer.Restorer): a stochastic sampler's policy at inference, or
# "ensemble", the mean of several seeded draws. Here, apart from the restorer, so the study reads it without torch.
SAMPLING_POLICIES = (*EVAL_POLICIES, "ensemble")

DEFAULTS: dict[str, Any] = {
    "model": {"arch": "hst"},  # and the architecture's defaults (hst.models.ARCHS): variant tiny for HST
    "data": {
        "train_set": None,
        "cache_dir": None,
        "patch_size": 128,
        "patches_per_image": 1,
        "augment": True,
        "workers": 0,
    },
    "optim": {
        "lr": 3e-4,
        "lr_min": 1e-6,
        "betas": [0.9, 0.999],
        "weight_decay": 0.02,
        "batch_size": 32,
        "warmup_iterations": 0,
        "grad_clip": None,
        "decay": "cosine",
        "milestones": [0.3, 0.5, 0.8],
        "gamma": 0.2,
    },
    "schedule": {"epochs": 250, "iterations": None, "log_every": 100, "checkpoint_every": 1000},
    "loss": {"name": "l1", "eps": 1e-3},
    "seed": 0,
    "device": "auto",
    "threads": None,
    "compile": "auto",
}

_POS_INT = {"type": "integer", "minimum": 1}
_FOUR_POS_INTS = {"type": "array", "items": _POS_INT, "minItems": 4, "maxItems": 4}


def _obj(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _model_schema() -> dict[str, Any]:
    """``model``: ``arch`` and every registered architecture's options (types checked here; which options
    an architecture takes, by :func:`validate`)."""
    from hst.models import ARCHS

    props: dict[str, Any] = {"arch": {"enum": list(ARCHS), "description": "the architecture (hst.models.ARCHS)"}}
    for arch in ARCHS.values():
        for key, option in arch.options.items():
            if props.setdefault(key, option) != option:
                raise AssertionError(f"model.{key}: two architectures give it different schemas")
    return _obj(props, required=["arch"])


SCHEMA: dict[str, Any] = _obj(
    {
        "model": _model_schema(),
        "data": _obj(
            {
                "train_set": {"type": ["string", "null"], "description": "a normalised set folder with input/ and target/"},
                "cache_dir": {"type": ["string", "null"], "description": "patch cache; null = <root>/_cache/<SET>, where `hst data prepare` puts it"},
                "patch_size": {"type": "integer", "minimum": 8},
                "patches_per_image": _POS_INT,
                "augment": {"type": "boolean", "description": "flips and 90-degree rotations (our choice)"},
                "workers": {"type": "integer", "minimum": 0},
            },
            required=["train_set", "cache_dir", "patch_size", "patches_per_image", "augment", "workers"],
        ),
        "optim": _obj(
            {
                "lr": {"type": "number", "exclusiveMinimum": 0},
                "lr_min": {"type": "number", "minimum": 0, "description": "end of the cosine decay (our choice)"},
                "betas": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                    "minItems": 2,
                    "maxItems": 2,
                },
                "weight_decay": {"type": "number", "minimum": 0},
                "batch_size": _POS_INT,
                "warmup_iterations": {"type": "integer", "minimum": 0,
                                      "description": "linear warm-up from lr/warmup to lr before the cosine decay (our choice; paper: none stated)"},
                "grad_clip": {"type": ["number", "null"], "exclusiveMinimum": 0,
                              "description": "clip the gradients' global L2 norm to this (our choice; null: no clipping)"},
                "decay": {"enum": ["cosine", "step"],
                          "description": "cosine: to lr_min over the run (the paper's); step: times gamma at each "
                                         "milestone (PReNet's MultiStepLR)"},
                "milestones": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                               "uniqueItems": True,
                               "description": "decay: step: where lr is multiplied by gamma, as fractions of the run "
                                              "(PReNet: epochs 30, 50, 80 of 100)"},
                "gamma": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            },
            required=["lr", "lr_min", "betas", "weight_decay", "batch_size", "warmup_iterations", "grad_clip",
                      "decay", "milestones", "gamma"],
        ),
        "schedule": _obj(
            {
                "epochs": {"oneOf": [_POS_INT, {"type": "null"}]},
                "iterations": {"oneOf": [_POS_INT, {"type": "null"}]},
                "log_every": _POS_INT,
                "checkpoint_every": _POS_INT,
            },
            required=["epochs", "iterations", "log_every", "checkpoint_every"],
        ),
        "loss": _obj(
            {
                "name": {"enum": ["l1", "charbonnier", "mse", "neg_ssim"],
                         "description": "L1 is our choice for HST (the paper is silent); neg_ssim: -SSIM (Gaussian "
                                        "window 11, sigma 1.5), PReNet's; mse: the one its README says works too"},
                "eps": {"type": "number", "exclusiveMinimum": 0, "description": "Charbonnier's epsilon"},
            },
            required=["name", "eps"],
        ),
        "seed": {"type": "integer", "minimum": 0},
        "device": {"enum": ["auto", "cpu", "cuda"]},
        "threads": {"oneOf": [_POS_INT, {"type": "null"}], "description": "torch CPU threads; null = torch's default"},
        "compile": {"enum": ["auto", True, False],
                    "description": "torch.compile the training step; auto = on CUDA only (on the CPU it did not pay)"},
    },
    required=list(DEFAULTS),
)

# Keys whose change does not change the trained weights; a resumed run may differ in these.
OPERATIONAL_KEYS = frozenset(
    {"schedule.log_every", "schedule.checkpoint_every", "data.workers", "data.cache_dir", "threads", "device", "compile"}
)


def validate(config: dict[str, Any]) -> None:
    """Raise ConfigError (one line, naming the key path) unless ``config`` fits :data:`SCHEMA`."""
    from hst.models import ARCHS

    check_schema(config, SCHEMA)
    arch = ARCHS[config["model"]["arch"]]
    for key in config["model"]:
        if key != "arch" and key not in arch.options:
            raise ConfigError(f"model.{key}: not an option of model.arch {config['model']['arch']} "
                              f"(its options: {', '.join(arch.options) or 'none'})")
    schedule = config["schedule"]
    if (schedule["epochs"] is None) == (schedule["iterations"] is None):
        raise ConfigError("schedule: set exactly one of schedule.epochs and schedule.iterations (the other null)")
    if config["optim"]["lr_min"] > config["optim"]["lr"]:
        raise ConfigError(f"optim.lr_min: {config['optim']['lr_min']} is above optim.lr ({config['optim']['lr']})")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into (["a", "b"], value), the value parsed as YAML (numbers, lists, null, true)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. optim.lr=1e-4")
    try:
        value = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: cannot parse value {raw!r} ({exc.__class__.__name__})") from None
    return key.split("."), value


def _set_path(config: dict[str, Any], path: list[str], value: Any) -> None:
    node = config
    for i, key in enumerate(path[:-1]):
        child = node.get(key)
        if key not in node:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{_dotted(path[: i + 1])}: is a value, not a section; cannot set {_dotted(path)}")
        node = child
    node[path[-1]] = value


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML run config (:func:`hst.schema.read_yaml`); ConfigError naming the file otherwise."""
    return _read_yaml(path, "run config")


def build_config(user: dict[str, Any] | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Defaults, then ``user`` (a parsed YAML dict), then ``a.b=value`` overrides; validated.

    Setting one of ``schedule.epochs`` / ``schedule.iterations`` (and not the other) turns the
    other's default off, so ``iterations: 5000`` alone means an iteration-based schedule.
    """
    user = copy.deepcopy(user or {})
    parsed = [parse_override(text) for text in overrides]
    given = set(user["schedule"]) if isinstance(user.get("schedule"), dict) else set()
    given |= {path[1] for path, _ in parsed if len(path) == 2 and path[0] == "schedule"}
    config = _merge(DEFAULTS, user)
    if isinstance(config.get("schedule"), dict):
        if "iterations" in given and "epochs" not in given:
            config["schedule"]["epochs"] = None
        elif "epochs" in given and "iterations" not in given:
            config["schedule"]["iterations"] = None
    for path, value in parsed:
        _set_path(config, path, value)
    from hst.models import ARCHS

    model = config.get("model")
    if isinstance(model, dict) and model.get("arch") in ARCHS:  # the architecture's defaults under its options
        config["model"] = {"arch": model["arch"], **ARCHS[model["arch"]].defaults,
                           **{k: v for k, v in model.items() if k != "arch"}}
    validate(config)
    return config


def load_config(path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """The validated run config from a YAML file (or the defaults if ``path`` is None) and overrides."""
    return build_config(read_yaml(path) if path is not None else {}, overrides)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def differences(old: dict[str, Any], new: dict[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values differ between two configs, skipping ``ignore``."""
    a, b = flatten(old), flatten(new)
    skip = set(ignore)
    return sorted(k for k in a.keys() | b.keys() if k not in skip and a.get(k, "<absent>") != b.get(k, "<absent>"))


class _Dumper(yaml.SafeDumper):
    """Block-style sections, flow-style lists."""


_Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def to_yaml(config: dict[str, Any]) -> str:
    """The config as YAML, sections in the order of :data:`DEFAULTS`."""
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
