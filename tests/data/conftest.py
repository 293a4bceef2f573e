"""Fixtures for the data tests: a real HTTP server on 127.0.0.1, a small set of pairs and its patch cache (helpers live
in tests/helpers/data.py)."""

from __future__ import annotations

import socket

import pytest

from hst.data.cache import prepare_cache
from hst.data.io import write_png
from tests.helpers.data import Server, image

# The small set's pairs: name -> (height, width).
SIZES = {"a": (20, 24), "b": (18, 30), "c": (24, 20)}


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/archive.zip"


@pytest.fixture
def set_dir(tmp_path):
    """Three pairs of SIZES, input k and target k + 10 of tests.helpers.data.image."""
    root = tmp_path / "S"
    for k, (name, (h, w)) in enumerate(SIZES.items()):
        write_png(root / "input" / f"{name}.png", image(k, h, w))
        write_png(root / "target" / f"{name}.png", image(k + 10, h, w))
    return root


@pytest.fixture
def cache(set_dir, tmp_path):
    return prepare_cache(set_dir, tmp_path / "cache")
