"""``segmentation``: an ADE20K segmentation map from transformers (Segformer: any
``AutoModelForSemanticSegmentation`` folder with ADE20K labels), local weights
(``HOUSIFY_AI_SEGMENTATION_MODEL``), and the "keep" mask.

The map colours each pixel with its class's ADE20K colour (what ControlNet's
segmentation model reads). The mask is white wherever the class is *not* in
the keep list (``HOUSIFY_AI_SEGMENTATION_KEEP``, default the room's shell:
wall, floor, ceiling, windowpane, door, ...), so inpainting with it restyles
the furniture and leaves the room as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from housify_ai.control import ControlMap
from housify_ai.control.ade20k import ADE20K_PALETTE, ALIASES, DEFAULT_KEEP
from housify_ai.control.depth import load_transformers_vision
from housify_ai.errors import ModelLoadError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SETTING = "HOUSIFY_AI_SEGMENTATION_MODEL"
KEEP_SETTING = "HOUSIFY_AI_SEGMENTATION_KEEP"


def _names(label: str) -> set[str]:
    """``"windowpane;window"`` -> {"windowpane", "window"}: checkpoints write synonyms with ; or ,."""
    return {part.strip().lower() for part in re.split(r"[;,/]", label) if part.strip()}


def keep_ids(keep: Sequence[str], id2label: Mapping[int, str]) -> frozenset[int]:
    """Class ids of the ``keep`` names (case-insensitive; ``window`` means ``windowpane``).

    Raises:
        ModelLoadError: naming ``HOUSIFY_AI_SEGMENTATION_KEEP`` and the unknown names.
    """
    ids: set[int] = set()
    unknown = []
    for word in keep:
        name = ALIASES.get(word.strip().lower(), word.strip().lower())
        found = {int(i) for i, label in id2label.items() if name in _names(label)}
        if not found:
            unknown.append(word)
        ids |= found
    if unknown:
        raise ModelLoadError(
            f"{KEEP_SETTING}: {', '.join(map(repr, unknown))} not among the segmentation model's classes"
        )
    return frozenset(ids)


class SegmentationDetector:
    """``detect(image)`` -> ADE20K colour map + mask (white = may change), both at the image's size."""

    kind = "segmentation"

    def __init__(self, folder: Path, device: str = "cpu", keep: Sequence[str] = DEFAULT_KEEP) -> None:
        self.folder = Path(folder)
        self.device = device
        self.processor, self.model = load_transformers_vision(
            self.folder, "AutoModelForSemanticSegmentation", SETTING, device
        )
        labels = self.model.config.id2label
        if labels is None:
            raise ModelLoadError(f"{SETTING}={self.folder}: the model names no classes (config.json has no id2label)")
        self.id2label = {int(i): str(v) for i, v in labels.items()}
        self.keep = tuple(keep)
        self.keep_ids = keep_ids(self.keep, self.id2label)

    def labels(self, image: Image.Image) -> npt.NDArray[np.int64]:
        """Class id of every pixel, int64 ``(height, width)``."""
        import torch

        rgb = image.convert("RGB")
        inputs = self.processor(images=rgb, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits  # (1, classes, h/4, w/4) for Segformer
        logits = torch.nn.functional.interpolate(
            logits.float(), size=(rgb.height, rgb.width), mode="bilinear", align_corners=False
        )
        return logits.argmax(dim=1)[0].to("cpu").numpy()

    def detect(self, image: Image.Image) -> ControlMap:
        import numpy as np

        ids = self.labels(image)
        palette = np.asarray(ADE20K_PALETTE, dtype=np.uint8)
        colours = palette[ids % len(palette)]
        mask = np.where(np.isin(ids, list(self.keep_ids)), 0, 255).astype(np.uint8)
        return ControlMap(self.kind, Image.fromarray(colours, "RGB"), Image.fromarray(mask, "L"))

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "model": type(self.model).__name__,
            "path": str(self.folder),
            "device": self.device,
            "classes": len(self.id2label),
            "keep": list(self.keep),
        }
