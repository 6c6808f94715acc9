"""Stable Diffusion 1.5 throughput on a GPU: images/s at 512 px, fp16, SDPA, channels_last.

Builds SD 1.5 at its real size with random weights (bench/sd15_arch.py:
compute does not depend on the weights' values), so no model download is
needed, and measures ``StableDiffusionPipeline`` end to end (text encoding,
the denoising loop with classifier-free guidance, VAE decode) for 1, 4 and 20
steps at batch 1 and 4. Attention runs through PyTorch's
``scaled_dot_product_attention`` (diffusers' ``AttnProcessor2_0``); UNet and
VAE are in ``channels_last`` memory format. One warm-up call per batch size
(cuDNN picks its kernels), then ``--runs`` timed calls each, synchronised.
Prints the device, the versions, a table and one JSON line. Stops starting new
measurements when ``--time-limit`` seconds are used up (the rest are listed
as skipped), so it fits a lent machine's minutes.

    python bench/gpu_sd15.py                          # CUDA, fp16, 512 px, the full matrix
    python bench/gpu_sd15.py --device cpu --tiny      # smoke run of the same code on the CPU (seconds)

Needs torch (a CUDA build for the GPU run), diffusers and transformers; the
repository's ``src`` is put on the path for the offline tokenizer.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sd15_arch import build_pipeline, parameter_count  # noqa: E402


def describe_device(device: str) -> dict[str, object]:
    import diffusers
    import torch
    import transformers

    info: dict[str, object] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "device": device,
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            compute_capability=f"{props.major}.{props.minor}",
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    else:
        info.update(cpu=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    return info


def prepare(pipe, *, sdpa: bool, channels_last: bool) -> None:
    """SDPA attention and channels_last memory format on the UNet and VAE."""
    import torch
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    pipe.unet.set_attn_processor(AttnProcessor2_0() if sdpa else AttnProcessor())
    pipe.vae.set_attn_processor(AttnProcessor2_0() if sdpa else AttnProcessor())
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    pipe.unet.to(memory_format=fmt)
    pipe.vae.to(memory_format=fmt)


def timed_call(pipe, *, steps: int, batch: int, size: int, device: str) -> float:
    """Seconds for one pipeline call producing ``batch`` images (device synchronised)."""
    import torch

    generator = torch.Generator("cpu").manual_seed(0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    started = time.perf_counter()
    with torch.inference_mode():
        pipe(
            ["a bright scandinavian living room, oak floor, large windows"] * batch,
            negative_prompt=["blurry, distorted"] * batch,
            num_inference_steps=steps,
            guidance_scale=7.5,
            width=size,
            height=size,
            generator=generator,
            output_type="np",
        )
    sync()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument(
        "--dtype",
        default=None,
        choices=["float16", "bfloat16", "float32"],
        help="default: float16 on CUDA, float32 on CPU",
    )
    parser.add_argument("--tiny", action="store_true", help="the tiny test architecture (smoke run)")
    parser.add_argument("--size", type=int, default=None, help="pixels per side (default 512; 64 with --tiny)")
    parser.add_argument("--steps", default="1,4,20", help="comma-separated step counts")
    parser.add_argument("--batch", default="1,4", help="comma-separated batch sizes")
    parser.add_argument("--runs", type=int, default=3, help="timed calls per cell")
    parser.add_argument("--time-limit", type=float, default=480.0, help="seconds; no new measurement starts after it")
    parser.add_argument("--no-sdpa", action="store_true", help="classic attention instead of SDPA")
    parser.add_argument("--no-channels-last", action="store_true", help="contiguous memory format")
    args = parser.parse_args()

    import torch

    begun = time.monotonic()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_sd15: --device {args.device} but torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        return 2
    dtype = (
        getattr(torch, args.dtype)
        if args.dtype
        else (torch.float16 if args.device.startswith("cuda") else torch.float32)
    )
    size = args.size or (64 if args.tiny else 512)
    steps_list = [int(s) for s in args.steps.split(",")]
    batches = [int(b) for b in args.batch.split(",")]
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True

    info = describe_device(args.device)
    info.update(dtype=str(dtype).removeprefix("torch."), size=size, architecture="tiny" if args.tiny else "SD 1.5 (random weights)",
                sdpa=not args.no_sdpa, channels_last=not args.no_channels_last)  # fmt: skip
    for key, value in info.items():
        print(f"{key}: {value}")

    t0 = time.monotonic()
    pipe = build_pipeline(tiny=args.tiny, device=args.device, dtype=dtype)
    prepare(pipe, sdpa=not args.no_sdpa, channels_last=not args.no_channels_last)
    params = parameter_count(pipe)
    print(
        f"built in {time.monotonic() - t0:.1f} s; parameters: "
        + ", ".join(f"{k} {v / 1e6:.1f} M" for k, v in params.items())
    )

    rows: list[dict[str, object]] = []
    skipped: list[str] = []
    print(f"\n{'batch':>5} {'steps':>5} {'s/call':>9} {'img/s':>8} {'s/step':>8} {'peak GiB':>9}")
    for batch in batches:
        warm = False
        for steps in steps_list:
            cell = f"batch {batch} x {steps} steps"
            if time.monotonic() - begun > args.time_limit:
                skipped.append(cell)
                continue
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats(args.device)
            try:
                if not warm:
                    timed_call(pipe, steps=1, batch=batch, size=size, device=args.device)
                    warm = True
                times = [
                    timed_call(pipe, steps=steps, batch=batch, size=size, device=args.device) for _ in range(args.runs)
                ]
            except torch.OutOfMemoryError as exc:
                skipped.append(f"{cell} (out of memory: {str(exc).splitlines()[0]})")
                torch.cuda.empty_cache()
                continue
            best = min(times)
            peak = torch.cuda.max_memory_allocated(args.device) / 2**30 if args.device.startswith("cuda") else None
            row = {"batch": batch, "steps": steps, "seconds_per_call": round(best, 4), "images_per_second": round(batch / best, 3),
                   "seconds_per_step": round(best / steps, 4), "peak_gib": peak and round(peak, 2), "runs": args.runs}  # fmt: skip
            rows.append(row)
            print(
                f"{batch:>5} {steps:>5} {best:>9.3f} {batch / best:>8.2f} {best / steps:>8.3f} {'-' if peak is None else f'{peak:.2f}':>9}"
            )
    for cell in skipped:
        print(f"skipped (time limit or memory): {cell}")
    print(f"total {time.monotonic() - begun:.1f} s")
    print("JSON " + json.dumps({"info": info, "results": rows, "skipped": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
