"""The one YAML reader (YAML 1.2 floats) and the one schema validator, with one-line errors naming the file."""

from __future__ import annotations

import pytest
import yaml

from hst.errors import ConfigError
from hst.schema import parse_yaml, read_yaml, validate, yaml12_scalars


def test_yaml_1_2_floats_are_numbers_where_yaml_1_1_leaves_strings(tmp_path):
    text = "lr: 3e-4\nmin: 1.0e-6\nbig: 1_000.5\nname: e5\nbad: 3e-\ninf: .inf\n"
    assert yaml.safe_load(text)["lr"] == "3e-4"  # the trap: PyYAML (and Snakemake) read YAML 1.1
    (tmp_path / "c.yaml").write_text(text)
    data = read_yaml(tmp_path / "c.yaml")
    assert data == {"lr": 0.0003, "min": 1e-6, "big": 1000.5, "name": "e5", "bad": "3e-", "inf": float("inf")}
    assert yaml12_scalars(yaml.safe_load(text)) == data  # what another loader gave, read as YAML 1.2
    assert yaml12_scalars({"a": ["3e-4", "x", 2], "b": {"c": "1E5"}}) == {"a": [0.0003, "x", 2], "b": {"c": 1e5}}
    assert parse_yaml("3e-4") == 0.0003


@pytest.mark.parametrize("text, error", [
    (None, r"x\.yaml: cannot read study \(No such file"),
    ("a: [1,", r"x\.yaml: not valid YAML at line 1"),
    ("- 1\n- 2\n", r"x\.yaml: a study must be a mapping, got list"),
])
def test_read_yaml_errors_name_the_file(tmp_path, text, error):
    path = tmp_path / "x.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        read_yaml(path, "study")


def test_an_empty_file_is_an_empty_mapping(tmp_path):
    (tmp_path / "e.yaml").write_text("")
    assert read_yaml(tmp_path / "e.yaml") == {}


def test_validate_names_the_key_and_suggests_the_close_one():
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"optim": {"type": "object", "additionalProperties": False,
                                       "properties": {"lr": {"type": "number"}}}}}
    with pytest.raises(ConfigError, match=r"^f\.yaml: optim\.lrr: unknown key \(did you mean optim\.lr\?\)$"):
        validate({"optim": {"lrr": 1}}, schema, "f.yaml")
    with pytest.raises(ConfigError, match=r"^optim\.lr: '3e-4' is not of type 'number'$"):
        validate({"optim": {"lr": "3e-4"}}, schema)
    validate(yaml12_scalars({"optim": {"lr": "3e-4"}}), schema)
