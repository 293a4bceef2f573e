"""``<root>/registry.lock.json``: the sha256 first seen for each archive that the registry does not pin."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hst.fsutil import atomic_write_text
from hst.errors import ConfigError

LOCK_NAME = "registry.lock.json"


class LockFile:
    """Observed sizes and hashes of unpinned archives, keyed by archive name."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _load(self) -> dict:
        """The lock's ``archives`` mapping ({} when there is no lock yet)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.path}: not a valid lock file ({exc}); delete it to record anew") from None
        if not isinstance(data, dict) or not isinstance(data.get("archives"), dict):
            raise ConfigError(f"{self.path}: not a valid lock file (no 'archives' mapping); delete it to record anew")
        return data["archives"]

    def get(self, archive: str) -> dict | None:
        """The recorded ``{"file", "size", "sha256", "source"}`` of ``archive``, if any."""
        return self._load().get(archive)

    def record(self, archive: str, *, file: str, size: int, sha256: str, source: str) -> None:
        """Record what ``archive`` turned out to be, rewriting the lock atomically."""
        entries = self._load()
        entries[archive] = {"file": file, "size": size, "sha256": sha256, "source": source}
        text = json.dumps({"version": 1, "archives": dict(sorted(entries.items()))}, indent=2) + "\n"
        atomic_write_text(self.path, text)
