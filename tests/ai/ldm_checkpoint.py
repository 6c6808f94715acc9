"""Write a diffusers Stable Diffusion pipeline as one original-layout (LDM) checkpoint file.

Fine-tunes are usually shipped as a single ``.safetensors`` in the layout of
the original Stable Diffusion repository (CompVis/stability-ai ``ldm``):
``model.diffusion_model.*`` (UNet), ``first_stage_model.*`` (VAE),
``cond_stage_model.transformer.*`` (CLIP text encoder). diffusers reads that
layout with ``from_single_file``; this test helper writes it, so the tests can
load a tiny one. The key names follow the original model code
(``ldm/modules/diffusionmodules/openaimodel.py`` and ``model.py``): a UNet
level holds ``layers_per_block`` resnet(+attention) blocks then a downsampler;
the VAE decoder's levels are numbered from the bottom; VAE attention
projections are 1x1 convolutions.
"""

from __future__ import annotations

from pathlib import Path

RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
          "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}  # fmt: skip
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _unet_names(config: dict) -> dict[str, str]:
    """diffusers UNet2DConditionModel key prefix -> LDM prefix (under ``model.diffusion_model.``)."""
    names = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
             "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
             "mid_block.resnets.0.": "middle_block.0.", "mid_block.attentions.0.": "middle_block.1.",
             "mid_block.resnets.1.": "middle_block.2."}  # fmt: skip
    levels, per = len(config["block_out_channels"]), config["layers_per_block"]
    block = 1
    for i in range(levels):
        for j in range(per):
            names[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{block}.0."
            names[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{block}.1."
            block += 1
        if i < levels - 1:
            names[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{block}.0.op."
            block += 1
    block = 0
    for i, kind in enumerate(config["up_block_types"]):
        for j in range(per + 1):
            names[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{block}.0."
            names[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{block}.1."
            if j == per and i < levels - 1:
                names[f"up_blocks.{i}.upsamplers.0."] = f"output_blocks.{block}.{2 if 'CrossAttn' in kind else 1}."
            block += 1
    return names


def _rename(key: str, prefixes: dict[str, str], inner: dict[str, str]) -> str | None:
    for hf, ldm in sorted(prefixes.items(), key=lambda kv: -len(kv[0])):
        if key.startswith(hf):
            rest = key[len(hf) :]
            for a, b in inner.items():
                if rest.startswith(a + "."):
                    rest = b + rest[len(a) :]
            return ldm + rest
    return None


def unet_to_ldm(state: dict, config: dict) -> dict:
    prefixes = _unet_names(config)
    out = {}
    for key, value in state.items():
        name = (
            _rename(key, prefixes, RESNET)
            if "resnets" in key or key.startswith(("mid_block.resnets",))
            else _rename(key, prefixes, {})
        )
        if name is None:
            raise KeyError(f"no LDM name for UNet key {key}")
        out["model.diffusion_model." + name] = value
    return out


def vae_to_ldm(state: dict, config: dict) -> dict:
    levels = len(config["block_out_channels"])
    out = {}
    for key, value in state.items():
        name = key
        for part in ("encoder", "decoder"):
            name = name.replace(f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.").replace(
                f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2."
            )
            if f"{part}.mid_block.attentions.0." in name:
                rest = name.split(f"{part}.mid_block.attentions.0.", 1)[1]
                for a, b in VAE_ATTENTION.items():
                    if rest.startswith(a + "."):
                        rest = b + rest[len(a) :]
                name = f"{part}.mid.attn_1.{rest}"
                if value.ndim == 2:  # linear -> 1x1 convolution
                    value = value[:, :, None, None]
        for i in range(levels):
            name = name.replace(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
            name = name.replace(f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.")
            name = name.replace(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{levels - 1 - i}.block.")
            name = name.replace(f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{levels - 1 - i}.upsample.")
        name = name.replace("conv_shortcut.", "nin_shortcut.").replace("conv_norm_out.", "norm_out.")
        out["first_stage_model." + name] = value
    return out


def write_ldm_checkpoint(pipeline_folder: Path, path: Path) -> Path:
    """The pipeline in ``pipeline_folder`` (diffusers layout) as one LDM ``.safetensors`` at ``path``."""
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file

    pipe = StableDiffusionPipeline.from_pretrained(str(pipeline_folder), local_files_only=True)
    state = {}
    state.update(unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config)))
    state.update(vae_to_ldm(pipe.vae.state_dict(), dict(pipe.vae.config)))
    for key, value in pipe.text_encoder.state_dict().items():
        name = (
            key if key.startswith("text_model.") else "text_model." + key
        )  # transformers >= 5.6 flattens CLIPTextModel
        state["cond_stage_model.transformer." + name] = value
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
