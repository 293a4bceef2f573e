"""JSON-schema validation with one-line errors that name the offending key path."""

from __future__ import annotations

import difflib
from typing import Any, Iterable

import jsonschema

from hst.errors import ConfigError


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
