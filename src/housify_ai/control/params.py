"""Parameters of the ``redesign`` task (torch-free: the API derives its schema from them).

A redesign keeps the room of a source photo — walls, windows, doors — and
repaints the rest after the room type, style and prompt. Defaults follow
common practice with Stable Diffusion 1.5 ControlNets (lllyasviel's
ControlNet 1.1 model cards and diffusers' ControlNet docs): conditioning scale
1.0 over the whole denoising range, 25 steps, guidance 7.5.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from housify_ai.contract import MAX_GUIDANCE, MAX_SIDE, MAX_STEPS, MIN_SIDE
from housify_ai.control import ControlKind

Scale = Annotated[float, Meta(ge=0.0, le=2.0, description="how strongly a ControlNet steers (0 = not at all)")]
Fraction = Annotated[float, Meta(ge=0.0, le=1.0, description="a fraction of the denoising steps")]


class RedesignParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How to redesign a photo.

    * ``controls`` — control kinds, 1 to 4 distinct, in order (``lines``: straight
      lines, no weights, the default; ``mlsd``; ``depth``; ``segmentation``);
      several run as one ``MultiControlNetModel``.
    * ``controlnet_conditioning_scale`` — one per control, or one for all.
    * ``control_guidance_start`` / ``control_guidance_end`` — the part of the
      denoising (fractions, start < end) during which the ControlNets steer.
    * ``restyle`` — ``room``: a new picture of the whole room (structure from the
      controls); ``furniture``: only what is not the room's shell changes (an
      inpainting mask from the segmentation model's "keep" classes).
    * ``strength`` — 1.0 draws from noise guided by the controls; below 1
      starts from the photo (img2img), keeping more of its colours and light.
    * ``long_side`` — output size in pixels of the longer side; the other follows
      the photo's aspect ratio (both multiples of 8).
    """

    controls: Annotated[list[ControlKind], Meta(min_length=1, max_length=4)] = msgspec.field(
        default_factory=lambda: ["lines"]
    )
    controlnet_conditioning_scale: Scale | Annotated[list[Scale], Meta(min_length=1, max_length=4)] = 1.0
    control_guidance_start: Fraction = 0.0
    control_guidance_end: Fraction = 1.0
    restyle: Literal["room", "furniture"] = "room"
    strength: Annotated[float, Meta(gt=0.0, le=1.0)] = 1.0
    long_side: Annotated[int, Meta(ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8, description="pixels")] = 512
    steps: Annotated[int, Meta(ge=1, le=MAX_STEPS, description="denoising steps")] = 25
    guidance_scale: Annotated[float, Meta(ge=0.0, le=MAX_GUIDANCE, description="classifier-free guidance scale")] = 7.5

    def __post_init__(self) -> None:
        if len(set(self.controls)) != len(self.controls):
            raise ValueError("controls: each control kind at most once")
        scale = self.controlnet_conditioning_scale
        if isinstance(scale, list) and len(scale) != len(self.controls):
            raise ValueError(
                f"controlnet_conditioning_scale: one value per control ({len(self.controls)}), or one for all"
            )
        if self.control_guidance_start >= self.control_guidance_end:
            raise ValueError("control_guidance_start: must be below control_guidance_end")
        if self.denoising_steps() < 1:
            raise ValueError("strength: steps x strength must be at least 1")

    def scales(self) -> list[float]:
        """One conditioning scale per control."""
        scale = self.controlnet_conditioning_scale
        return list(scale) if isinstance(scale, list) else [float(scale)] * len(self.controls)

    def denoising_steps(self) -> int:
        """Steps the run makes: diffusers runs the last ``steps x strength`` of them when starting from the photo."""
        return int(self.steps * self.strength)

    def size_for(self, source_size: tuple[int, int]) -> tuple[int, int]:
        """Output (width, height): the longer side ``long_side``, the photo's aspect ratio, multiples of 8, at least 64."""
        width, height = source_size
        ratio = self.long_side / max(width, height)

        def side(value: float) -> int:
            return max(MIN_SIDE, min(MAX_SIDE, round(value * ratio / 8) * 8))

        return side(width), side(height)
