"""The cost benchmarks run here in their smoke modes, so CI executes every line a lent GPU
machine or a long CPU run would (the figures themselves come from the full runs, bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.slow
def test_gpu_script_runs_its_matrix_on_the_cpu_with_the_tiny_architecture() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH / "gpu_sd15.py"),
            "--device",
            "cpu",
            "--tiny",
            "--steps",
            "1,2",
            "--batch",
            "1,2",
            "--runs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert "device: cpu" in lines and "sdpa: True" in lines and "channels_last: True" in lines
    assert any(line.startswith("torch: ") for line in lines) and any(line.startswith("diffusers: ") for line in lines)
    report = json.loads(next(line for line in lines if line.startswith("JSON "))[5:])
    cells = [(r["batch"], r["steps"]) for r in report["results"]]
    assert cells == [(1, 1), (1, 2), (2, 1), (2, 2)] and report["skipped"] == []
    assert all(r["images_per_second"] > 0 for r in report["results"])


@pytest.mark.slow
def test_gpu_script_stops_at_its_time_limit() -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH / "gpu_sd15.py"),
            "--device",
            "cpu",
            "--tiny",
            "--steps",
            "1",
            "--batch",
            "1,2",
            "--runs",
            "1",
            "--time-limit",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("JSON "))[5:])
    assert report["results"] == [] and report["skipped"] == ["batch 1 x 1 steps", "batch 2 x 1 steps"]


@pytest.mark.slow
def test_cpu_bench_measures_housify_overhead_through_the_queue(redis_url: str) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH / "ai_sd15.py"),
            "--tiny",
            "--size",
            "64",
            "--steps",
            "2",
            "--jobs",
            "1",
            "--redis-url",
            redis_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "s per step (median of 1 intervals)" in run.stdout
    assert "queued job 0: end to end" in run.stdout and "Housify overhead at 64 px x 2 steps: median" in run.stdout
