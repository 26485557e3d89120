"""Start the server (the app at `/`, the API at `/api`), announce it, and shut it down cleanly.

One process, one uvicorn: SIGTERM or Ctrl+C stops new requests, lets the running index job
stop at its next batch (it resumes on the next start), closes the database (Milvus Lite's
server process with it) and removes the server file.
"""

from __future__ import annotations

import asyncio
import faulthandler
import ipaddress
import logging
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

from app.context import Context
from app.errors import CliError

log = logging.getLogger(__name__)

APP_SCRIPT = Path(__file__).resolve().parents[1] / "streamlit_app.py"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configure_streamlit(max_upload_mb: float) -> None:
    """The app's Streamlit options: headless, no usage stats, no "Deploy" in the toolbar."""
    from streamlit import config

    for key, value in (
        ("server.headless", True),
        ("browser.gatherUsageStats", False),
        ("client.toolbarMode", "viewer"),
        ("server.maxUploadSize", max(1, int(max_upload_mb))),
        ("server.fileWatcherType", "none"),
    ):
        config.set_option(key, value, where_defined="mmsearch serve")


def build_app(ctx: Context, local_token: str) -> Any:
    """The ASGI app: Streamlit's pages with the API mounted at /api, behind the token check."""
    import streamlit as st
    from starlette.middleware import Middleware
    from starlette.routing import Mount

    from app.server import runtime
    from app.server.api import create_api
    from app.server.auth import TokenMiddleware

    api = create_api(lambda: ctx, lambda: runtime.installed_jobs())  # type: ignore[arg-type, return-value]
    token = ctx.settings.api_token.get_secret_value() if ctx.settings.api_token else None
    configure_streamlit(ctx.settings.upload_max_mb)
    return st.App(
        str(APP_SCRIPT),
        routes=[Mount("/api", app=api)],
        middleware=[Middleware(TokenMiddleware, api_token=token, local_token=local_token)],
    )


def serve(ctx: Context, host: str = "127.0.0.1", port: int = 8501) -> int:
    """Serve until SIGTERM/Ctrl+C; returns the exit code."""
    import uvicorn

    from app.server import discovery, runtime

    settings = ctx.settings
    if not is_loopback(host) and not settings.api_token:
        raise CliError(
            f"serving on {host} lets other machines in: set a token first (MMSEARCH_API_TOKEN or api_token in "
            "mmsearch.toml), or serve on 127.0.0.1"
        )
    running = discovery.find_running(settings)
    if running is not None:
        raise CliError(f"{settings.db} is already served at {running.url} (process {running.pid})")
    warm_up(ctx)
    local_token = secrets.token_urlsafe(24)
    jobs = runtime.make_jobs(ctx)
    runtime.install(ctx, jobs)
    app = build_app(ctx, local_token)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5, ws="auto"))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            discovery.announce(settings, f"http://{'127.0.0.1' if not is_loopback(host) else shown}:{port}", local_token)
            sys.stderr.write(f"mmsearch: serving {settings.db} at {url}  (API: {url}/api/docs; Ctrl+C to stop)\n")
            sys.stderr.flush()
        await task

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every thread's stack, for a stuck server
    # uvicorn stops on SIGINT/SIGTERM, then re-raises the signal to the handler it found: make
    # that one return, so the clean-up below runs instead of the process dying on the spot.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: log.info("stopping on signal %s", signum))
    try:
        asyncio.run(main())
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        if not server.started:
            raise CliError(f"cannot listen on {host}:{port} (is the port in use?)") from None
        raise exc
    finally:
        jobs.shutdown(timeout=10.0)  # a batch normally ends sooner; past that the job resumes on the next start
        runtime.uninstall()
        discovery.withdraw(settings)
        close_store(ctx)
    sys.stderr.write("mmsearch: stopped\n")
    return 0


def warm_up(ctx: Context) -> None:
    """Open the database and load the profile's photo and text models before serving: the first
    query is then as fast as the rest, and no two threads import torch's modules at once (an
    index job's decoding threads and a page once deadlocked on Python's import locks doing so)."""
    from encoders import get_encoder

    sys.stderr.write("mmsearch: opening the database and loading the models…\n")
    ctx.store  # noqa: B018 (opens it)
    p = ctx.profile
    for encoder_id in dict.fromkeys([*p.image_encoders, p.text_to_image, *p.fills("product"), *p.fills("video")]):
        try:
            get_encoder(encoder_id, ctx.device).load()
        except Exception as exc:  # a model that cannot load is reported when used, as in the CLI
            log.warning("could not load %s now: %s", encoder_id, exc)


def close_store(ctx: Context) -> None:
    """Close the database (for Milvus Lite: stop its server process, free the file)."""
    from milvus.client import close

    if "store" in ctx.__dict__:  # never opened: nothing to close
        close(ctx.settings.db)
