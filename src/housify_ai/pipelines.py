"""Loading the operator's diffusion model: a diffusers folder or a single-file checkpoint,
Stable Diffusion 1.x/2.x or SDXL, and LoRA style adapters (diffusers).

* A folder is read as its ``model_index.json`` says (``_class_name``): the
  SD or SDXL family, and whether its UNet is a dedicated 9-channel inpainting
  UNet (then it only inpaints). The text2img pipeline of that family is the
  base every task derives from with ``from_pipe``.
* A single ``.safetensors`` / ``.ckpt`` file (the original LDM layout most
  fine-tunes ship in) is loaded with ``from_single_file(path,
  config=HOUSIFY_AI_DIFFUSION_CONFIG)``: the config is a local diffusers folder
  of the same architecture (``model_index.json`` and each component's config;
  its weights are not read), so nothing is fetched from a hub.
* LoRA adapters (``HOUSIFY_AI_LORAS``: ``name[@levels]=path[@weight]``) are loaded once
  with ``load_lora_weights(path, adapter_name=name)`` and switched per job with
  ``set_adapters`` (peft backend).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from housify_ai.errors import ModelLoadError

if TYPE_CHECKING:
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from PIL import Image

MODEL_SETTING = "HOUSIFY_AI_DIFFUSION_MODEL"
CONFIG_SETTING = "HOUSIFY_AI_DIFFUSION_CONFIG"
LORA_SETTING = "HOUSIFY_AI_LORAS"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
ALL_TASKS = ("text2img", "img2img", "inpaint")


# diffusers' package-level names (``diffusers.StableDiffusionPipeline``, ...) are typed as its import
# placeholders, and ``from_pretrained`` / ``from_single_file`` / ``from_pipe`` return untyped objects,
# so the parts of a pipeline Housify uses are declared here.
class PipelineOutput(Protocol):
    """A pipeline call's result with ``output_type="pil"``."""

    images: list[Image.Image]


class Pipeline(Protocol):
    """A diffusers pipeline of one task (text2img, img2img, inpaint; with or without ControlNet)."""

    def __call__(self, **kwargs: Any) -> PipelineOutput: ...

    def set_progress_bar_config(self, **kwargs: Any) -> None: ...


class BasePipeline(Pipeline, Protocol):
    """The loaded base pipeline (:func:`load_base_pipeline`) whose modules every task's pipeline shares."""

    unet: UNet2DConditionModel
    scheduler: Any
    components: dict[str, Any]

    def to(self, device: torch.device) -> BasePipeline: ...

    def load_lora_weights(self, folder: str, *, weight_name: str, adapter_name: str) -> None: ...

    def enable_lora(self) -> None: ...

    def disable_lora(self) -> None: ...

    def set_adapters(self, adapter_names: list[str], adapter_weights: list[float]) -> None: ...


@dataclass(frozen=True)
class ModelInfo:
    """What ``model_index.json`` says: ``family`` ``sd`` or ``sdxl``, the pipeline class, the tasks it can run."""

    family: str
    class_name: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class LoraSpec:
    """One offered LoRA adapter: ``name`` (what jobs ask for), ``path`` (a ``.safetensors`` file), default
    ``weight``, and the subscription ``levels`` it is offered to (empty: every level)."""

    name: str
    path: Path
    weight: float = 1.0
    levels: tuple[str, ...] = ()


def read_model_info(folder: Path, setting: str = MODEL_SETTING) -> ModelInfo:
    """The family and tasks of a diffusers pipeline folder.

    Raises:
        ModelLoadError: naming ``setting`` when there is no readable ``model_index.json``
            or it names a pipeline that is neither Stable Diffusion nor SDXL.
    """
    index = Path(folder) / "model_index.json"
    try:
        class_name = str(json.loads(index.read_text())["_class_name"])
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"{setting}={folder}: not a diffusers pipeline folder (no readable model_index.json: {exc})"
        ) from None
    if not class_name.startswith("StableDiffusion"):
        raise ModelLoadError(f"{setting}={folder}: {class_name} is not a Stable Diffusion 1.x/2.x or SDXL pipeline")
    family = "sdxl" if class_name.startswith("StableDiffusionXL") else "sd"
    unet_config = Path(folder) / "unet" / "config.json"
    in_channels = 4
    if unet_config.is_file():
        in_channels = int(json.loads(unet_config.read_text()).get("in_channels", 4))
    tasks = ("inpaint",) if in_channels == 9 else ALL_TASKS  # a 9-channel inpainting UNet cannot draw from noise alone
    return ModelInfo(family=family, class_name=class_name, tasks=tasks)


