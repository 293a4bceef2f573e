"""The documentation keeps its promises: config/README.md documents exactly the study schema's keys,
every relative Markdown link leads to a file (and heading) inside the repository, the README stays
short and free of commit hashes, and CITATION.cff has what a citation needs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml

try:
    from hst.study.study import SCHEMA
except ImportError:  # an older layout exported it from the package
    from hst.study import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIG_README = ROOT / "config" / "README.md"
MARKDOWN = [README, CONFIG_README, ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 210

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
HASH = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


# -- the study schema and config/README.md ------------------------------------------------

def schema_keys(node: dict, prefix: str = "") -> set[str]:
    """Every key path of a JSON schema, in config/README.md's notation: dotted, ``*`` for a name the user
    chooses (additionalProperties with a schema), ``[]`` after a list of mappings. A mapping whose keys are
    free (``additionalProperties: true``, e.g. overrides) is one key: its values are not the schema's."""
    keys: set[str] = set()
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        return schema_keys(node["items"], f"{prefix}[]")
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        keys |= {path} | schema_keys(sub, path)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        path = f"{prefix}.*"
        keys |= {path} | schema_keys(extra, path)
    return keys


def expand(key: str) -> list[str]:
    """``experiments.{derain,deblur}.seeds`` -> one key per name in braces."""
    parts = re.split(r"\{([^}]*)\}", key)
    choices = [[p] if i % 2 == 0 else [c.strip() for c in p.split(",")] for i, p in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*choices)]


def documented_keys(text: str) -> set[str]:
    """The keys of config/README.md's tables: each row's first cell, in backticks."""
    keys: set[str] = set()
    for line in outside_code(text):
        m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if m:
            keys.update(expand(m.group(1)))
    return keys


def test_schema_walk_notation():
    keys = schema_keys(SCHEMA)
    for key in ("data.synthetic.train_count", "experiments.ablation.samplers", "released.evaluate[].weights",
                "experiments.derain.baselines.*.recipe", "experiments.deblur.overrides", "heatmap"):
        assert key in keys
    assert not any(k.startswith("experiments.derain.overrides.") for k in keys)


def test_config_readme_documents_every_study_key():
    schema = schema_keys(SCHEMA)
    documented = documented_keys(CONFIG_README.read_text(encoding="utf-8"))
    missing = sorted(schema - documented)
    unknown = sorted(documented - schema)
    assert not missing, f"config/README.md does not document: {', '.join(missing)}"
    assert not unknown, f"config/README.md documents keys the study schema does not have: {', '.join(unknown)}"


# -- Markdown links --------------------------------------------------------------------------

def outside_code(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for line in outside_code(path.read_text(encoding="utf-8"))
            if (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line))}


def links(path: Path) -> list[str]:
    text = "\n".join(outside_code(path.read_text(encoding="utf-8")))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return LINK.findall(text)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    bad = []
    for target in links(path):
        if SCHEME.match(target):
            if not target.startswith(("https://", "http://", "mailto:")):
                bad.append(f"{target} (not a web address)")
            continue
        file_part, _, anchor = target.partition("#")
        if file_part.startswith("/"):
            bad.append(f"{target} (absolute path: link relative to the file)")
            continue
        dest = (path.parent / file_part).resolve() if file_part else path
        if root not in dest.parents and dest != root:
            bad.append(f"{target} (outside the repository)")
        elif not dest.exists():
            bad.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target} (no heading #{anchor} in {dest.relative_to(root)})")
    return bad


@pytest.mark.parametrize("path", [p for p in MARKDOWN if p.exists()], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(path):
    bad = broken_links(path)
    assert not bad, f"{path.relative_to(ROOT)}: " + "; ".join(bad)


def test_link_checker_catches_escapes(tmp_path):
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    (tmp_path / "README.md").write_text("# Top\n\n## Quick start\n", encoding="utf-8")
    page.write_text("[a](../README.md#quick-start) [b](../../outside.md) [c](missing.md) [d](/etc/passwd) "
                    "[e](../README.md#nowhere) [f](https://example.org) `[g](../../code.md)`\n"
                    "```\n[h](../../fenced.md)\n```\n", encoding="utf-8")
    bad = broken_links(page, tmp_path)
    assert [b.split(" ")[0] for b in bad] == ["../../outside.md", "missing.md", "/etc/passwd", "../README.md#nowhere"]


# -- the README ------------------------------------------------------------------------------

def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}): move details to docs/"


def test_readme_quick_start_comes_early():
    head = "\n".join(README.read_text(encoding="utf-8").splitlines()[:60])
    for command in ("git clone", "pip install", "snakemake --cores all", "snakemake --report"):
        assert command in head, f"{command!r} is not within the README's first 60 lines"


def test_readme_has_no_development_history():
    text = README.read_text(encoding="utf-8")
    assert not HASH.findall(text), f"commit hashes in README.md: {HASH.findall(text)} (measured figures: docs/performance.md)"
    assert not re.search(r"\bissue[ -]?#?\d+", text, re.I), "README.md names an issue: say what is, not how it came to be"


# -- CITATION.cff ----------------------------------------------------------------------------

def test_citation_cff_is_complete():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors", "preferred-citation"):
        assert cff.get(key), f"CITATION.cff: {key} missing or empty"
    assert str(cff["cff-version"]).startswith("1.2")
    paper = cff["preferred-citation"]
    for key in ("type", "title", "authors", "journal", "year", "doi"):
        assert paper.get(key), f"CITATION.cff: preferred-citation.{key} missing or empty"
    assert all(a.get("family-names") or a.get("name") for a in [*cff["authors"], *paper["authors"]])
