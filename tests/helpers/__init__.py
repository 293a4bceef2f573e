"""Helpers the tests share: importable as ``tests.helpers.*`` (pyproject.toml puts the repository on the path)."""
