"""What every request passes before it reaches an endpoint: the token, the rate per client and the body size.

They are plain ASGI middleware, so a refused request never reaches FastAPI's body parsing. Refusals are JSON
``{"error": "..."}`` with a 4xx status, like every other error of the API.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(send: Send, status: int, text: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer ``{"error": text}`` with ``status``."""
    body = json.dumps({"error": text}).encode("utf-8")
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    """The body grew past the limit while it was being read."""


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, by their Content-Length or while reading a chunked body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"the request is larger than {self.limit / 1e6:g} MB; send a smaller photo or fewer at once"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await send_error(send, 413, message)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            incoming = await receive()
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return incoming

        async def tracking_send(outgoing: Message) -> None:
            nonlocal started
            started = started or outgoing["type"] == "http.response.start"
            await send(outgoing)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await send_error(send, 413, message)


class RateLimit:
    """A token bucket per client address: ``rate`` requests per second on average, bursts up to ``burst``.

    ``rate <= 0`` turns the limit off. Over the limit a client gets 429 with ``Retry-After``.
    """

    def __init__(self, app: ASGIApp, rate: float, burst: int) -> None:
        self.app = app
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _take(self, client: str) -> float:
        """Take one token for ``client``; returns 0 when allowed, else the seconds until one is free."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if len(self._buckets) > 10_000:  # forget idle clients so the table stays small
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self._take(client)
        if wait > 0:
            retry = str(max(1, math.ceil(wait))).encode()
            await send_error(
                send, 429, f"too many requests from {client}: at most {self.rate:g} per second; retry in {retry.decode()} s",
                ((b"retry-after", retry),),
            )  # fmt: skip
            return
        await self.app(scope, receive, send)


class TokenCheck:
    """When a token is set, every request must carry it as ``Authorization: Bearer TOKEN`` (401 otherwise)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, value = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
            what = "a wrong token" if given else "no token"
            await send_error(
                send, 401, f"this server needs a token and the request had {what}; send 'Authorization: Bearer TOKEN'",
                ((b"www-authenticate", b"Bearer"),),
            )  # fmt: skip
            return
        await self.app(scope, receive, send)
