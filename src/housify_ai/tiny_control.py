"""Tiny random-weight control models, offline, for tests and the embedded default.

Each builder writes a folder the real loader reads unchanged, in well under a
second (recipes after the libraries' own tests):

* :func:`build_tiny_controlnet` — a ``ControlNetModel`` matching the tiny
  Stable Diffusion UNet of :mod:`housify_ai.tiny_models` (diffusers'
  ``tests/pipelines/controlnet/test_controlnet.py``), with a 4-level
  conditioning embedding so it downsamples by 8 like the VAE. Its output convs
  are drawn at random instead of zero (as those tests do) and its conditioning
  embedding with He init, so the control image really changes the picture.
* :func:`build_tiny_dpt` — ``DPTForDepthEstimation`` (transformers'
  ``tests/models/dpt/test_modeling_dpt.py`` sizes) + its image processor at 32 px.
* :func:`build_tiny_segformer` — ``SegformerForSemanticSegmentation`` with the
  150 ADE20K labels (``tests/models/segformer``) + its image processor at 64 px.
* :func:`build_tiny_mlsd` — controlnet_aux's M-LSD network (its real, small
  architecture: 1.5 M parameters) with random weights, when controlnet-aux is installed.
"""

from __future__ import annotations

from pathlib import Path

TINY_CONTROLNETS = {
    "lines": "tiny-controlnet-lines",
    "depth": "tiny-controlnet-depth",
    "segmentation": "tiny-controlnet-segmentation",
}
TINY_DPT_DIR = "tiny-dpt"
TINY_SEGFORMER_DIR = "tiny-segformer"
TINY_MLSD_DIR = "tiny-mlsd"


def build_tiny_controlnet(folder: Path, seed: int = 0) -> Path:
    """Write a tiny random ControlNet for the tiny SD UNet (cross-attention 32, blocks (32, 64)) to ``folder``."""
    import torch
    from diffusers.models.controlnets.controlnet import ControlNetModel

    torch.manual_seed(seed)
    controlnet = ControlNetModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=32,
        conditioning_embedding_out_channels=(16, 16, 32, 32),
    )

    def non_zero(module: torch.nn.Module) -> None:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight)
            if module.bias is not None:
                module.bias.data.zero_()

    def responsive(module: torch.nn.Module) -> None:  # He init: the map's lines survive the 8x downsampling
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                module.bias.data.zero_()

    controlnet.controlnet_down_blocks.apply(non_zero)
    controlnet.controlnet_mid_block.apply(non_zero)
    controlnet.controlnet_cond_embedding.apply(responsive)
    controlnet.save_pretrained(str(folder), safe_serialization=True)
    return folder


def build_tiny_dpt(folder: Path) -> Path:
    """Write a tiny random DPT depth model (ViT, 32 px input) and its image processor to ``folder``."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessorPil

    torch.manual_seed(0)
    config = DPTConfig(
        image_size=32,
        patch_size=16,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=4,
        backbone_out_indices=[0, 1, 2, 3],
        num_attention_heads=4,
        intermediate_size=37,
        neck_hidden_sizes=[16, 32, 32, 32],
        fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5],
        is_hybrid=False,
    )
    DPTForDepthEstimation(config).save_pretrained(str(folder))
    DPTImageProcessorPil(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(str(folder))
    return folder


def build_tiny_segformer(folder: Path) -> Path:
    """Write a tiny random Segformer with the 150 ADE20K labels (64 px input) and its image processor to ``folder``."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessorPil

    from housify_ai.control.ade20k import ADE20K_LABELS

    torch.manual_seed(0)
    config = SegformerConfig(
        num_channels=3,
        num_encoder_blocks=4,
        depths=[1, 1, 1, 1],
        sr_ratios=[8, 4, 2, 1],
        hidden_sizes=[8, 8, 16, 16],
        patch_sizes=[7, 3, 3, 3],
        strides=[4, 2, 2, 2],
        num_attention_heads=[1, 1, 2, 2],
        mlp_ratios=[4, 4, 4, 4],
        decoder_hidden_size=16,
        id2label=dict(enumerate(ADE20K_LABELS)),
        label2id={label: i for i, label in enumerate(ADE20K_LABELS)},
    )
    SegformerForSemanticSegmentation(config).save_pretrained(str(folder))
    SegformerImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(str(folder))
    return folder


def build_tiny_mlsd(folder: Path) -> Path | None:
    """Write M-LSD with random weights as ``mlsd_large_512_fp32.pth`` in ``folder``; None without controlnet-aux."""
    import importlib.util

    if importlib.util.find_spec("controlnet_aux") is None:
        return None
    import torch

    from housify_ai.control.mlsd import WEIGHTS_FILE, mlsd_detector_class

    mlsd_detector_class()  # makes controlnet_aux.mlsd importable
    from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(MobileV2_MLSD_Large().state_dict(), folder / WEIGHTS_FILE)
    return folder


def build_tiny_control_models(directory: Path) -> dict[str, Path]:
    """All of the above under ``directory``; returns name -> folder (M-LSD left out without controlnet-aux)."""
    import transformers

    transformers.logging.disable_progress_bar()
    made = {
        name: build_tiny_controlnet(directory / sub, seed=i) for i, (name, sub) in enumerate(TINY_CONTROLNETS.items())
    }
    made = {f"controlnet-{name}": path for name, path in made.items()}
    made["depth"] = build_tiny_dpt(directory / TINY_DPT_DIR)
    made["segmentation"] = build_tiny_segformer(directory / TINY_SEGFORMER_DIR)
    mlsd = build_tiny_mlsd(directory / TINY_MLSD_DIR)
    if mlsd is not None:
        made["mlsd"] = mlsd
    return made


TINY_SDXL_DIR = "tiny-sdxl"
TINY_LORA_FILE = "tiny-lora.safetensors"


def build_tiny_lora(pipeline_folder: Path, path: Path, seed: int = 0) -> Path:
    """Write a random rank-4 LoRA for the UNet of the pipeline in ``pipeline_folder`` to ``path`` (a .safetensors file).

    As diffusers' LoRA tests do: a peft ``LoraConfig`` on the attention
    projections with ``init_lora_weights=False`` (random B, so the adapter
    changes the output), saved with ``save_lora_weights``.
    """
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(str(pipeline_folder), subfolder="unet", local_files_only=True)
    torch.manual_seed(seed)
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        str(path.parent), unet_lora_layers=get_peft_model_state_dict(unet), weight_name=path.name
    )
    return path


def build_tiny_sdxl(folder: Path) -> Path:
    """Write a tiny random SDXL pipeline (two CLIP text encoders, ``text_time`` conditioning) to ``folder``.

    Sizes after diffusers' ``tests/pipelines/stable_diffusion_xl`` dummy
    components, with the 4-level VAE of the tiny SD pipeline (scale factor 8).
    """
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from housify_ai.tiny_models import save_pretrained, write_clip_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = write_clip_tokenizer(folder / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + the pooled text embedding (32)
        cross_attention_dim=64,  # both text encoders' hidden states side by side (32 + 32)
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
        scaling_factor=0.13025,  # SDXL's VAE scaling
    )
    config = CLIPTextConfig(
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
        hidden_act="gelu",
        projection_dim=32,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(config)
    torch.manual_seed(1)
    text_encoder_2 = CLIPTextModelWithProjection(config)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    save_pretrained(pipe, folder)
    return folder
