"""The architectures and their registry: HST (paper Sec. 3) with its variants and sampling policy at
inference, and the baselines; :data:`ARCHS` names each one for run configs, checkpoints and tables.

A new architecture is one module plus one :class:`Arch` entry: in :data:`ARCHS` for the harness's own,
or, for a user's model outside the package, a module named in ``$HST_PLUGINS`` (comma-separated
importable modules, imported when this package is) that calls :func:`register`.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from hst.errors import ConfigError

if TYPE_CHECKING:
    import torch

# This module is the registry: it imports no network module and not torch, so the study and the tables
# (which need names, labels and option schemas only) start without it. An architecture's class is named
# by its import path in its ARCHS entry and imported when a model is built; the classes are attributes of
# this package all the same (``from hst.models import HST`` imports hst.models.hst then): the registered
# architectures' from their entries, the building blocks and samplers from here.
_LAZY = {
    "LGLBlock": "hst.models.lgl_block", "LocalAggregation": "hst.models.local_aggregation",
    "GlobalSparseAttention": "hst.models.global_sparse_attention", "LocalPropagation": "hst.models.local_propagation",
    "GDFN": "hst.models.gdfn", "StochasticSampler": "hst.models.sampler", "MaxSampler": "hst.models.sampler",
    "AvgSampler": "hst.models.sampler", "GridSampler": "hst.models.sampler", "build_sampler": "hst.models.sampler",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    for arch in ARCHS.values():
        if isinstance(arch.cls, str) and arch.cls.partition(":")[2] == name:
            return arch.model_class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The samplers of global sparse attention by name (hst.models.sampler pairs its classes with them, in this
# order): the paper's stochastic one (Sec. 3.4) first, the pooling of its ablation (Table 6), our grid.
SAMPLERS = ("stochastic", "max", "avg", "grid")
# How a stochastic sampler draws at inference (set_sampling).
EVAL_POLICIES = ("seeded", "grid")
# DMPHN's options (hst.models.dmphn reads them): patches per level, and the number of levels; stacked DMPHNs.
DMPHN_LEVELS = {"1-2-4": 3, "1-2-4-8": 4}
DMPHN_MAX_STACKS = 4

# Table 1: HST-tiny is one LGL block per level; HST-double two at every level (encoder, bottom, decoder).
VARIANTS: dict[str, dict] = {
    "tiny": {"num_blocks": [1, 1, 1, 1]},
    "double": {"num_blocks": [2, 2, 2, 2]},
}
DEFAULT_VARIANT = "tiny"  # HST's configuration unless a run names another; SAMPLERS[0] is the paper's sampler


_POS_INT = {"type": "integer", "minimum": 1}
_FOUR_POS_INTS = {"type": "array", "items": _POS_INT, "minItems": 4, "maxItems": 4}
# One schema per option name across architectures (the run config's model section holds them all).
_STAGES = {**_POS_INT, "description": "recurrent stages T (PReNet's paper: 6; BRN's releases: 4 and 8)"}


@dataclass(frozen=True)
class Arch:
    """A registered architecture: its class (or its import path, ``"package.module:Class"``, imported when a
    model is built), the run config's ``model.*`` options it takes (a JSON schema per option), their
    defaults, how a table names one configuration of it, the configurations Table 1 lists, and Table 1's
    settings columns of a built model. ``build`` (default: the class) makes a model from its options.
    ``output_rounding`` is how the architecture's own release saved an output as uint8 where that was not
    rounding (``"truncate"``); its restorations follow it unless the scoring protocol has a rule of its own."""

    cls: type | str
    options: dict[str, dict]
    defaults: dict[str, Any]
    label: Callable[[dict[str, Any]], str]
    build: Callable[..., Any] | None = None
    table1: tuple[dict[str, Any], ...] = ({},)
    settings: Callable[[dict[str, Any]], dict[str, str]] = lambda config: {}
    output_rounding: str | None = None

    @property
    def model_class(self) -> type:
        if isinstance(self.cls, str):
            module, _, name = self.cls.partition(":")
            return getattr(importlib.import_module(module), name)
        return self.cls

    def new(self, **options: Any) -> "torch.nn.Module":
        return (self.build or self.model_class)(**options)


def _hst_label(options: dict[str, Any]) -> str:
    sampler = options.get("sampler", SAMPLERS[0])
    return f"HST-{options.get('variant', DEFAULT_VARIANT)}" + ("" if sampler == SAMPLERS[0] else f" ({sampler} sampler)")


def _hst_settings(cfg: dict[str, Any]) -> dict[str, str]:
    return {"blocks": "/".join(map(str, cfg["num_blocks"])), "channels": "/".join(str(cfg["dim"] * 2**i) for i in range(4)),
            "heads": "/".join(map(str, cfg["heads"])), "ratios": "/".join(map(str, cfg["ratios"])), "sampler": cfg["sampler"]}


def _prenet_settings(cfg: dict[str, Any]) -> dict[str, str]:
    return {"blocks": f"{cfg['stages']} stages x {cfg['blocks']} res. blocks (shared)", "channels": str(cfg["channels"]),
            "heads": "", "ratios": "", "sampler": ""}


def _brn_label(options: dict[str, Any]) -> str:
    stages = options.get("stages", 4)
    return "BRN" if stages == 4 else f"BRN ({stages} stages)"


def _brn_settings(cfg: dict[str, Any]) -> dict[str, str]:
    return {"blocks": f"{cfg['stages']} stages x (3 + 5) res. blocks (shared)", "channels": "32",
            "heads": "", "ratios": "", "sampler": ""}


def _dmphn_label(options: dict[str, Any]) -> str:
    levels, stacks = options.get("levels", "1-2-4"), options.get("stacks", 1)
    if stacks == 1:
        return f"DMPHN({levels})"
    return f"Stack({stacks})-DMPHN" + ("" if levels == "1-2-4" else f"({levels})")


def _dmphn_settings(cfg: dict[str, Any]) -> dict[str, str]:
    return {"blocks": f"{cfg['stacks']} stack(s) x levels {cfg['levels']} (an encoder-decoder per level)",
            "channels": "32/64/128", "heads": "", "ratios": "", "sampler": ""}


# Architectures by name (BasicSR's ARCH_REGISTRY, as a dict): what ``model.arch`` in a run config and a
# checkpoint's "arch" say (checkpoints written before architectures had names are HST's).
ARCHS: dict[str, Arch] = {
    "hst": Arch(
        "hst.models.hst:HST",
        options={
            "variant": {"enum": list(VARIANTS), "description": "Table 1: one or two LGL blocks per level"},
            # Optional overrides of hst.models.hst.HST's constructor; absent = the variant's value.
            "dim": _POS_INT,
            "num_blocks": _FOUR_POS_INTS,
            "heads": _FOUR_POS_INTS,
            "ratios": {**_FOUR_POS_INTS, "description": "sampling ratio r per level (our choice: [4, 2, 2, 1])"},
            "sampler": {"enum": list(SAMPLERS), "description": "Table 6 ablation"},
            "ffn_expansion": {"type": "number", "exclusiveMinimum": 0},
            "bias": {"type": "boolean"},
            "pad_mode": {"enum": ["reflect", "replicate", "constant"]},
            "zero_head": {"type": "boolean", "description": "zero-initialise the output conv, so training starts from "
                                                           "I' = I (our choice; default false)"},
        },
        defaults={"variant": DEFAULT_VARIANT},
        build=lambda variant=DEFAULT_VARIANT, **options: build_model(variant, **options),
        label=_hst_label,
        table1=tuple({"variant": v} for v in VARIANTS),
        settings=_hst_settings,
    ),
    "prenet": Arch(
        "hst.models.prenet:PReNet",
        options={"stages": _STAGES,
                 "channels": {**_POS_INT, "description": "feature channels (paper: 32)"},
                 "blocks": {**_POS_INT, "description": "residual blocks per stage (paper: 5)"}},
        defaults={},
        label=lambda options: "PReNet",
        settings=_prenet_settings,
    ),
    "brn": Arch(
        "hst.models.brn:BRN",
        options={"stages": _STAGES},
        defaults={},
        label=_brn_label,
        settings=_brn_settings,
    ),
    "dmphn": Arch(
        "hst.models.dmphn:DMPHN",
        options={"levels": {"enum": list(DMPHN_LEVELS), "description": "patches per level (the paper's DMPHN: 1-2-4)"},
                 "stacks": {"type": "integer", "minimum": 1, "maximum": DMPHN_MAX_STACKS,
                            "description": "stacked DMPHNs (Table 4's Stack(4)-DMPHN: 4)"}},
        defaults={},
        label=_dmphn_label,
        table1=({"levels": "1-2-4", "stacks": 1}, {"levels": "1-2-4", "stacks": 4}),
        settings=_dmphn_settings,
        # The authors' test scripts saved with torchvision's save_image of the time: mul(255).clamp(0, 255).byte().
        output_rounding="truncate",
    ),
}


PLUGINS_ENV = "HST_PLUGINS"


def register(name: str, arch: Arch) -> None:
    """Add an architecture to :data:`ARCHS` (a plugin's module calls this when it is imported)."""
    if name in ARCHS and ARCHS[name] != arch:
        raise ConfigError(f"{PLUGINS_ENV}: architecture {name!r} is registered twice")
    ARCHS[name] = arch


def _load_plugins() -> None:
    """Import the modules named in ``$HST_PLUGINS``; a one-line ConfigError for one that does not import."""
    for module in (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",")):
        if module:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ConfigError(f"{PLUGINS_ENV}: cannot import {module!r} ({exc})") from None


