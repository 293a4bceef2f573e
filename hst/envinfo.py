"""What a result was computed with: package versions, the device, and the git commit of the harness."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hst.version import __version__

if TYPE_CHECKING:  # torch is imported where a device is asked about: the tables read a commit without it
    import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU raises ConfigError."""
    import torch

    from hst.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device: unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


def git_commit(root: str | os.PathLike = REPO_ROOT) -> dict[str, Any]:
    """The harness's git commit and whether tracked files differ from it; None values outside a checkout."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device: torch.device) -> dict[str, Any]:
    """The device a computation ran on, in words, with the CPU thread count."""
    import torch

    info: dict[str, Any] = {"type": device.type, "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def versions() -> dict[str, str | None]:
    """Versions of Python, the harness and the libraries that affect its numbers (None if not installed)."""
    import torch

    out = {"python": sys.version.split()[0], "platform": platform.platform(), "hst": __version__, "torch": str(torch.__version__)}
    for dist in ("numpy", "pillow", "scikit-image", "scipy", "opencv-python-headless"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def environment(device: torch.device) -> dict[str, Any]:
    """Everything above in one JSON-able dict, with the time it was taken (UTC, ISO 8601)."""
    return {
        "time_utc": now_utc(),
        "versions": versions(),
        "device": device_info(device),
        "git": git_commit(),
    }


def now_utc() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
