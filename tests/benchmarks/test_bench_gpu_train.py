"""benchmarks/bench_gpu_train.py runs on the CPU (a tiny configuration), eager and compiled."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu_train.py"


@pytest.mark.slow
def test_cpu_run_reports_throughput_and_tflops(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_gpu_train", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    old = torch.get_num_threads()
    try:  # the "eager" backend: dynamo captures the graph (the compiled path) without a C++ build
        rows = bench.main(["--variants", "tiny", "--modes", "eager", "compiled", "--backend", "eager",
                           "--steps", "2", "--threads", "1", "--json", str(tmp_path / "rows.json")])
    finally:
        torch.set_num_threads(old)
    out = capsys.readouterr().out
    assert "tiny configuration" in out and "HST-tiny    eager" in out and "HST-tiny    compiled" in out
    assert [r["mode"] for r in rows] == ["eager", "compiled"]
    for r in rows:
        assert r["images_per_s"] > 0 and r["batch"] == 2 and r["size"] == 32 and r["dim"] == 8
        assert r["tflops"] == 6 * r["macs_per_image"] * r["images_per_s"] / 1e12
    assert json.loads((tmp_path / "rows.json").read_text()) == json.loads(json.dumps(rows))
