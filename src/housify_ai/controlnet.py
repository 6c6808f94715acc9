"""ControlNet models over the loaded base pipeline (diffusers).

:class:`ControlNetBank` loads one ``ControlNetModel`` per map type (``lines``,
``depth``, ``segmentation``; :data:`housify_ai.control.CONTROLNET_FOR` says
which map each control kind feeds) at worker start, on the base pipeline's
device and dtype, and checks each fits the base UNet (same cross-attention
width and blocks): an SD 1.5 ControlNet under SDXL fails the worker at start
with the setting named, not a job.

:meth:`ControlNetBank.model_for` gives one ControlNet, or a
``MultiControlNetModel`` over several (their residuals are summed, each scaled
by its ``controlnet_conditioning_scale``); the engine's
``pipeline_for(task, controlnet=...)`` turns the base pipeline into the
ControlNet text2img / img2img / inpaint pipeline with ``from_pipe``, which
reuses the base's UNet, VAE and text encoders (no second copy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from housify_ai.errors import ModelLoadError

if TYPE_CHECKING:  # the defining modules: diffusers' package-level names are typed as placeholders
    from diffusers.models.controlnets.controlnet import ControlNetModel
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

SETTINGS: dict[str, str] = {
    "lines": "HOUSIFY_AI_CONTROLNET_LINES",
    "depth": "HOUSIFY_AI_CONTROLNET_DEPTH",
    "segmentation": "HOUSIFY_AI_CONTROLNET_SEGMENTATION",
}
"""Map type -> the setting naming its ControlNet folder."""


def _fits(controlnet: ControlNetModel, unet: UNet2DConditionModel) -> str | None:
    """Why ``controlnet`` cannot steer ``unet``, or None when it can."""
    for key in ("cross_attention_dim", "block_out_channels", "addition_embed_type"):
        mine, theirs = controlnet.config.get(key), unet.config.get(key)
        if key == "block_out_channels":
            mine, theirs = tuple(mine or ()), tuple(theirs or ())
        if mine != theirs:
            return f"{key} {mine} does not match the diffusion model's {theirs} (a ControlNet for another base model?)"
    return None


class ControlNetBank:
    """The ControlNets of one worker, by map type; built once, shared by every job."""

    def __init__(
        self, folders: Mapping[str, Path], unet: UNet2DConditionModel, device: torch.device, dtype: torch.dtype
    ) -> None:
        """Load each folder of ``folders`` (map type -> ControlNet folder).

        Raises:
            ModelLoadError: naming the setting, for a missing folder, one that
                does not load, or a ControlNet that does not fit ``unet``.
        """
        from diffusers.models.controlnets.controlnet import ControlNetModel

        self.models: dict[str, ControlNetModel] = {}
        self.paths = {name: Path(folder) for name, folder in folders.items()}
        for name, folder in self.paths.items():
            setting = SETTINGS[name]
            if not (folder / "config.json").is_file():
                raise ModelLoadError(f"{setting}={folder}: not a diffusers ControlNet folder (no config.json)")
            try:
                model = ControlNetModel.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
            except Exception as exc:
                raise ModelLoadError(f"{setting}={folder}: cannot load the ControlNet: {exc}") from exc
            reason = _fits(model, unet)
            if reason:
                raise ModelLoadError(f"{setting}={folder}: {reason}")
            self.models[name] = model.to(device).eval()

    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def model_for(self, names: Sequence[str]) -> ControlNetModel | MultiControlNetModel:
        """The ControlNet of one map type, or a ``MultiControlNetModel`` over several (order kept)."""
        from diffusers.models.controlnets import MultiControlNetModel

        missing = [n for n in names if n not in self.models]
        if missing:
            raise ValueError(f"controls: no ControlNet loaded for {', '.join(missing)} maps")
        models = [self.models[n] for n in names]
        return models[0] if len(models) == 1 else MultiControlNetModel(models)

    def parameter_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for m in self.models.values() for p in m.parameters())

    def describe(self) -> list[dict[str, object]]:
        return [{"kind": "controlnet", "maps": name, "path": str(self.paths[name])} for name in self.models]
