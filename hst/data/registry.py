"""The dataset registry: ``registry.yaml`` checked against a JSON schema, plus a user's override."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

from hst.errors import ConfigError
from hst.metrics.protocols import PROTOCOL_NAMES
from hst.schema import read_yaml, validate

DEFAULT_PATH = Path(__file__).with_name("registry.yaml")
OVERRIDE_ENV = "HST_REGISTRY_OVERRIDE"
TASKS = ("derain", "deblur")
ARCHIVE_TYPES = ("zip", "tar", "tar.gz", "auto")

SOURCE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["gdrive", "url", "file", "page"]},
        "id": {"type": "string", "minLength": 1},
        "url": {"type": "string", "minLength": 1},
        "path": {"type": "string", "minLength": 1},
        "note": {"type": "string"},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "gdrive"}}}, "then": {"required": ["id"]}},
        {"if": {"properties": {"kind": {"enum": ["url", "page"]}}}, "then": {"required": ["url"]}},
        {"if": {"properties": {"kind": {"const": "file"}}}, "then": {"required": ["path"]}},
    ],
}
_LAYOUT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["dirs", "gopro", "find"]},
        "input": {"type": "string", "minLength": 1},
        "target": {"type": "string", "minLength": 1},
        "root": {"type": "string", "minLength": 1},
    },
    "allOf": [
        {"if": {"properties": {"kind": {"const": "dirs"}}}, "then": {"required": ["input", "target"]}},
        {"if": {"properties": {"kind": {"const": "gopro"}}}, "then": {"required": ["root", "input", "target"]}},
    ],
}
_ARCHIVE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["file", "type", "size", "sha256", "hash_status", "sources"],
    "properties": {
        "file": {"type": "string", "pattern": r"^[^/\\]+$"},
        "type": {"enum": list(ARCHIVE_TYPES)},
        "size": {"type": ["integer", "null"], "minimum": 1},
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "hash_status": {"enum": ["verified", "third-party", "unknown"]},
        "sources": {"type": "array", "items": SOURCE_SCHEMA},
        "note": {"type": "string"},
    },
}
_SET = {
    "type": "object",
    "additionalProperties": False,
    "required": ["task", "split", "pairs", "copies"],
    "properties": {
        "task": {"enum": list(TASKS)},
        "split": {"enum": ["train", "test"]},
        "protocol": {"enum": list(PROTOCOL_NAMES)},
        "label": {"type": "string", "minLength": 1},
        "pairs": {"type": "integer", "minimum": 1},
        "note": {"type": "string"},
        "sources": {"type": "array", "items": SOURCE_SCHEMA},
        "copies": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["archive", "layout"],
                "properties": {"archive": {"type": "string"}, "layout": _LAYOUT},
            },
        },
    },
}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "archives", "sets"],
    "properties": {
        "version": {"const": 1},
        "archives": {"type": "object", "additionalProperties": _ARCHIVE},
        "sets": {"type": "object", "additionalProperties": _SET},
    },
}


def _partial(schema: dict) -> dict:
    """``schema`` with no required keys in a set or archive entry, for an override that changes some fields."""
    schema = copy.deepcopy(schema)
    schema["required"] = []
    for part in ("archives", "sets"):
        schema["properties"][part]["additionalProperties"].pop("required")
    return schema


@dataclass(frozen=True)
class Source:
    """One place an archive can come from."""

    kind: str
    location: str
    note: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> Source:
        return cls(d["kind"], d.get("id") or d.get("url") or d.get("path"), d.get("note", ""))

    @classmethod
    def from_user(cls, text: str) -> Source:
        """A ``--url`` value: an http(s) URL, a file:// URL or a local path."""
        if text.startswith(("http://", "https://")):
            return cls("url", text, "given on the command line")
        return cls("file", text, "given on the command line")

    def __str__(self) -> str:
        return f"{self.kind} {self.location}"


@dataclass(frozen=True)
class Archive:
    """A downloadable file, and what it must be."""

    name: str
    file: str
    type: str
    size: int | None
    sha256: str | None
    hash_status: str
    sources: tuple[Source, ...]
    note: str = ""


@dataclass(frozen=True)
class Copy:
    """One archive a set can be taken from, and how its layout maps to ``input/`` and ``target/``."""

    archive: Archive
    layout: dict


@dataclass(frozen=True)
class DataSet:
    """A registry set: what it is, how many pairs it holds, where it comes from."""

    name: str
    task: str
    split: str
    pairs: int
    copies: tuple[Copy, ...]
    sources: tuple[Source, ...] = ()
    note: str = ""
    protocol: str | None = None  # how a test set is scored
    label: str = ""  # its name in the tables (default: its name)

    @property
    def table_label(self) -> str:
        return self.label or self.name


