"""Tiny random-weight models for tests and the embedded default (docs/ai-server.md).

:func:`build_tiny_diffusion` writes a Stable Diffusion pipeline folder
(~3 MB: UNet, 4-level VAE so the latent scale factor is 8 as in real SD, a
small CLIP text encoder, a byte-level CLIP tokenizer written here, a DDIM
scheduler) in about a second; :func:`build_tiny_gguf` writes a LLaMA-architecture
GGUF (~0.5 MB, F32) with a SentencePiece vocabulary that includes the 256
``<0xNN>`` byte tokens (llama.cpp aborts the process without them)
and a ChatML template. Both are deterministic (fixed seeds) and offline; they
draw noise and babble, which is all a test of the plumbing needs. The recipe
follows diffusers' own pipeline tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, cast

TINY_SD_DIR = "tiny-sd"
TINY_GGUF_FILE = "tiny-llama.gguf"

_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class _Saveable(Protocol):
    def save_pretrained(self, save_directory: str, *, safe_serialization: bool = ...) -> None: ...


def save_pretrained(pipeline: object, folder: Path) -> None:
    """Write a diffusers pipeline built here to ``folder`` as safetensors (``save_pretrained``).

    The cast is the library boundary: diffusers' package-level names (``diffusers.StableDiffusionPipeline``)
    are typed as its import placeholders, which lack ``save_pretrained``, and the defining classes'
    constructors are annotated narrower than they accept (a scheduler enum for a scheduler, no ``None``
    for the optional safety checker), so the pipelines are built through the package-level names.
    """
    cast(_Saveable, pipeline).save_pretrained(str(folder), safe_serialization=True)


def build_tiny_models(directory: Path) -> tuple[Path, Path]:
    """Write the tiny models into ``directory``: the pipeline, the GGUF and the control models
    (:func:`housify_ai.tiny_control.build_tiny_control_models`); returns (pipeline folder, GGUF file)."""
    from housify_ai.tiny_control import build_tiny_control_models

    directory.mkdir(parents=True, exist_ok=True)
    pipeline, gguf = build_tiny_diffusion(directory / TINY_SD_DIR), build_tiny_gguf(directory / TINY_GGUF_FILE)
    build_tiny_control_models(directory)
    return pipeline, gguf


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character map (byte-level BPE)."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def write_clip_tokenizer(folder: Path) -> int:
    """vocab.json + merges.txt of a byte-level CLIP tokenizer; returns the vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *symbols, *(s + "</w>" for s in symbols)]:
        vocab.setdefault(token, len(vocab))
    # Each merge joins two pieces already in the vocabulary (the tokenizer requires it).
    merges = [("r", "o"), ("ro", "o"), ("o", "m</w>"), ("l", "i"), ("t", "h"), ("e", "r</w>")]
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0, sort_keys=True))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
            }
        )
    )
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": 77,
                "bos_token": "<|startoftext|>",
                "eos_token": "<|endoftext|>",
                "pad_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
            }
        )
    )
    return len(vocab)


def build_tiny_diffusion(folder: Path) -> Path:
    """Write a tiny random Stable Diffusion pipeline to ``folder`` (replaced if present)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = folder / "tokenizer"
    vocab_size = write_clip_tokenizer(tokenizer_dir)
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir))

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 64, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        sample_size=64,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=vocab_size,
            max_position_embeddings=77,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    save_pretrained(pipe, folder)
    return folder


def build_tiny_gguf(path: Path) -> Path:
    """Write a tiny LLaMA GGUF (2 layers, 64 wide, F32) with a ChatML template to ``path``."""
    import numpy as np
    from gguf import GGUFWriter, TokenType

    n_embd, n_ff, n_head, n_layer = 64, 128, 4, 2
    tokens: list[str] = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + list('{}":,. ') + ["▁room", "▁light", "▁wood"]
    tokens += pieces
    types += [TokenType.NORMAL] * len(pieces)
    scores = [0.0] * 5 + [0.0] * 256 + [-float(i) for i in range(len(pieces))]

    writer = GGUFWriter(str(path), "llama")
    writer.add_name("housify-tiny-llama")
    writer.add_context_length(512)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all F32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(False)
    writer.add_chat_template(_CHATML)

    rng = np.random.default_rng(0)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    vocab = len(tokens)
    writer.add_tensor("token_embd.weight", weight(vocab, n_embd))
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", weight(vocab, n_embd))

    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
