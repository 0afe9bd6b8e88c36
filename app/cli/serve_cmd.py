"""``serve``: the REST API (see app/server)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the REST API (identify, verify, people, attendance, TF Serving predict); docs at /docs",
        description="Runs the REST API. Another address than 127.0.0.1 needs a token (--token or ROLLCALL_TOKEN), "
        "sent by clients as 'Authorization: Bearer TOKEN'.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--token", help="require this token on every request (default: env ROLLCALL_TOKEN)")
    p.add_argument("--max-body-mb", type=float, default=20.0, help="largest request body in MB (default 20)")
    p.add_argument("--max-megapixels", type=float, default=24.0, help="largest uploaded photo in megapixels (default 24)")
    p.add_argument("--rate", type=float, default=20.0, help="requests per second per client, 0 = no limit (default 20)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.server.api import ServerOptions
    from app.server.run import serve

    token = args.token or os.environ.get("ROLLCALL_TOKEN") or None
    rate = args.rate
    options = ServerOptions(args.host, args.port, token, args.max_body_mb, rate, max(1, int(rate * 2)), args.max_megapixels)
    serve(ctx, options)
    return 0
