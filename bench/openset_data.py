"""Data for the 1:N open-set benchmark (``bench_openset.py``): which lfw-dev photos play which role, and a
resumable cache of their detections and embeddings.

Roles (every identity goes to exactly one half, chosen by a hash of its name, so the TUNING half and the
REPORT half never share a person):

* mated people: ≥ 3 photos; the first two (sorted names) are enrolled, up to ``MATED_PROBES`` more probe.
* non-mated probes: people with a single photo, never enrolled (``NONMATED_PER_HALF`` per half).
* distractors, only to grow a gallery beyond the mated people: 2-photo people (both photos enrolled), then
  single-photo people not used as probes.

Embeddings: the photo path is the app's ``identify`` engine (HOG, CNN fallback and confirmation, dlib four-view
average); the live path is ``live_engine``'s single view (68-point chip, not mirrored). For dlib both come from
one pass: the four view descriptors are computed once, the photo vector is their renormalised mean exactly as
``DlibEmbedder`` does, the live vector is the first one. ``check_dlib_paths`` compares both against FaceEngine.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))
IMAGES = SHARED / "data" / "lfw-dev" / "images"
OUT = REPO / "bench" / "out"

MATED_PROBES = 3
NONMATED_PER_HALF = 600
GALLERY_MAX = 1000
HALVES = ("tuning", "report")

log = logging.getLogger("openset")


def half_of(name: str) -> str:
    """The half an identity belongs to: a fixed hash of its name (no data looked at)."""
    return HALVES[hashlib.sha1(name.encode()).digest()[0] % 2]


def _key(name: str) -> bytes:
    return hashlib.sha1(("order:" + name).encode()).digest()


@dataclass(frozen=True)
class Half:
    """The identities and photos of one half.

    Attributes:
        mated: name → (enroll photos, probe photos). distractors: name → enroll photos, in fill order.
        nonmated: single photos of people never enrolled.
    """

    name: str
    mated: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    distractors: dict[str, tuple[str, ...]]
    nonmated: tuple[str, ...]


def people(root: Path = IMAGES) -> dict[str, list[str]]:
    """name → sorted photo paths relative to ``root``."""
    out: dict[str, list[str]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(f"{d.name}/{f.name}" for f in d.iterdir() if f.suffix.lower() in (".jpg", ".png"))
        if photos:
            out[d.name] = photos
    return out


def split(everyone: dict[str, list[str]]) -> dict[str, Half]:
    """The two halves (deterministic; see the module docstring)."""
    halves = {}
    for h in HALVES:
        names = sorted((n for n in everyone if half_of(n) == h), key=_key)
        mated = {n: (tuple(everyone[n][:2]), tuple(everyone[n][2 : 2 + MATED_PROBES])) for n in names if len(everyone[n]) >= 3}
        singles = [everyone[n][0] for n in names if len(everyone[n]) == 1]
        nonmated = tuple(singles[:NONMATED_PER_HALF])
        distractors = {n: tuple(everyone[n]) for n in names if len(everyone[n]) == 2}
        need = GALLERY_MAX - len(mated) - len(distractors)
        for photo in singles[NONMATED_PER_HALF : NONMATED_PER_HALF + max(0, need)]:
            distractors[photo.split("/")[0]] = (photo,)
        halves[h] = Half(h, mated, distractors, nonmated)
    return halves


def embedding_order(halves: dict[str, Half], second: bool = False) -> list[str]:
    """Every photo the benchmark needs, those for galleries up to the mated people first. ``second``: the
    order of a second worker, which starts from the other end of each of the two parts."""
    first: list[str] = []
    later: list[str] = []
    for half in halves.values():
        for enroll, probes in half.mated.values():
            first += [*enroll, *probes]
        first += half.nonmated
        for photos in half.distractors.values():
            later += photos
    return first[::-1] + later[::-1] if second else first + later


# ----------------------------------------------------------------------------------------------- the cache


_PEEK: dict[str, tuple[float, set[str]]] = {}


class Cache:
    """Per-photo results in ``bench/out/openset_<tag>.npz``: written every ``every`` photos, resumable.

    Each entry is a dict of numpy values (same keys for every photo).
    """

    def __init__(self, tag: str, every: int = 50) -> None:
        self.path = OUT / f"openset_{tag}.npz"
        self.every = every
        self.rows: dict[str, dict[str, NDArray]] = {}
        self._dirty = 0
        self.saved_now = False
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:  # z[key] reads the whole array: once per key
                arrays = {k: z[k] for k in z.files if k != "paths"}
                for i, p in enumerate(z["paths"]):
                    self.rows[str(p)] = {k: a[i] for k, a in arrays.items()}

    @staticmethod
    def peek(tag: str) -> set[str]:
        """Paths in another process's cache file (re-read at most every 30 s)."""
        import time

        now = time.monotonic()
        seen = _PEEK.get(tag)
        if seen is None or now - seen[0] > 30:
            path = OUT / f"openset_{tag}.npz"
            try:
                with np.load(path, allow_pickle=False) as z:
                    seen = (now, {str(p) for p in z["paths"]})
            except (OSError, ValueError, KeyError):
                seen = (now, set())
            _PEEK[tag] = seen
        return seen[1]

    def __contains__(self, path: str) -> bool:
        return path in self.rows

    def add(self, path: str, row: dict[str, NDArray]) -> None:
        self.rows[path] = row
        self._dirty += 1
        self.saved_now = self._dirty >= self.every
        if self.saved_now:
            self.save()

    def save(self) -> None:
        if not self.rows:
            return
        OUT.mkdir(parents=True, exist_ok=True)
        paths = list(self.rows)
        keys = list(next(iter(self.rows.values())))
        arrays = {k: np.stack([np.asarray(self.rows[p][k]) for p in paths]) for k in keys}
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, paths=np.array(paths), **arrays)
        tmp.replace(self.path)
        self._dirty = 0

    def array(self, key: str, paths: list[str]) -> NDArray:
        return np.stack([self.rows[p][key] for p in paths])


