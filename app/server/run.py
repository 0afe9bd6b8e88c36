"""Starting the API: refuse an exposed address without a token, warm the engine up, run uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import socket

from app.context import AppContext
from app.server.api import ServerOptions, create_app
from common.errors import InvalidInput

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name) is only reachable from this computer."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_options(options: ServerOptions) -> None:
    """Refuse settings that would expose the API or cannot work.

    Raises:
        InvalidInput: a non-loopback address without a token, a short token, a bad port or limit.
    """
    if options.token is not None and len(options.token) < MIN_TOKEN_LENGTH:
        raise InvalidInput(
            f"the token is {len(options.token)} characters long; use at least {MIN_TOKEN_LENGTH} "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`)"
        )
    if not is_loopback(options.host) and options.token is None:
        raise InvalidInput(
            f"--host {options.host} lets other computers reach the API: give a token with --token or ROLLCALL_TOKEN "
            "(or serve on 127.0.0.1)"
        )
    if not 0 < options.port < 65536:
        raise InvalidInput(f"--port {options.port} is not a port; use 1 to 65535 (default 8000)")
    if not options.max_body_mb > 0 or options.rate < 0 or not options.max_megapixels > 0:
        raise InvalidInput("--max-body-mb and --max-megapixels must be above 0, and --rate 0 or more")


def warm_up(ctx: AppContext) -> None:
    """Embed stored crops the backend lacks, load the models and build the gallery before the first request."""
    from app.services.backends import ensure_embeddings

    ensure_embeddings(ctx)
    ctx.engine.detector  # noqa: B018 - loads the detector now
    ctx.engine.embedder  # noqa: B018
    ctx.gallery()


def serve(ctx: AppContext, options: ServerOptions) -> None:
    """Run the API until interrupted (Ctrl+C).

    Raises:
        InvalidInput: see :func:`check_options`, or the port is taken.
    """
    import uvicorn

    check_options(options)
    with socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET) as probe:
        try:
            probe.bind((options.host.strip("[]"), options.port))
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {options.host}:{options.port} ({exc.strerror}); choose another --port") from exc
    warm_up(ctx)
    app = create_app(ctx, options)
    print(f"serving Rollcall on http://{options.host}:{options.port} (API docs at /docs); Ctrl+C stops", flush=True)
    uvicorn.run(app, host=options.host.strip("[]"), port=options.port, log_level="warning", access_log=False)
