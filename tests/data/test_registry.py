"""The registry file: schema check, clear errors for bad keys, overrides merged per set with their sources first."""

from __future__ import annotations

import pytest
import yaml

from hst.data.registry import DEFAULT_PATH, OVERRIDE_ENV, Source, load_registry
from hst.errors import ConfigError

# The paper's sets (Sec. 4.1, Table 2), in the order of its tables.
PAPER_SETS = ("Rain13K", "RainTrainH", "Test100", "Rain100H", "Rain100L", "Test2800", "Test1200",
              "GoPro-train", "GoPro-test", "HIDE", "RealBlur-R", "RealBlur-J")


def test_registry_holds_every_contract_set():
    registry = load_registry()
    assert tuple(registry.sets) == PAPER_SETS
    # Each test set's protocol and its table's column order (Tables 3 and 4) live here and nowhere else.
    assert registry.test_sets("derain") == ["Test100", "Rain100H", "Rain100L", "Test2800", "Test1200"]
    assert registry.test_sets("deblur") == ["GoPro-test", "HIDE", "RealBlur-R", "RealBlur-J"]
    assert registry.protocols() == {**dict.fromkeys(registry.test_sets("derain"), "derain"), "GoPro-test": "gopro",
                                    "HIDE": "gopro", "RealBlur-R": "realblur", "RealBlur-J": "realblur"}
    assert registry.sets["GoPro-test"].table_label == "GoPro" and registry.sets["HIDE"].table_label == "HIDE"
    counts = {name: s.pairs for name, s in registry.sets.items()}
    assert counts == {
        "Rain13K": 13711, "RainTrainH": 1800, "Test100": 98, "Rain100H": 100, "Rain100L": 100,
        "Test2800": 2800, "Test1200": 1200, "GoPro-train": 2103, "GoPro-test": 1111, "HIDE": 2025,
        "RealBlur-R": 980, "RealBlur-J": 980,
    }  # fmt: skip
    # the five deraining test sets share one archive object (downloaded once)
    archives = {registry.sets[s].copies[0].archive.name for s in ("Test100", "Rain100H", "Rain100L", "Test2800", "Test1200")}
    assert archives == {"restormer-derain-test"}
    assert registry.sets_of("gopro-official") == ["GoPro-train", "GoPro-test"]


def test_raintrainh_has_no_source_and_says_so():
    dataset = load_registry().get("RainTrainH")
    archive = dataset.copies[0].archive
    assert archive.sources == () and dataset.sources == ()
    assert "no source" in archive.note and "nothing is derived" in dataset.note


def test_third_party_pins_are_marked():
    archive = load_registry().get("Rain13K").copies[0].archive
    assert archive.hash_status == "third-party" and archive.size == 1_163_440_376
    assert archive.sources[0] == Source("gdrive", "14BidJeG4nSNuFNFDf99K-7eErCq4i47t", "Restormer / MPRNet copy")


def write(tmp_path, data, name="r.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def base():
    return yaml.safe_load(DEFAULT_PATH.read_text())


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["sets"]["Rain100H"].update(pair=3), r"sets\.Rain100H\.pair: unknown key \(did you mean sets\.Rain100H\.pairs\?\)"),
        (lambda d: d["sets"]["Rain100H"].update(pairs="many"), r"sets\.Rain100H\.pairs: 'many' is not of type 'integer'"),
        (lambda d: d["archives"]["raintrainh"].update(type="rar"), r"archives\.raintrainh\.type: 'rar' is not one of"),
        (lambda d: d["archives"]["raintrainh"]["sources"].append({"kind": "gdrive"}), r"'id' is a required property"),
        (lambda d: d["sets"]["HIDE"]["copies"][0].update(archive="nope"), r"sets\.HIDE\.copies\.0\.archive: no archive called 'nope'"),
        (lambda d: d["archives"]["raintrainh"].update(sha256="ab" * 32), r"archives\.raintrainh\.hash_status: 'unknown'"),
    ],
    ids=["unknown-key", "wrong-type", "bad-enum", "source-without-id", "dangling-archive", "pin-vs-status"],
)
def test_bad_registry_names_file_and_key(tmp_path, mutate, expected):
    data = base()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match=expected) as err:
        load_registry(path=path)
    assert str(err.value).startswith(str(path))


def test_not_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registry(path=write(tmp_path, "sets: [unclosed"))
    with pytest.raises(ConfigError, match="cannot read registry"):
        load_registry(tmp_path / "absent.yaml")


def test_override_merges_per_set_and_puts_sources_first(tmp_path, monkeypatch):
    override = write(tmp_path, {
        "archives": {"restormer-derain-test": {"sources": [{"kind": "file", "path": "/cluster/test.zip"}]}},
        "sets": {"Rain100H": {"pairs": 7, "sources": [{"kind": "url", "url": "http://mirror/test.zip"}]}},
    }, "override.yaml")  # fmt: skip
    registry = load_registry(override)
    archive = registry.get("Rain100H").copies[0].archive
    assert archive.sources[0] == Source("file", "/cluster/test.zip")
    assert archive.sources[1].kind == "gdrive" and archive.sha256  # the rest kept
    assert registry.get("Rain100H").pairs == 7 and registry.get("Rain100H").task == "derain"
    assert registry.get("Rain100H").sources == (Source("url", "http://mirror/test.zip"),)
    assert registry.files[-1] == override

    monkeypatch.setenv(OVERRIDE_ENV, str(override))
    assert load_registry().get("Rain100H").pairs == 7


def test_override_can_add_a_set_and_must_complete_it(tmp_path):
    ok = write(tmp_path, {"sets": {"MyRain": {"task": "derain", "split": "test", "pairs": 5, "protocol": "derain",
                                              "copies": [{"archive": "raintrainh", "layout": {"kind": "find"}}]}}})  # fmt: skip
    assert load_registry(ok).get("MyRain").pairs == 5
    unscored = write(tmp_path, {"sets": {"MyRain": {"task": "derain", "split": "test", "pairs": 5,
                                                    "copies": [{"archive": "raintrainh", "layout": {"kind": "find"}}]}}},
                     "unscored.yaml")  # fmt: skip
    with pytest.raises(ConfigError, match=r"sets\.MyRain\.protocol: required for a test set"):
        load_registry(unscored)
    partial = write(tmp_path, {"sets": {"MyRain": {"pairs": 5}}}, "partial.yaml")
    with pytest.raises(ConfigError, match=r"partial\.yaml: sets\.MyRain: 'task' is a required property"):
        load_registry(partial)
    bad = write(tmp_path, {"sets": {"Rain100H": {"pairz": 5}}}, "bad.yaml")
    with pytest.raises(ConfigError, match=r"bad\.yaml: sets\.Rain100H\.pairz: unknown key"):
        load_registry(bad)


def test_unknown_set_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown dataset 'Rain200H'; known: Rain13K, RainTrainH"):
        load_registry().get("Rain200H")


def test_user_source_kinds():
    assert Source.from_user("https://x/y.zip").kind == "url"
    assert Source.from_user("http://127.0.0.1:1/y.zip").kind == "url"
    assert Source.from_user("file:///data/y.zip").kind == "file"
    assert Source.from_user("/data/y.zip") == Source("file", "/data/y.zip", "given on the command line")