# -------------------------------------------------------------------------------------------- the passes


def photo_engine_config(backend: str = "dlib", model_path: Path | None = None):
    """The engine configuration ``identify`` uses (``build_config``'s defaults) for ``backend``."""
    from models.engine import EngineConfig
    from app.config import default_cache_dir

    return EngineConfig(backend=backend, cache_dir=default_cache_dir(), model_path=model_path)


def live_options(backend: str) -> dict[str, object]:
    """``live_engine``'s embedding options (``LiveConfig`` defaults)."""
    from app.services.live import LiveConfig

    return {"flip": LiveConfig().flip, "views": 1}


def _landmarks(row: dict[str, NDArray]):
    from models.types import Landmarks

    return Landmarks(tuple((float(x), float(y)) for x, y in row["landmarks"]), str(row["scheme"]))


def _detect(engine, image) -> dict[str, NDArray]:
    """The labelled (central) face of a photo as ``identify``'s engine finds it, with its quality."""
    from models.evaluation import centred_subject
    from models.quality import assess

    det, centre = centred_subject(engine, image)
    q = assess(image, det)
    return {
        "landmarks": det.landmarks.array(), "scheme": np.array(det.landmarks.scheme), "found": np.array(not centre),
        "box": np.array([det.box.x, det.box.y, det.box.w, det.box.h], np.int32),
        "size": np.array(q.size), "sharpness": np.array(q.sharpness, np.float32), "yaw": np.array(q.yaw, np.float32),
    }


class _DlibViews:
    """dlib's four view descriptors of a face (68-point chip, 5-point chip, each mirrored), in
    ``DlibEmbedder``'s order: the photo vector is their renormalised mean, the live vector the first."""

    def __init__(self) -> None:
        import dlib

        from models.dlib_files import dlib_model_path
        from models.embedders.registry import backend_info

        self.info = backend_info("dlib")
        self.model = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))

    def vectors(self, image, landmarks) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        from models.align import align_batch
        from models.embedders.base import l2_normalise

        crop = align_batch(image, [landmarks], self.info.alignment, self.info.input_size)[0]
        side = crop.shape[0]
        chips = [np.ascontiguousarray(crop[:, v * side : (v + 1) * side]) for v in range(2)]
        chips += [np.ascontiguousarray(c[:, ::-1]) for c in chips]
        views = l2_normalise(np.asarray(self.model.compute_face_descriptor(chips), dtype=np.float32))
        return l2_normalise(views.mean(axis=0)), views[0]


def embed_pass(backend: str, paths: list[str], model_path: Path | None = None, part: str = "") -> Cache:
    """Photo-path and live-path embeddings of each photo's labelled face for ``backend``; cached and resumable
    (detections are shared between backends through their own cache). ``part`` names a second worker's cache
    (give it ``embedding_order(..., second=True)``; it stops where the first worker has been; :func:`load`
    merges the parts)."""
    import time

    from models.engine import FaceEngine
    from models.imageio import load_image

    dets = Cache("detections" + part, every=10**9)
    if not part:  # a second worker's detections serve every later backend
        dets.rows.update({k: v for k, v in load("detections").items() if k not in dets.rows})
    cache = Cache(backend + part, every=10)
    if part:
        done = set(Cache(backend).rows)
        paths = [p for p in paths if p not in done]
    config = photo_engine_config(backend, model_path)
    photo = FaceEngine(config)
    live = FaceEngine(replace(config, embed_options={**config.embed_options, **live_options(backend)}))
    views = _DlibViews() if backend == "dlib" else None
    todo = [p for p in paths if p not in cache]
    log.info("%s: %d cached, %d to do", backend, len(cache.rows), len(todo))
    t0 = time.monotonic()
    other = backend if part else backend + "_b"
    for i, p in enumerate(todo):
        if p in Cache.peek(other):  # the other worker did this one
            continue
        image = load_image(IMAGES / p)
        if p not in dets:
            dets.rows[p] = _detect(photo, image)
        lm = _landmarks(dets.rows[p])
        if views is not None:
            v_photo, v_live = views.vectors(image, lm)
            if i < 3:  # the shortcut must give exactly what the app's engines give
                for eng, v in ((photo, v_photo), (live, v_live)):
                    ref = eng.embed(image, [lm])[0]
                    if not np.allclose(ref, v, atol=1e-5):
                        raise SystemExit(f"dlib view shortcut differs from FaceEngine on {p}")
        else:
            v_photo, v_live = photo.embed(image, [lm])[0], live.embed(image, [lm])[0]
        cache.add(p, {"photo": v_photo.astype(np.float32), "live": v_live.astype(np.float32)})
        if cache.saved_now:  # detections are written with the embeddings (a kill loses neither alone)
            dets.save()
        if (i + 1) % 50 == 0:
            log.info("%s %d/%d (%.2f s/photo)", backend, i + 1, len(todo), (time.monotonic() - t0) / (i + 1))
    cache.save()
    dets.save()
    return cache


def load(tag: str, parts: tuple[str, ...] = ("", "_b")) -> dict[str, dict[str, NDArray]]:
    """Every cached row of ``tag`` over the workers' parts."""
    rows: dict[str, dict[str, NDArray]] = {}
    for part in parts:
        if (OUT / f"openset_{tag}{part}.npz").is_file():
            rows.update(Cache(tag + part).rows)
    return rows
