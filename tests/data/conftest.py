"""Fixtures for the data tests: a real HTTP server on 127.0.0.1 (helpers live in tests/helpers/data.py)."""

from __future__ import annotations

import socket

import pytest

from tests.helpers.data import Server


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
