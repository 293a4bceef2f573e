"""Checkpoints: the state dict and the model config, written atomically, loaded safely."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from hst.errors import CheckpointError
from hst.fsutil import atomic_write

FORMAT = "hst-checkpoint"
VERSION = 1


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically: a temporary file beside it, then a rename."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, **extra: Any) -> None:
    """Write the model's weights and config (plus ``extra`` entries) atomically to ``path``."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise CheckpointError(f"{type(model).__name__} has no `config` dict; cannot write a checkpoint")
    clash = {"format", "version", "arch", "model_config", "state_dict"} & extra.keys()
    if clash:
        raise ValueError(f"reserved checkpoint keys passed as extras: {sorted(clash)}")
    from hst.models import arch_of

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save(
        {"format": FORMAT, "version": VERSION, "arch": arch_of(model), "model_config": dict(config),
         "state_dict": state, **extra},
        path,
    )


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True``; raise CheckpointError if it is not one of ours. A
    released weight file, or a folder holding a released model of several files, that the weights registry
    pins by SHA-256 reads as a checkpoint built from the registry (``released``: its name)."""
    path = Path(path)
    if path.is_dir():
        released = _released_folder(path)
        if released is None:
            raise CheckpointError(f"{path}: a folder, and not one holding a released model of several files of the "
                                  "weights registry under their published names (`python -m hst weights list`)")
        return released
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle errors, truncated zips, foreign globals
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {first})") from None
    if isinstance(ckpt, dict) and ckpt.get("format") != FORMAT:
        released = _released(path, ckpt)
        if released is not None:
            return released
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an HST checkpoint (missing format tag {FORMAT!r}) and not a released "
                              "weight file of the weights registry (`python -m hst weights list`)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')!r}, this harness reads {VERSION}")
    if not isinstance(ckpt.get("model_config"), dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise CheckpointError(f"{path}: checkpoint lacks model_config or state_dict")
    return ckpt


def _released(path: Path, state: dict[str, Any]) -> dict[str, Any] | None:
    """A released weight file (a bare state dict) that the weights registry knows by its SHA-256, as a
    checkpoint dict of ours (arch and model_config from the registry, ``released``: its name); else None."""
    from hst.data.weights import identify
    from hst.fsutil import sha256_of

    weights = identify(sha256_of(path))
    if weights is None or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None
    return _as_checkpoint(weights, {k.removeprefix(weights.strip_prefix): v for k, v in state.items()})


def _released_folder(path: Path) -> dict[str, Any] | None:
    """A folder holding a released model of several files (each recognised by its SHA-256) as a checkpoint
    dict of ours; else None."""
    from hst.data.weights import identify_folder
    from hst.errors import DataError

    weights = identify_folder(path)
    if weights is None:
        return None
    try:
        return _as_checkpoint(weights, weights.state_dict(path))
    except DataError as exc:
        raise CheckpointError(str(exc)) from None


def _as_checkpoint(weights, state: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "arch": weights.arch, "model_config": dict(weights.config),
            "state_dict": dict(state), "released": weights.name}


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """Rebuild the model from a checkpoint's config and load its weights; return (model, checkpoint)."""
    from hst.errors import ConfigError
    from hst.models import build_arch

    ckpt = load_checkpoint(path, map_location)
    arch = ckpt.get("arch", "hst")  # checkpoints written before architectures had names are HST's
    try:
        model = build_arch(arch, ckpt["model_config"])
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: model config does not fit this {arch} ({exc})") from None
    try:
        missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()[1:2] or [str(exc)]
        raise CheckpointError(f"{path}: weights do not match the model config ({first[0].strip()})") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model config "
            f"(missing {len(missing)} e.g. {missing[:3]}, unexpected {len(unexpected)} e.g. {unexpected[:3]})"
        )
    return model.to(map_location), ckpt
