"""``mlsd``: straight lines from M-LSD (Gu et al., "Towards Light-weight and Real-time
Line Segment Detection", AAAI 2022) through controlnet_aux, weights from a local folder.

The folder (``HOUSIFY_AI_MLSD_MODEL``) holds ``mlsd_large_512_fp32.pth``, the
file of the ``lllyasviel/Annotators`` repository that controlnet_aux reads.

controlnet_aux's package ``__init__`` imports all eighteen of its detectors,
several of which need torchvision and timm; no torchvision build matches the
CPU build of torch pinned here, and M-LSD needs neither. So when the package
does not import as a whole, its ``mlsd`` subpackage is imported on its own.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Protocol

from PIL import Image

from housify_ai.control import ControlMap
from housify_ai.errors import ModelLoadError

WEIGHTS_FILE = "mlsd_large_512_fp32.pth"
SETTING = "HOUSIFY_AI_MLSD_MODEL"


class MLSDModel(Protocol):
    """What this module uses of a loaded ``MLSDdetector`` (controlnet_aux ships no type information)."""

    def to(self, device: str) -> object: ...

    def __call__(
        self,
        input_image: Image.Image,
        thr_v: float,
        thr_d: float,
        detect_resolution: int,
        image_resolution: int,
        output_type: str,
    ) -> Image.Image: ...


class MLSDLoader(Protocol):
    """controlnet_aux's ``MLSDdetector`` class: loads the weights file ``filename`` from a folder."""

    def from_pretrained(self, pretrained_model_or_path: str, filename: str) -> MLSDModel: ...


def mlsd_detector_class() -> MLSDLoader:
    """controlnet_aux's ``MLSDdetector``; ``ModelLoadError`` when controlnet-aux is not installed."""
    try:
        from controlnet_aux.mlsd import MLSDdetector

        return MLSDdetector
    except ImportError:
        pass
    spec = importlib.util.find_spec("controlnet_aux")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"{SETTING} is set but controlnet-aux is not installed (pip install 'housify[mlsd]')")
    package = types.ModuleType("controlnet_aux")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["controlnet_aux"] = package  # a bare package: its submodules import without its __init__
    from controlnet_aux.mlsd import MLSDdetector

    return MLSDdetector


class MLSDLineDetector:
    """``detect(image)`` -> M-LSD's line map (white on black), at the image's size.

    ``score`` and ``distance`` are M-LSD's ``thr_v`` (line score) and ``thr_d``
    (minimum length in px at 512 px) thresholds, controlnet_aux's defaults.

    Raises:
        ModelLoadError: naming ``HOUSIFY_AI_MLSD_MODEL`` when the folder lacks the weights.
    """

    kind = "mlsd"

    def __init__(self, folder: Path, device: str = "cpu", *, score: float = 0.1, distance: float = 0.1) -> None:
        self.folder = Path(folder)
        if not (self.folder / WEIGHTS_FILE).is_file():
            raise ModelLoadError(
                f"{SETTING}={self.folder}: no {WEIGHTS_FILE} there (the file from lllyasviel/Annotators)"
            )
        try:
            self.detector = mlsd_detector_class().from_pretrained(str(self.folder), filename=WEIGHTS_FILE)
            self.detector.to(device)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"{SETTING}={self.folder}: cannot load M-LSD: {exc}") from exc
        self.device = device
        self.score, self.distance = score, distance

    def detect(self, image: Image.Image) -> ControlMap:
        rgb = image.convert("RGB")
        lines = self.detector(
            rgb, thr_v=self.score, thr_d=self.distance, detect_resolution=512, image_resolution=512, output_type="pil"
        )
        return ControlMap(self.kind, lines.convert("RGB").resize(rgb.size, Image.Resampling.BILINEAR))

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "detector": "controlnet_aux MLSDdetector",
            "path": str(self.folder),
            "device": self.device,
        }
