"""Control images: the straight-line map (OpenCV LSD), M-LSD, depth and segmentation detectors,
on tiny random models written by ``housify-ai models build-tiny`` (the ``tiny_models`` fixture)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from housify_ai.control.ade20k import ADE20K_LABELS, ADE20K_PALETTE, DEFAULT_KEEP
from housify_ai.errors import ModelLoadError


def room_photo(width: int = 128, height: int = 96) -> Image.Image:
    """A light 'room' with a dark window frame: straight edges at known places."""
    image = Image.new("RGB", (width, height), (215, 210, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 20, 88, 70), outline=(20, 20, 20), width=3)
    draw.line((0, 85, width - 1, 85), fill=(60, 50, 40), width=3)  # the floor line
    return image


def test_lines_follow_the_straight_edges_and_nothing_else() -> None:
    from housify_ai.control.lines import LineDetector

    photo = room_photo()
    result = LineDetector().detect(photo)
    lines = np.asarray(result.image)
    assert result.kind == "lines"
    assert result.image.size == photo.size
    assert result.mask is None
    assert lines.shape == (96, 128, 3)
    assert (lines[..., 0] == lines[..., 1]).all()
    white = lines[..., 0] > 127
    # Every edge of the frame and the floor line carry line pixels...
    assert white[18:23, 45:84].any()
    assert white[67:73, 45:84].any()
    assert white[25:66, 38:43].any()
    assert white[25:66, 86:91].any()
    assert white[82:89, 10:120].sum() > 40  # floor
    # ...and the flat wall and the window pane none.
    assert not white[30:60, 50:78].any()
    assert not white[2:14, 2:36].any()


def test_a_flat_picture_has_no_lines() -> None:
    from housify_ai.control.lines import LineDetector

    flat = Image.new("RGB", (64, 48), (128, 128, 128))
    assert LineDetector().segments(flat) == []
    assert not np.asarray(LineDetector().detect(flat).image).any()


def test_mlsd_loads_local_weights_and_draws_a_map_of_the_photo_size(tiny_models: Path) -> None:
    if importlib.util.find_spec("controlnet_aux") is None:
        pytest.skip("controlnet-aux not installed (scripts/bootstrap installs it)")
    from housify_ai.control.mlsd import MLSDLineDetector

    detector = MLSDLineDetector(tiny_models / "tiny-mlsd")
    result = detector.detect(room_photo())
    assert result.kind == "mlsd"
    assert result.image.size == (128, 96)
    assert result.image.mode == "RGB"
    assert detector.describe()["path"] == str(tiny_models / "tiny-mlsd")


def test_mlsd_without_weights_names_the_setting(tmp_path: Path) -> None:
    from housify_ai.control.mlsd import MLSDLineDetector

    with pytest.raises(ModelLoadError, match=r"HOUSIFY_AI_MLSD_MODEL=.*mlsd_large_512_fp32\.pth"):
        MLSDLineDetector(tmp_path)


def test_depth_map_is_the_models_depth_stretched_near_bright(tiny_models: Path) -> None:
    from housify_ai.control.depth import DepthDetector

    detector = DepthDetector(tiny_models / "tiny-dpt")
    photo = room_photo()
    depth = detector.depth(photo).double().numpy()
    grey = np.asarray(detector.detect(photo).image)[..., 0].astype(int)
    assert depth.shape == (96, 128)
    assert grey.shape == (96, 128)
    assert grey.min() == 0
    assert grey.max() == 255
    expected = np.round((depth - depth.min()) / (depth.max() - depth.min()) * 255)
    assert np.abs(grey - expected).max() <= 1
    assert grey.flat[depth.argmax()] == 255
    assert grey.flat[depth.argmin()] == 0


@pytest.mark.parametrize(("setting", "module", "cls"), [
    ("HOUSIFY_AI_DEPTH_MODEL", "depth", "DepthDetector"),
    ("HOUSIFY_AI_SEGMENTATION_MODEL", "segmentation", "SegmentationDetector"),
])  # fmt: skip
def test_a_missing_model_folder_names_its_setting(tmp_path: Path, setting: str, module: str, cls: str) -> None:
    detector = getattr(importlib.import_module(f"housify_ai.control.{module}"), cls)
    with pytest.raises(ModelLoadError, match=f"{setting}=.*no config.json"):
        detector(tmp_path / "absent")


def test_keep_names_resolve_to_ade20k_ids_with_synonyms() -> None:
    from housify_ai.control.segmentation import keep_ids

    labels = dict(enumerate(ADE20K_LABELS))
    assert keep_ids(["Wall", "window", "floor"], labels) == {0, 8, 3}
    assert keep_ids(["window"], {0: "windowpane;window", 1: "door"}) == {0}
    assert len(keep_ids(DEFAULT_KEEP, labels)) == len(DEFAULT_KEEP)
    with pytest.raises(ModelLoadError, match=r"HOUSIFY_AI_SEGMENTATION_KEEP: 'balcony' not among"):
        keep_ids(["wall", "balcony"], labels)


def _segmenter_that_sees(tiny_models: Path, label: str, keep: tuple[str, ...]):
    """The tiny Segformer with its classifier set so that every pixel is ``label``."""
    import torch

    from housify_ai.control.segmentation import SegmentationDetector

    detector = SegmentationDetector(tiny_models / "tiny-segformer", keep=keep)
    classifier = detector.model.decode_head.classifier
    with torch.no_grad():
        classifier.weight.zero_()
        classifier.bias.fill_(-1.0)
        classifier.bias[ADE20K_LABELS.index(label)] = 1.0
    return detector


def test_segmentation_mask_keeps_the_keep_classes(tiny_models: Path) -> None:
    photo = room_photo()
    walls = _segmenter_that_sees(tiny_models, "wall", DEFAULT_KEEP).detect(photo)
    assert walls.mask is not None
    assert walls.mask.size == photo.size
    assert walls.mask.mode == "L"
    assert not np.asarray(walls.mask).any()  # all wall: nothing may change
    assert (np.asarray(walls.image) == ADE20K_PALETTE[0]).all()  # wall's ADE20K colour
    sofas = _segmenter_that_sees(tiny_models, "sofa", DEFAULT_KEEP).detect(photo)
    assert (np.asarray(sofas.mask) == 255).all()  # all furniture: everything may change
    assert (np.asarray(sofas.image) == ADE20K_PALETTE[ADE20K_LABELS.index("sofa")]).all()


def test_segmentation_map_and_mask_agree_with_the_labels(tiny_models: Path) -> None:
    from housify_ai.control.segmentation import SegmentationDetector

    detector = SegmentationDetector(tiny_models / "tiny-segformer", keep=("wall", "floor", "window"))
    photo = room_photo()
    labels = detector.labels(photo)
    result = detector.detect(photo)
    assert labels.shape == (96, 128)
    kept = np.isin(labels, [0, 3, 8])
    assert ((np.asarray(result.mask) == 0) == kept).all()
    assert (np.asarray(result.image) == np.asarray(ADE20K_PALETTE, dtype=np.uint8)[labels]).all()