def arch_of(model: torch.nn.Module) -> str:
    """The registry name of ``model``'s architecture."""
    name = next((n for n, a in ARCHS.items() if type(model) is a.model_class), None)
    if name is None:
        raise ConfigError(f"{type(model).__name__} is not a registered architecture ({', '.join(ARCHS)})")
    return name


def build_arch(arch: str, config: dict) -> torch.nn.Module:
    """Build architecture ``arch`` from its constructor options (a checkpoint's model_config), one-line errors."""
    if arch not in ARCHS:
        raise ConfigError(f"model.arch: unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    cls = ARCHS[arch].model_class
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigError(f"model.{unknown[0]}: unknown {arch} option; valid options are {', '.join(sorted(allowed))}")
    try:
        return cls(**config)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None


def model_options(model: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(arch, options) of a run config's ``model`` section (no ``arch``: HST)."""
    options = dict(model)
    return options.pop("arch", "hst"), options


def build_from_config(model: dict[str, Any]) -> torch.nn.Module:
    """The network a run config's ``model`` section describes (``arch`` and that architecture's options)."""
    arch, options = model_options(model)
    if arch not in ARCHS:
        raise ConfigError(f"model.arch: unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[arch].new(**options)


def model_label(model: dict[str, Any]) -> str:
    """How tables name the model a run config's ``model`` section describes: 'HST-tiny', 'PReNet'."""
    arch, options = model_options(model)
    return ARCHS[arch].label(options)


def build_model(variant: str = DEFAULT_VARIANT, **overrides) -> Any:
    """HST-tiny or HST-double (Table 1), with any constructor argument overridden (e.g. sampler, ratios)."""
    from hst.models.hst import HST

    if variant not in VARIANTS:
        raise ConfigError(f"model.variant: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    allowed = set(inspect.signature(HST.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ConfigError(f"model.{unknown[0]}: unknown model option; valid options are {', '.join(sorted(allowed))}")
    try:
        return HST(**{**VARIANTS[variant], **overrides})
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None


def set_sampling(model: torch.nn.Module, policy: str = "seeded", seed: int = 0) -> torch.nn.Module:
    """Fix how stochastic samplers draw at inference: 'seeded' (a generator re-seeded with ``seed``,
    shared by all samplers of the model) or 'grid' (top-left element of each region)."""
    if policy not in EVAL_POLICIES:
        raise ConfigError(f"sampling: unknown policy {policy!r}; choose one of {', '.join(EVAL_POLICIES)}")
    import torch

    from hst.models.sampler import StochasticSampler

    generator = torch.Generator().manual_seed(int(seed))
    for module in model.modules():
        if type(module) is StochasticSampler:
            module.eval_policy = policy
            module.generator = generator
    return model


def shard_sampling(model: torch.nn.Module, rank: int, world: int) -> torch.nn.Module:
    """Data-parallel training: training draws of process ``rank`` of ``world`` (each with an equal slice
    of the global batch) are its rows of the draws of the whole batch, so N processes draw as one does."""
    from hst.models.sampler import StochasticSampler

    for module in model.modules():
        if isinstance(module, StochasticSampler):
            module.rank, module.world = int(rank), int(world)
    return model


_load_plugins()

__all__ = [
    "ARCHS", "Arch", "register", "PLUGINS_ENV", "PReNet", "BRN", "DMPHN", "arch_of", "build_arch", "build_from_config", "model_label", "model_options",
    "HST", "LGLBlock", "LocalAggregation", "GlobalSparseAttention", "LocalPropagation", "GDFN",
    "StochasticSampler", "MaxSampler", "AvgSampler", "GridSampler", "build_sampler",
    "VARIANTS", "DEFAULT_VARIANT", "SAMPLERS", "EVAL_POLICIES", "DMPHN_LEVELS", "DMPHN_MAX_STACKS", "build_model",
    "set_sampling", "shard_sampling",
]
