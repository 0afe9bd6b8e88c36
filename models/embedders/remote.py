"""Embeddings from a model server speaking TensorFlow Serving's REST predict protocol.

``RemoteEmbedder`` keeps the local backend's contract (its :class:`EmbedderInfo`: input size, alignment,
metric, threshold), aligns crops locally as that backend does and sends them to
``URL:predict`` as ``{"instances": [...]}`` in batches, so the vectors are stored and matched under the
backend's own name. Works against ``python main.py serve`` on another computer or any TF Serving that serves a
model taking the same crops. Connection failures and 5xx answers are retried with back-off; then, or on a 4xx
answer, :class:`~common.errors.BackendUnavailable` says what failed and what to do.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import BackendUnavailable
from models.embedders.base import EmbedderInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteOptions:
    """How to talk to the model server.

    Attributes:
        url: the model's address, ``http://HOST:PORT/v1/models/NAME``. batch: crops per request.
        timeout_s: per request. retries: further tries after a failure, waiting ``backoff_s`` × 2^k between.
        token: sent as ``Authorization: Bearer TOKEN`` when set.
    """

    url: str
    batch: int = 16
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 0.5
    token: str | None = None


def check_url(url: str) -> str:
    """``url`` without a trailing slash, if it names a model (``http(s)://HOST[:PORT]/v1/models/NAME``).

    Raises:
        BackendUnavailable: another shape of URL.
    """
    clean = url.strip().rstrip("/")
    head, _, name = clean.rpartition("/v1/models/")
    if not clean.startswith(("http://", "https://")) or not head or not name or "/" in name:
        raise BackendUnavailable(
            f"--remote-url {url!r} does not name a model; use http://HOST:PORT/v1/models/NAME (e.g. .../v1/models/dlib)"
        )
    return clean


def model_name(url: str) -> str:
    """The NAME in ``.../v1/models/NAME``."""
    return check_url(url).rpartition("/")[2]


class RemoteEmbedder:
    """An :class:`~models.embedders.base.Embedder` whose network runs on a model server."""

    def __init__(self, info: EmbedderInfo, options: RemoteOptions) -> None:
        import httpx

        self.info = info
        self.options = RemoteOptions(**{**options.__dict__, "url": check_url(options.url)})
        headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
        self._client = httpx.Client(timeout=options.timeout_s, headers=headers)

    def embed(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        """``(N, info.dim)`` vectors of ``(N, H, W, 3)`` aligned crops, ``batch`` crops per request.

        Raises:
            BackendUnavailable: the server is down, refuses the request or answers something else.
        """
        if len(crops) == 0:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        parts = [self._predict(crops[i : i + self.options.batch]) for i in range(0, len(crops), self.options.batch)]
        return np.concatenate(parts).astype(np.float32)

    def _predict(self, crops: NDArray[np.uint8]) -> NDArray[np.float32]:
        body = {"instances": np.asarray(crops, dtype=np.uint8).tolist()}
        answer = self._post(body)
        try:
            vectors = np.asarray(answer["predictions"], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise BackendUnavailable(f"the model server at {self.options.url} did not answer with predictions") from None
        if vectors.shape != (len(crops), self.info.dim):
            raise BackendUnavailable(
                f"the model server at {self.options.url} answered vectors of shape {list(vectors.shape)}, "
                f"not {len(crops)}×{self.info.dim}; it serves another model than {self.info.name!r}"
            )
        return vectors

    def _post(self, body: dict[str, Any]) -> Any:
        """POST to ``URL:predict``, retrying connection failures and 5xx answers with exponential back-off."""
        import httpx

        url = f"{self.options.url}:predict"
        problem = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                time.sleep(self.options.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post(url, json=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                log.warning("model server %s: %s (try %d)", self.options.url, problem, attempt + 1)
                continue
            if response.status_code < 400:
                return response.json()
            problem = _error_text(response)
            if response.status_code < 500 and response.status_code != 429:
                raise BackendUnavailable(f"the model server at {self.options.url} refused the crops: {problem}")
        raise BackendUnavailable(
            f"the model server at {self.options.url} is not answering ({problem}) after {self.options.retries + 1} "
            "tries; start it (`python main.py serve` or TensorFlow Serving) or check --remote-url"
        )


def _error_text(response: Any) -> str:
    """The server's ``{"error": ...}`` text, else the status line."""
    try:
        return f"{response.status_code} {response.json()['error']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} {response.reason_phrase}"
