"""``depth``: a depth map from transformers (DPT, Depth Anything: any
``AutoModelForDepthEstimation`` folder), local weights (``HOUSIFY_AI_DEPTH_MODEL``).

The model's relative inverse depth is brought to the photo's size (bicubic)
and stretched to 0..255, near = bright: what ControlNet's depth models
(``control_v11f1p_sd15_depth``, trained on MiDaS/DPT maps) read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from housify_ai.control import ControlMap
from housify_ai.errors import ModelLoadError

if TYPE_CHECKING:
    import torch
    from transformers import BaseImageProcessor, PreTrainedModel

SETTING = "HOUSIFY_AI_DEPTH_MODEL"


def load_transformers_vision(
    folder: Path, auto_model: str, setting: str, device: str
) -> tuple[BaseImageProcessor, PreTrainedModel]:
    """An image processor and a model of class ``transformers.<auto_model>`` from a local folder, in eval mode.

    Raises:
        ModelLoadError: naming ``setting`` when the folder is missing or does not load.
    """
    import transformers

    if not (Path(folder) / "config.json").is_file():
        raise ModelLoadError(f"{setting}={folder}: not a transformers model folder (no config.json)")
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
        model = getattr(transformers, auto_model).from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{setting}={folder}: cannot load the model: {exc}") from exc
    return processor, model.to(device).eval()


class DepthDetector:
    """``detect(image)`` -> a grey depth map (near = bright) at the image's size."""

    kind = "depth"

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        self.folder = Path(folder)
        self.device = device
        self.processor, self.model = load_transformers_vision(
            self.folder, "AutoModelForDepthEstimation", SETTING, device
        )

    def depth(self, image: Image.Image) -> torch.Tensor:
        """Relative inverse depth, float32 ``(height, width)`` at the image's size."""
        import torch

        rgb = image.convert("RGB")
        inputs = self.processor(images=rgb, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            predicted = self.model(**inputs).predicted_depth  # (1, h, w)
        return torch.nn.functional.interpolate(
            predicted[:, None].float(), size=(rgb.height, rgb.width), mode="bicubic", align_corners=False
        )[0, 0]

    def detect(self, image: Image.Image) -> ControlMap:
        depth = self.depth(image).double()  # relative depth can span any range, even 1e-9 (stretch in float64)
        low, high = depth.min(), depth.max()
        span = float(high - low)
        stretched = (depth - low) / span * 255.0 if span > 0 else depth * 0.0  # a flat depth map is all far
        scaled = stretched.round().clamp(0, 255).to("cpu").byte().numpy()
        return ControlMap(self.kind, Image.fromarray(scaled, "L").convert("RGB"))

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "model": type(self.model).__name__, "path": str(self.folder), "device": self.device}
