"""Helpers for the data tests: a real HTTP server on 127.0.0.1 and small archives shaped like the real ones."""

from __future__ import annotations

import gzip
import io
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

from hst.data.download import RetryPolicy

FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05, timeout=5)


class Server:
    """A threaded HTTP server whose answers the test sets per path; it records every request."""

    def __init__(self):
        self.routes = {}
        self.requests: list[tuple[str, dict, dict]] = []  # (path, query, headers)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                server.requests.append((parts.path, query, dict(self.headers)))
                route = server.routes.get(parts.path)
                if route is None:
                    self.send_error(404)
                else:
                    route(self, query)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def hits(self, path: str) -> list[tuple[str, dict, dict]]:
        return [r for r in self.requests if r[0] == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def png_bytes(array: np.ndarray) -> bytes:
    """An array encoded as PNG."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def image(seed: int, h: int = 8, w: int = 10) -> np.ndarray:
    """A small random RGB image."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip archive holding ``files`` (name -> content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    """A tar archive (gzip-compressed by default) holding ``files``, the same bytes on every call: gzip's header
    time is 0, not now (a test that prints an archive's first bytes saw them change, quotes and all)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w" if mode == "w:gz" else mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0) if mode == "w:gz" else buf.getvalue()


def derain_test_zip(sets=("Test100", "Rain100H", "Rain100L", "Test2800", "Test1200"), n: int = 3, noise: int = 0) -> bytes:
    """A zip with Restormer's deraining test layout: test/<SET>/{input,target}/<i>.png (plus ``noise`` random bytes)."""
    files = {"test/README.bin": np.random.default_rng(0).bytes(noise)} if noise else {}
    for k, name in enumerate(sets):
        for i in range(1, n + 1):
            files[f"test/{name}/input/{i}.png"] = png_bytes(image(100 * k + i))
            files[f"test/{name}/target/{i}.png"] = png_bytes(image(100 * k + i + 50))
    return zip_bytes(files)


def gopro_official_zip(seqs=("GOPR0372_07_00", "GOPR0374_11_00"), frames: int = 2) -> bytes:
    """A zip with GoPro's official layout: GOPRO_Large/{train,test}/SEQ/{blur,blur_gamma,sharp}/NNNNNN.png."""
    files = {}
    for split in ("train", "test"):
        for s, seq in enumerate(seqs):
            for f in range(1, frames + 1):
                for k, sub in enumerate(("blur", "blur_gamma", "sharp")):
                    files[f"GOPRO_Large/{split}/{seq}/{sub}/{f:06d}.png"] = png_bytes(image(1000 * s + 10 * f + k))
    return zip_bytes(files)


def send_bytes(handler, data: bytes, *, ranges: bool = True, cut_at: int | None = None, ctype="application/zip"):
    """Answer with ``data`` (honouring Range when ``ranges``); with ``cut_at``, stop after that many bytes."""
    start = 0
    rng = handler.headers.get("Range")
    if ranges and rng:
        start = int(rng.removeprefix("bytes=").split("-")[0])
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
    else:
        handler.send_response(200)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data) - start))
    handler.end_headers()
    body = data[start:]
    if cut_at is not None:
        body = body[:cut_at]
    handler.wfile.write(body)
    handler.wfile.flush()
    if cut_at is not None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)


def send_html(handler, html: str, status: int = 200):
    """Answer with an HTML page."""
    body = html.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)



def tree(root: Path) -> set[str]:
    """Every path under ``root``, relative, as strings."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
