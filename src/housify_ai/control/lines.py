"""``lines``: a straight-line map from OpenCV's line-segment detector (no weights).

LSD (von Gioi et al., "LSD: a Line Segment Detector", IPOL 2012) finds the
straight edges of a photo — wall corners, window and door frames, floor lines —
which is what an M-LSD ControlNet was trained on (white segments on black).
Segments shorter than ``min_length`` of the longer image side are dropped
(texture, not structure).
"""

from __future__ import annotations

import math

from PIL import Image

from housify_ai.control import ControlMap


class LineDetector:
    """``detect(image)`` -> white straight lines on black, at the image's size."""

    kind = "lines"

    def __init__(self, min_length: float = 0.03) -> None:
        import cv2

        if not hasattr(cv2, "createLineSegmentDetector"):  # pragma: no cover - OpenCV 3.4.6-4.0 left it out
            raise RuntimeError(
                "this OpenCV build has no createLineSegmentDetector (need opencv-python-headless >= 4.5)"
            )
        self.min_length = min_length

    def segments(self, image: Image.Image) -> list[tuple[float, float, float, float]]:
        """Line segments ``(x1, y1, x2, y2)`` in pixels, at least ``min_length`` of the longer side long."""
        import cv2
        import numpy as np

        grey = np.asarray(image.convert("L"))
        found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(grey)[0]
        if found is None:
            return []
        shortest = self.min_length * max(grey.shape)
        return [
            (float(s[0]), float(s[1]), float(s[2]), float(s[3]))
            for s in found.reshape(-1, 4)
            if math.hypot(s[2] - s[0], s[3] - s[1]) >= shortest
        ]

    def detect(self, image: Image.Image) -> ControlMap:
        import cv2
        import numpy as np

        canvas = np.zeros((image.height, image.width), dtype=np.uint8)
        thickness = max(1, round(max(image.size) / 512))  # one pixel at SD 1.5's 512 px, as M-LSD maps are drawn
        for x1, y1, x2, y2 in self.segments(image):
            cv2.line(canvas, (round(x1), round(y1)), (round(x2), round(y2)), 255, thickness, lineType=cv2.LINE_AA)
        return ControlMap(self.kind, Image.fromarray(canvas, "L").convert("RGB"))

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "detector": "cv2.createLineSegmentDetector", "weights": None}
