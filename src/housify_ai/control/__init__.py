"""Control images for ControlNet: what of a photo a redesign keeps.

Four kinds, each a small module with one detector class
(``detect(image) -> ControlMap``, ``describe() -> dict``):

| kind | module | weights | map |
| --- | --- | --- | --- |
| ``lines`` (default) | :mod:`.lines` | none (OpenCV's line-segment detector) | white straight lines on black |
| ``mlsd`` | :mod:`.mlsd` | controlnet_aux M-LSD, ``HOUSIFY_AI_MLSD_MODEL`` | white straight lines on black |
| ``depth`` | :mod:`.depth` | transformers DPT / Depth Anything, ``HOUSIFY_AI_DEPTH_MODEL`` | grey, near = bright |
| ``segmentation`` | :mod:`.segmentation` | transformers Segformer (ADE20K), ``HOUSIFY_AI_SEGMENTATION_MODEL`` | ADE20K colours + a mask |

This module imports only Pillow, so the job contract and the API can name the
kinds without torch; the detectors import torch, OpenCV or transformers when built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from PIL import Image

ControlKind = Literal["lines", "mlsd", "depth", "segmentation"]
CONTROL_KINDS: tuple[str, ...] = ("lines", "mlsd", "depth", "segmentation")
DEFAULT_CONTROL: str = "lines"

CONTROLNET_FOR: dict[str, str] = {"lines": "lines", "mlsd": "lines", "depth": "depth", "segmentation": "segmentation"}
"""Control kind -> the ControlNet that reads its map: both line maps go to the straight-line (M-LSD) ControlNet."""


@dataclass(frozen=True)
class ControlMap:
    """One control image.

    ``image`` is RGB at the source's size. ``mask`` (segmentation only) is an
    ``L`` image of the same size, white (255) where the picture may change and
    black where a "keep" class was found — diffusers' inpainting convention.
    """

    kind: str
    image: Image.Image
    mask: Image.Image | None = None


class ControlDetector(Protocol):
    kind: str

    def detect(self, image: Image.Image) -> ControlMap:
        """The control map of ``image`` (any mode; read as RGB)."""
        ...

    def describe(self) -> dict[str, object]:
        """What ``GET /models`` shows of this detector (kind, model folder, device)."""
        ...
