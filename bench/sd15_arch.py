"""Stable Diffusion 1.5 at its real size with random weights, for the benchmarks.

Compute depends on the architecture, not on the weights' values, so a
pipeline built from SD 1.5's published configs (``runwayml/stable-diffusion-v1-5``
``unet/config.json``, ``vae/config.json``, ``text_encoder/config.json``:
860 M + 84 M + 123 M parameters) with random weights costs what the real
model costs per step. ``tiny=True`` gives the tiny test architecture instead
(a smoke run in seconds). Needs only torch, diffusers and transformers plus
the repository's ``src`` (for the offline CLIP tokenizer), so it runs on a
bare GPU host too.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # housify_ai.tiny_models without an install

SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
}
SD15_VAE: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "sample_size": 512,
}
SD15_TEXT: dict[str, Any] = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
TINY_UNET: dict[str, Any] = {
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (32, 64),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
}
TINY_VAE: dict[str, Any] = {
    **SD15_VAE,
    "block_out_channels": (32, 32, 64, 64),
    "layers_per_block": 1,
    "sample_size": 64,
}
TINY_TEXT: dict[str, Any] = {
    **SD15_TEXT,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "projection_dim": 32,
}


def build_pipeline(
    *, tiny: bool = False, controlnet: bool = False, device: str = "cpu", dtype: Any = None, seed: int = 0
) -> Any:
    """A ``StableDiffusionPipeline`` (or ``StableDiffusionControlNetPipeline`` with ``controlnet``) with random
    weights at SD 1.5's size (``tiny``: the test size), built on ``device`` in ``dtype`` (default float32)."""
    import diffusers
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from housify_ai.tiny_models import write_clip_tokenizer

    diffusers.utils.logging.set_verbosity_error()  # .to(dtype) on random modules warns about fp32 modules it has none of
    dtype = dtype or torch.float32
    with tempfile.TemporaryDirectory(prefix="housify-sd15-tok-") as tmp:
        vocab_size = write_clip_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp)
    text = CLIPTextConfig(
        **(TINY_TEXT if tiny else SD15_TEXT),
        vocab_size=vocab_size,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    with torch.device(device):  # initialise where it will run (fast on a GPU)
        unet = UNet2DConditionModel(**(TINY_UNET if tiny else SD15_UNET))
        vae = AutoencoderKL(**(TINY_VAE if tiny else SD15_VAE))
        text_encoder = CLIPTextModel(text)
        net = (
            ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 96, 256))
            if controlnet
            else None
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    parts = {"vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "unet": unet, "scheduler": scheduler,
             "safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}  # fmt: skip
    pipe = (
        StableDiffusionControlNetPipeline(controlnet=net, **parts) if controlnet else StableDiffusionPipeline(**parts)
    )
    pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def parameter_count(pipe: Any) -> dict[str, int]:
    """Parameters of each torch module of ``pipe``."""
    import torch

    return {
        name: sum(p.numel() for p in m.parameters())
        for name, m in pipe.components.items()
        if isinstance(m, torch.nn.Module)
    }
