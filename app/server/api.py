"""The FastAPI application: identify, verify, people, attendance, health and the TF Serving predict protocol.

Every endpoint calls the same services as the command line and answers with the same JSON (``identify
--json``, ``verify --json``, ``people --json``; attendance as JSON rows or the export's CSV). Errors are
``{"error": "one line"}``: 400 for malformed input, 401 without the token, 404 for an unknown person or model,
409 for a taken id, 413 for a body over the limit, 422 for a photo without exactly one usable face, 429 over
the rate limit, 503 when the database cannot be reached. The face engine is used by one request at a time
(its models are not thread-safe); database reads run in parallel.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import threading
from dataclasses import dataclass, replace
from typing import Any, Optional

from fastapi import Body, FastAPI, File, Form, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.context import AppContext
from app.server import tfserving
from app.server.guards import ASGIApp, BodyLimit, RateLimit, TokenCheck
from app.text import count
from common.errors import (
    BackendUnavailable,
    BadImage,
    DuplicateError,
    InvalidInput,
    MultipleFaces,
    NoFaceFound,
    NotFound,
    RollcallError,
    StorageError,
    WeightsError,
)
from db.records import EventRecord, PersonRecord
from models.matching import Gallery
from models.types import FaceResult, RGBImage

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[RollcallError], int], ...] = (
    (NotFound, 404), (DuplicateError, 409), (NoFaceFound, 422), (MultipleFaces, 422), (BadImage, 400),
    (InvalidInput, 400), (StorageError, 503), (BackendUnavailable, 503), (WeightsError, 503),
)  # fmt: skip
"""HTTP status of each kind of Rollcall error (first match wins; anything else a user caused is 400)."""


@dataclass(frozen=True)
class ServerOptions:
    """How ``serve`` runs.

    Attributes:
        host, port: where to listen (loopback by default). token: required on every request when set.
        max_body_mb: the largest request body. rate, burst: requests per second per client address, and the
            burst allowed above it (``rate`` 0: no limit). max_megapixels: the largest uploaded photo
            (width × height; lower than the app's setting wins), so concurrent uploads cannot exhaust memory.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: Optional[str] = None
    max_body_mb: float = 20.0
    rate: float = 20.0
    burst: int = 40
    max_megapixels: float = 24.0


_DECODE_SLOTS = threading.BoundedSemaphore(4)
"""At most this many photos are decoded at once (each can take width × height × 3 bytes)."""


class GalleryCache:
    """The gallery of the current backend, rebuilt only when the database's change counter moved (someone was
    enrolled, removed or renamed, at this or any other station) or the backend or threshold changed; every
    request costs one primary-key read instead of reading every centroid."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._gallery: Gallery | None = None

    def get(self) -> Gallery:
        """The current gallery."""
        engine = self._ctx.engine
        key = (engine.info.name, engine.threshold, self._ctx.gallery_version())
        with self._lock:
            if self._gallery is None or key != self._key:
                self._gallery, self._key = self._ctx.gallery(), key
            return self._gallery


def create_app(ctx: AppContext, options: ServerOptions = ServerOptions()) -> ASGIApp:
    """The API as an ASGI application, wrapped in the rate, token and body-size guards (in that order)."""
    app = FastAPI(
        title="Rollcall",
        version="1",
        description="Face-recognition attendance: identify, verify, enroll, attendance, and the embedding model "
        "over TensorFlow Serving's REST predict protocol. Errors are {\"error\": \"...\"} with a 4xx status.",
    )
    engine_lock = threading.Lock()
    app.state.gallery = GalleryCache(ctx)
    app.state.max_pixels = min(ctx.config.max_pixels, int(options.max_megapixels * 1_000_000))
    _add_error_handlers(app)
    _add_recognition_routes(app, ctx, engine_lock)
    _add_people_routes(app, ctx, engine_lock)
    _add_attendance_routes(app, ctx)
    _add_model_routes(app, ctx, engine_lock)
    guarded = BodyLimit(app, int(options.max_body_mb * 1_000_000))
    return RateLimit(TokenCheck(guarded, options.token), options.rate, options.burst)


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    """Every error becomes ``{"error": "one line"}``; a user's mistake is never a 500."""

    @app.exception_handler(RollcallError)
    async def rollcall_error(_: Request, exc: RollcallError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        return _error(status, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return _error(400, "; ".join(problems)[:500] or "the request is malformed")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RecursionError)
    async def too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        return _error(400, "the JSON body is nested too deeply; send a crop as H×W×3 lists or {\"b64\": ...}")


def _read_upload(max_pixels: int, upload: UploadFile, index: int) -> tuple[RGBImage, str, str]:
    """Decode one uploaded photo with the guarded loader: ``(image, name, sha256 of the file)``.

    Raises:
        BadImage: empty, truncated, not an image, too many pixels or too small.
    """
    from models.imageio import decode_image

    name = (upload.filename or f"upload {index + 1}")[:200]
    data = upload.file.read()
    with _DECODE_SLOTS:
        return decode_image(data, name, max_pixels), name, hashlib.sha256(data).hexdigest()


def face_json(result: FaceResult) -> dict[str, Any]:
    """One face as ``identify --json`` prints it."""
    m = result.match
    return {"box": result.detection.box.as_list(), "name": m.name, "person_id": m.person_id, "score": round(m.score, 4)}


def person_json(p: PersonRecord) -> dict[str, Any]:
    """One person as ``people --json`` prints it."""
    return {
        "id": p.id, "name": p.name, "external_id": p.external_id, "samples": p.sample_count,
        "created_at": p.created_at.isoformat(), "last_seen": p.last_seen.isoformat() if p.last_seen else None,
    }  # fmt: skip


def event_json(e: EventRecord) -> dict[str, Any]:
    """One attendance row."""
    return {
        "id": e.id, "time": e.time.isoformat(), "name": e.person_name, "person_id": e.person_id,
        "external_id": e.external_id, "session": e.session_name, "source": e.source, "score": e.score,
        "backend": e.backend, "station": e.station,
    }  # fmt: skip


def _add_recognition_routes(app: FastAPI, ctx: AppContext, engine_lock: threading.Lock) -> None:
    from app.services.recognition import identify_image, verify_images

    @app.post("/v1/identify", summary="Name every face in uploaded photos (same JSON as `identify --json`)")
    def identify(image: list[UploadFile] = File(..., description="one or more photos")) -> list[dict[str, Any]]:
        decoded = [_read_upload(app.state.max_pixels, upload, i) for i, upload in enumerate(image)]
        gallery = app.state.gallery.get()  # rebuilt only when someone was enrolled or removed (at any station)
        with engine_lock:
            found = [(name, identify_image(ctx, picture, gallery)) for picture, name, _ in decoded]
        return [{"image": name, "faces": [face_json(r) for r in faces]} for name, faces in found]

    @app.post("/v1/verify", summary="Do two photos show the same person? (same JSON as `verify --json`)")
    def verify(image1: UploadFile = File(...), image2: UploadFile = File(...)) -> dict[str, Any]:
        first, second = _read_upload(app.state.max_pixels, image1, 0), _read_upload(app.state.max_pixels, image2, 1)
        with engine_lock:
            v = verify_images(ctx, first[:2], second[:2])
        return {"same": v.same, "score": round(v.score, 4), "threshold": v.threshold, "metric": v.metric, "backend": v.backend}


def _add_people_routes(app: FastAPI, ctx: AppContext, engine_lock: threading.Lock) -> None:
    @app.get("/v1/people", summary="Everyone enrolled (same JSON as `people --json`)")
    def people() -> list[dict[str, Any]]:
        return [person_json(p) for p in ctx.repo.list_people()]

    @app.post("/v1/people", status_code=201, summary="Enroll a person from photos (one face each; any bad photo stores nothing)")
    def enroll(
        name: str = Form(..., max_length=200),
        external_id: Optional[str] = Form(None, max_length=100),
        photo: list[UploadFile] = File(..., description="photos showing only this person's face"),
    ) -> Response:
        decoded = [_read_upload(app.state.max_pixels, upload, i) for i, upload in enumerate(photo)]
        return _enroll(ctx, engine_lock, name, external_id, decoded)

    @app.delete("/v1/people/{person_id}", summary="Remove a person with their photos and vectors (attendance keeps the name)")
    def remove(person_id: int = Path(..., ge=1, le=2**31 - 1)) -> dict[str, Any]:
        person = ctx.repo.get_person(person_id)
        ctx.repo.remove_person(person_id)
        return {"removed": person_json(person)}


def _enroll(
    ctx: AppContext, engine_lock: threading.Lock, name: str, external_id: Optional[str],
    decoded: list[tuple[RGBImage, str, str]],
) -> Response:
    """Check every decoded photo ``(image, name, sha256)``, then store the new ones for one person (201), or say
    they were all stored already (200)."""
    from app.services.enrollment import candidate_from_image, save_candidates, split_duplicates
    from db._common import clean_external_id, clean_name

    name, external_id = clean_name(name, "name"), clean_external_id(external_id)  # refused before any work
    with engine_lock:
        candidates = [replace(candidate_from_image(ctx.engine, img, src), sha256=sha) for img, src, sha in decoded]
    bad = [c for c in candidates if c.problem]
    if bad:
        more = f" (and {count(len(bad) - 1, 'more rejected photo')})" if len(bad) > 1 else ""
        raise (bad[0].error or BadImage)(f"{bad[0].problem}{more}; nothing was stored")
    fresh, duplicates, owners = split_duplicates(ctx, candidates)
    notes = [note for _, note in duplicates]
    if not fresh:
        owner = ctx.repo.get_person(owners.pop()) if len(owners) == 1 else None
        body = {"person": person_json(owner) if owner else None, "stored": 0, "duplicates": notes}
        return JSONResponse(body, status_code=200)
    person = save_candidates(ctx, name, external_id, fresh)
    return JSONResponse({"person": person_json(person), "stored": len(fresh), "duplicates": notes}, status_code=201)


def _add_attendance_routes(app: FastAPI, ctx: AppContext) -> None:
    from app.cli.common import parse_date
    from app.services.attendance import CSV_HEADER, event_row

    @app.get("/v1/attendance", summary="Attendance rows, filtered by session name and dates (JSON or the export's CSV)")
    def attendance(
        session: Optional[str] = Query(None, description="session name"),
        start: Optional[str] = Query(None, alias="from", description="YYYY-MM-DD or ISO date-time (server's local time)"),
        end: Optional[str] = Query(None, alias="to", description="up to and including this date"),
        format: str = Query("json", pattern="^(json|csv)$"),
    ) -> Response:
        session_id = None
        if session:
            match = [s for s in ctx.repo.list_sessions() if s.name == session]
            if not match:
                raise NotFound(f"no session named {session[:80]!r}; GET /v1/attendance without it lists every row")
            session_id = match[0].id
        try:
            first, last = parse_date(start), parse_date(end, end=True)
        except (ValueError, OverflowError):  # a date at the end of the calendar
            raise InvalidInput(f"the dates {start!r} to {end!r} are out of range; use YYYY-MM-DD") from None
        events = ctx.repo.list_events(session_id=session_id, start=first, end=last)
        if format == "json":
            return JSONResponse([event_json(e) for e in events])
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        writer.writerows(event_row(e) for e in events)
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8")

    @app.get("/v1/health", summary="Is the server ready: database reachable, which backend and station")
    def health() -> JSONResponse:
        try:
            version = ctx.gallery_version()
        except StorageError as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({
            "status": "ok", "station": ctx.config.station, "database": ctx.database.kind,
            "backend": ctx.config.engine.backend, "gallery_version": version,
        })  # fmt: skip


def _add_model_routes(app: FastAPI, ctx: AppContext, engine_lock: threading.Lock) -> None:
    from models.embedders.base import PairScorer, l2_normalise

    def check_name(name: str) -> None:
        if name != ctx.engine.info.name:
            raise NotFound(f"Servable not found for request: Latest({name[:80]}); this server serves {ctx.engine.info.name!r}")

    @app.get("/v1/models/{name}", summary="TF Serving: model status")
    def status(name: str) -> dict[str, Any]:
        check_name(name)
        return tfserving.model_status()

    @app.get("/v1/models/{name}/metadata", summary="TF Serving: signature (input crop size, embedding length)")
    def metadata(name: str) -> dict[str, Any]:
        check_name(name)
        info = ctx.engine.info
        return tfserving.model_metadata(name, info.input_size, info.dim)

    @app.post("/v1/models/{name}:predict", summary="TF Serving: embed aligned face crops")
    def predict(name: str, body: Any = Body(...)) -> dict[str, Any]:
        check_name(name)
        pairs = tfserving.parse_pairs(body, ctx.engine.info.input_size, app.state.max_pixels)
        if pairs is not None:
            with engine_lock:
                scorer = ctx.engine.embedder
                if isinstance(scorer, PairScorer):  # a Siamese backend: one probability per pair
                    return {"predictions": [[float(x)] for x in scorer.pair_probability(*pairs)]}
        crops, kind = tfserving.parse_request(body, ctx.engine.info.input_size, app.state.max_pixels)
        with engine_lock:
            vectors = l2_normalise(ctx.engine.embedder.embed(crops))
        return {"predictions" if kind == "instances" else "outputs": vectors.tolist()}