@dataclass
class Registry:
    """The loaded registry; ``sets`` and ``archives`` are keyed by name."""

    sets: dict[str, DataSet]
    archives: dict[str, Archive]
    files: list[Path] = field(default_factory=list)

    def get(self, name: str) -> DataSet:
        """The set called ``name``, or a ``ConfigError`` listing the known ones."""
        if name not in self.sets:
            raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(self.sets)}")
        return self.sets[name]

    def test_sets(self, task: str) -> list[str]:
        """The test sets of ``task``, in registry order: the columns of its table (Table 3 or 4)."""
        return [s.name for s in self.sets.values() if s.task == task and s.split == "test"]

    def protocols(self) -> dict[str, str]:
        """How each test set is scored: ``{set: protocol}``."""
        return {s.name: s.protocol for s in self.sets.values() if s.split == "test"}

    def sets_of(self, archive: str) -> list[str]:
        """The sets that can be taken from ``archive``."""
        return [s.name for s in self.sets.values() if any(c.archive.name == archive for c in s.copies)]


def _read_yaml(path: Path) -> dict:
    """A registry file as a mapping (:func:`hst.schema.read_yaml`), or a ``ConfigError`` naming it."""
    return read_yaml(path, "registry")


def _merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into ``base`` per set and per archive; its sources go first."""
    merged = copy.deepcopy(base)
    for part in ("archives", "sets"):
        for name, entry in (override.get(part) or {}).items():
            target = merged[part].setdefault(name, {})
            for key, value in entry.items():
                if key in ("sources", "copies"):
                    target[key] = copy.deepcopy(value) + target.get(key, [])
                else:
                    target[key] = copy.deepcopy(value)
    return merged


def _build(data: dict, files: list[Path]) -> Registry:
    """Turn validated registry data into objects, checking that pins and references agree."""
    where = " + ".join(map(str, files))
    for name, a in data["archives"].items():
        pinned = a["size"] is not None or a["sha256"] is not None
        if pinned != (a["hash_status"] != "unknown"):
            raise ConfigError(
                f"{where}: archives.{name}.hash_status: {a['hash_status']!r} does not fit "
                f"{'a pinned' if pinned else 'no pinned'} size/sha256 (use 'unknown' exactly when nothing is pinned)"
            )
    archives = {
        name: Archive(
            name, a["file"], a["type"], a["size"], a["sha256"], a["hash_status"],
            tuple(Source.from_dict(s) for s in a["sources"]), a.get("note", ""),
        )
        for name, a in data["archives"].items()
    }  # fmt: skip
    sets = {}
    for name, s in data["sets"].items():
        copies = []
        for i, c in enumerate(s["copies"]):
            if c["archive"] not in archives:
                raise ConfigError(f"{where}: sets.{name}.copies.{i}.archive: no archive called {c['archive']!r}")
            copies.append(Copy(archives[c["archive"]], dict(c["layout"])))
        if s["split"] == "test" and "protocol" not in s:
            raise ConfigError(f"{where}: sets.{name}.protocol: required for a test set (how it is scored)")
        sets[name] = DataSet(
            name, s["task"], s["split"], s["pairs"], tuple(copies),
            tuple(Source.from_dict(x) for x in s.get("sources", [])), s.get("note", ""),
            s.get("protocol"), s.get("label", ""),
        )  # fmt: skip
    return Registry(sets, archives, files)


def default_registry() -> Registry:
    """The registry as the package ships it (no override): what every set is, for schemas and tables."""
    data = _read_yaml(DEFAULT_PATH)
    validate(data, SCHEMA, str(DEFAULT_PATH))
    return _build(data, [DEFAULT_PATH])


def load_registry(override: str | os.PathLike | None = None, *, path: str | os.PathLike = DEFAULT_PATH) -> Registry:
    """Load the registry, merged with ``override`` (else ``$HST_REGISTRY_OVERRIDE``) when given."""
    path = Path(path)
    data = _read_yaml(path)
    validate(data, SCHEMA, str(path))
    files = [path]
    override = override or os.environ.get(OVERRIDE_ENV) or None
    if override:
        override = Path(override)
        extra = _read_yaml(override)
        validate(extra, _partial(SCHEMA), str(override))
        data = _merge(data, extra)
        validate(data, SCHEMA, str(override))
        files.append(override)
    return _build(data, files)
