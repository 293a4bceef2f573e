"""Configuration files: the one YAML reader (YAML 1.2 floats) and the one JSON-schema validator, each
with one-line errors that name the file and the offending key path.

Every YAML file the harness reads (run configs, studies, the dataset and weights registries) goes
through :func:`read_yaml`; a study that Snakemake read with its own (YAML 1.1) loader goes through
:func:`yaml12_scalars`, so ``lr: 3e-4`` is the number 0.0003 wherever it is written.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from hst.errors import ConfigError

# YAML 1.2's float: PyYAML (YAML 1.1) reads ``3e-4`` (no dot) as the string '3e-4'.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 safe loading, but ``3e-4`` (no dot) is a float, as in YAML 1.2 and Python."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def parse_yaml(text: str) -> Any:
    """One YAML document or scalar (``--set`` values too), with YAML 1.2 floats."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def read_yaml(path: str | os.PathLike, what: str = "config") -> dict[str, Any]:
    """A YAML file whose top level is a mapping (empty file: ``{}``); ConfigError naming the file otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} must be a mapping, got {type(data).__name__}")
    return data


def yaml12_scalars(data: Any) -> Any:
    """``data`` (as a YAML 1.1 loader, e.g. Snakemake's, returned it) with every plain string that YAML 1.2
    reads as a float turned into that float, so a study means the same whoever parsed it."""
    if isinstance(data, dict):
        return {k: yaml12_scalars(v) for k, v in data.items()}
    if isinstance(data, list):
        return [yaml12_scalars(v) for v in data]
    if isinstance(data, str) and _FLOAT.match(data):
        return parse_yaml(data)
    return data


def dotted(path: Iterable[Any]) -> str:
    """``["a", "b", 0]`` -> ``"a.b.0"``."""
    return ".".join(str(p) for p in path)


def _node(schema: dict[str, Any], path: list[str]) -> dict[str, Any]:
    node = schema
    for key in path:
        props = node.get("properties", {})
        node = props.get(key) or node.get("additionalProperties") or {}
        if not isinstance(node, dict):
            return {}
    return node


def _describe(schema: dict[str, Any]) -> str:
    parts = []
    for option in schema.get("oneOf", []):
        if option.get("type") == "null":
            parts.append("null")
        elif option.get("type") == "integer":
            parts.append(f"an integer >= {option.get('minimum', '-inf')}")
        else:
            parts.append(str(option))
    return " or ".join(parts)


def format_error(error: jsonschema.ValidationError, schema: dict[str, Any]) -> str:
    """One line: the dotted key path and what is wrong with it (with a 'did you mean' for typos)."""
    path = list(error.absolute_path)
    where = dotted(path) or "config"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(_node(schema, [str(p) for p in path]).get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        key = unknown[0]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" (did you mean {dotted([*path, close[0]])}?)" if close else f" (valid keys: {', '.join(known)})"
        return f"{dotted([*path, key])}: unknown key{hint}"
    if error.validator == "oneOf":
        return f"{where}: {error.instance!r} is not valid (expected {_describe(error.schema)})"
    return f"{where}: {error.message}"


def validate(instance: Any, schema: dict[str, Any], source: str = "") -> None:
    """Raise ConfigError (one line naming the key path, prefixed by ``source``) unless ``instance`` fits."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(instance),
        key=lambda e: (e.validator != "additionalProperties", list(map(str, e.absolute_path))),
    )
    if errors:
        prefix = f"{source}: " if source else ""
        raise ConfigError(prefix + format_error(errors[0], schema))
