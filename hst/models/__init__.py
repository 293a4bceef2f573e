"""The HST model (paper Sec. 3): variants, construction, and the sampling policy at inference."""

from __future__ import annotations

import inspect

import torch

from hst.errors import ConfigError
from hst.models.gdfn import GDFN
from hst.models.global_sparse_attention import GlobalSparseAttention
from hst.models.hst import HST
from hst.models.lgl_block import LGLBlock
from hst.models.local_aggregation import LocalAggregation
from hst.models.local_propagation import LocalPropagation
from hst.models.prenet import PReNet
from hst.models.sampler import (
    EVAL_POLICIES,
    SAMPLERS,
    AvgSampler,
    GridSampler,
    MaxSampler,
    StochasticSampler,
    build_sampler,
)

# Table 1: HST-tiny is one LGL block per level; HST-double two at every level (encoder, bottom, decoder).
VARIANTS: dict[str, dict] = {
    "tiny": {"num_blocks": [1, 1, 1, 1]},
    "double": {"num_blocks": [2, 2, 2, 2]},
}


# Architectures by name: what a checkpoint's "arch" says (checkpoints without one are HST's).
ARCHS: dict[str, type[torch.nn.Module]] = {"hst": HST, "prenet": PReNet}


def arch_of(model: torch.nn.Module) -> str:
    """The registry name of ``model``'s architecture."""
    name = next((n for n, cls in ARCHS.items() if type(model) is cls), None)
    if name is None:
        raise ConfigError(f"{type(model).__name__} is not a registered architecture ({', '.join(ARCHS)})")
    return name


def build_arch(arch: str, config: dict) -> torch.nn.Module:
    """Build architecture ``arch`` from its options (a checkpoint's model_config), one-line errors."""
    if arch not in ARCHS:
        raise ConfigError(f"model.arch: unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    cls = ARCHS[arch]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigError(f"model.{unknown[0]}: unknown {arch} option; valid options are {', '.join(sorted(allowed))}")
    try:
        return cls(**config)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None


def build_model(variant: str = "tiny", **overrides) -> HST:
    """HST-tiny or HST-double (Table 1), with any constructor argument overridden (e.g. sampler, ratios)."""
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
    generator = torch.Generator().manual_seed(int(seed))
    for module in model.modules():
        if type(module) is StochasticSampler:
            module.eval_policy = policy
            module.generator = generator
    return model


def shard_sampling(model: torch.nn.Module, rank: int, world: int) -> torch.nn.Module:
    """Data-parallel training: training draws of process ``rank`` of ``world`` (each with an equal slice
    of the global batch) are its rows of the draws of the whole batch, so N processes draw as one does."""
    for module in model.modules():
        if isinstance(module, StochasticSampler):
            module.rank, module.world = int(rank), int(world)
    return model


__all__ = [
    "ARCHS", "PReNet", "arch_of", "build_arch",
    "HST", "LGLBlock", "LocalAggregation", "GlobalSparseAttention", "LocalPropagation", "GDFN",
    "StochasticSampler", "MaxSampler", "AvgSampler", "GridSampler", "build_sampler",
    "VARIANTS", "SAMPLERS", "EVAL_POLICIES", "build_model", "set_sampling", "shard_sampling",
]