def _base_class(info: ModelInfo) -> Any:
    import diffusers

    if info.tasks == ("inpaint",):
        return diffusers.AutoPipelineForInpainting
    return diffusers.StableDiffusionXLPipeline if info.family == "sdxl" else diffusers.StableDiffusionPipeline


def load_base_pipeline(path: Path, dtype: torch.dtype, config: Path | None = None) -> tuple[BasePipeline, ModelInfo]:
    """The base pipeline of ``path`` (folder or single file) in ``dtype``, on the CPU, and its :class:`ModelInfo`.

    Raises:
        ModelLoadError: naming the setting at fault.
    """
    path = Path(path)
    if path.is_file() and path.suffix in SINGLE_FILE_SUFFIXES:
        if config is None:
            raise ModelLoadError(
                f"{MODEL_SETTING}={path} is a single-file checkpoint: set {CONFIG_SETTING} to a local diffusers "
                "folder of the same architecture (model_index.json + component configs) so nothing is fetched"
            )
        info = read_model_info(config, CONFIG_SETTING)
        cls = _base_class(info)
        if info.tasks == ("inpaint",):
            import diffusers

            cls = (
                diffusers.StableDiffusionXLInpaintPipeline
                if info.family == "sdxl"
                else diffusers.StableDiffusionInpaintPipeline
            )
        try:
            pipe: BasePipeline = cls.from_single_file(
                str(path), config=str(config), torch_dtype=dtype, local_files_only=True
            )
        except Exception as exc:
            raise ModelLoadError(
                f"{MODEL_SETTING}={path}: cannot load the checkpoint with config {config}: {exc}"
            ) from exc
        return pipe, info
    if not path.is_dir():
        raise ModelLoadError(
            f"{MODEL_SETTING}={path}: not a diffusers pipeline folder (no model_index.json) "
            f"nor a {'/'.join(SINGLE_FILE_SUFFIXES)} checkpoint file; "
            "run `housify-ai models build-tiny DIR` or see docs/ai-server.md"
        )
    info = read_model_info(path)
    try:
        pipe = _base_class(info).from_pretrained(str(path), dtype=dtype, local_files_only=True)
    except Exception as exc:  # corrupt weights, wrong config, missing component...
        raise ModelLoadError(f"{MODEL_SETTING}={path}: cannot load the pipeline: {exc}") from exc
    return pipe, info


def parse_loras(entries: list[str]) -> list[LoraSpec]:
    """``HOUSIFY_AI_LORAS`` entries -> :class:`LoraSpec` s.

    An entry is ``name=path``, ``name=path@weight`` or, offered to some levels
    only, ``name@Level1|Level2=path[@weight]``:
    ``["watercolor=/m/wc.safetensors@0.8", "marble@Pro-Tier=/m/marble.safetensors"]``.

    Raises:
        ModelLoadError: naming ``HOUSIFY_AI_LORAS`` for a malformed entry, a
            repeated name or a file that is not there.
    """
    specs: list[LoraSpec] = []
    for entry in entries:
        head, sep, rest = entry.partition("=")
        name, _, levels = head.strip().partition("@")
        path, _, weight = rest.rpartition("@") if "@" in rest else (rest, "", "")
        path = path.strip()
        if not sep or not name or not path or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 64:
            raise ModelLoadError(
                f"{LORA_SETTING}: {entry!r} is not name[@levels]=path[@weight] (name: letters, digits, - and _)"
            )
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise ModelLoadError(f"{LORA_SETTING}: {entry!r}: weight {weight!r} is not a number") from None
        if any(s.name == name for s in specs):
            raise ModelLoadError(f"{LORA_SETTING}: adapter name {name!r} given twice")
        if not Path(path).is_file():
            raise ModelLoadError(f"{LORA_SETTING}: {name}={path}: no such file")
        allowed = tuple(level.strip() for level in levels.split("|") if level.strip())
        specs.append(LoraSpec(name=name, path=Path(path), weight=value, levels=allowed))
    return specs


def load_loras(pipe: BasePipeline, loras: list[LoraSpec]) -> None:
    """Load each adapter into ``pipe`` (disabled until a job picks it).

    Raises:
        ModelLoadError: naming ``HOUSIFY_AI_LORAS`` when an adapter does not fit the model.
    """
    for lora in loras:
        try:
            pipe.load_lora_weights(str(lora.path.parent), weight_name=lora.path.name, adapter_name=lora.name)
        except Exception as exc:
            raise ModelLoadError(f"{LORA_SETTING}: {lora.name}={lora.path}: cannot load the LoRA: {exc}") from exc
    if loras:
        pipe.disable_lora()
