"""The package's layers (docs/architecture.md): every import of every ``hst/**/*.py``, at module level or
inside a function, goes to the same layer or an earlier one, and no two files import each other, even
through others."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PACKAGE = Path(__file__).resolve().parents[2] / "hst"
# The documented order: infrastructure (the modules at hst/'s top), then each subpackage. The command
# line (hst/cli.py, hst/__main__.py) and the package's front door (hst/__init__.py) may import any layer.
LAYERS = ["infrastructure", "models", "metrics", "data", "engine", "study", "paper"]
FRONT = {"hst", "hst.cli", "hst.__main__"}


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else "infrastructure"


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the hst modules it imports (resolved to a file of the package), anywhere in the file."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} ({layer(a)}) -> {b} ({layer(b)})" for a, targets in edges.items() if a not in FRONT
                  for b in targets if b not in FRONT and LAYERS.index(layer(b)) > LAYERS.index(layer(a)))


def test_every_subpackage_is_a_documented_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert subpackages == set(LAYERS) - {"infrastructure"}
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    order = [doc.index(f"`hst/{name}/`") for name in LAYERS[1:]]
    assert order == sorted(order), "docs/architecture.md lists the layers in another order"


def test_no_import_runs_up_the_layers():
    assert upward(imports(modules())) == []


def test_no_import_circle_between_files():
    assert cycles(imports(modules())) == []


def test_the_checks_see_function_local_imports_and_circles(tmp_path):
    """The checker itself: a function-local upward import and a two-file circle are found."""
    pkg = tmp_path / "hst"
    for sub in ("models", "paper"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "a.py").write_text("def f():\n    from hst.paper.b import g\n")
    (pkg / "paper" / "b.py").write_text("from hst.models import a\n\ndef g():\n    pass\n")
    edges = imports(modules(pkg))
    assert upward(edges) == ["hst.models.a (models) -> hst.paper.b (paper)"]
    assert cycles(edges) == [["hst.models.a", "hst.paper.b"]]


@pytest.mark.parametrize("module", ["hst.engine.restorer", "hst.paper.tables"])
def test_each_layer_imports_on_its_own(module):
    """Importable alone: no layer relies on another having been imported first."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def modules_loaded(code: str, roots: tuple[str, ...], **env: str) -> list[str]:
    """The modules under ``roots`` (top-level names) that a fresh interpreter has loaded after running ``code``."""
    code += f"; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO), **env}, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout)


def test_the_study_and_the_tables_start_without_torch():
    """The Snakefile's parse and the jobs that only read and write tables (study.json, Tables 1-6, the report's
    pieces) import the study and the paper layers: none of it imports torch (about 2 s a process), a plugin
    architecture (tests/helpers/toy_arch.py, named by import path) included."""
    code = "import hst.study, hst.paper.tables, hst.paper.report, hst.cli; from hst.models import ARCHS; assert 'toynet' in ARCHS"
    loaded = modules_loaded(code, ("torch", "scipy"), HST_PLUGINS="tests.helpers.toy_arch")
    assert not [m for m in loaded if m.startswith("torch")], loaded
    assert "scipy.stats" not in loaded, loaded  # its import alone is about 1 s; the t quantile comes from scipy.special


def test_the_patch_cache_is_written_without_torch(tmp_path):
    """`hst data prepare` (hst.data.cache) decodes and writes the cache with NumPy alone: a pipeline runs it once per
    training set, and torch's import is about 1 s of each (the training that reads it imports torch itself)."""
    code = ("import numpy as np; from hst.data.io import write_png; from hst.data.cli import run; "
            f"root = {str(tmp_path)!r}; "
            "[write_png(f'{root}/set/{k}/a.png', np.zeros((8, 8, 3), np.uint8)) for k in ('input', 'target')]; "
            "from hst.data.cache import prepare_cache; prepare_cache(f'{root}/set', f'{root}/cache')")
    assert modules_loaded(code, ("torch",)) == []
    assert (tmp_path / "cache/index.json").is_file()
