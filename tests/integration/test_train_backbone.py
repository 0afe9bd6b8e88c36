"""Head mode's backbone runs through onnxruntime (the installed facenet_128.onnx cut before the bottleneck): its
features and the head built from the h5 file give the same embeddings as the whole Keras FaceNet model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.imageio import load_image
from models.train.backbone import OnnxBackbone, _onnx_backbone, embed_features, head_parts
from models.train.networks import base_model, build_full, split_facenet, standardize
from models.weights import WeightStore
from tests import conftest
from tests.conftest import need_shared

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def cache() -> Path:
    store = WeightStore(conftest.test_cache_dir())
    if not store.is_installed("facenet"):
        store.fetch("facenet")
    return conftest.test_cache_dir()


def _faces(n: int = 6) -> np.ndarray:
    """Centre crops of lfw-dev photos (faces fill the middle of these 250×250 images), 160×160 RGB."""
    root = need_shared("data", "lfw-dev", "images")
    paths = sorted(root.glob("*/*.jpg"))[:n]
    return np.stack([cv2.resize(load_image(p)[45:205, 45:205], (160, 160)) for p in paths])


def test_onnx_features_and_head_match_the_keras_model(cache: Path) -> None:
    base = base_model("facenet")
    backbone, head = head_parts(base, cache)
    assert isinstance(backbone, OnnxBackbone) and backbone.dim == 1792
    model = build_full(base, cache)
    keras_backbone, keras_head = split_facenet(model)
    crops = _faces()
    x = standardize(base, crops)
    onnx_feats = embed_features(backbone, crops, base)
    keras_feats = np.asarray(keras_backbone(np.concatenate([x, x[:, :, ::-1]]), training=False))
    np.testing.assert_allclose(onnx_feats[:, 0], keras_feats[:6], atol=1e-4)
    np.testing.assert_allclose(onnx_feats[:, 1], keras_feats[6:], atol=1e-4)
    for a, b in zip(head.get_weights(), keras_head.get_weights()):
        np.testing.assert_array_equal(a, b)
    embeddings = np.asarray(head(onnx_feats[:, 0], training=False))
    np.testing.assert_allclose(embeddings, np.asarray(model(x, training=False)), atol=1e-4)


def test_an_onnx_file_with_other_weights_is_not_used(cache: Path) -> None:
    store = WeightStore(cache)
    path = store.folder("facenet") / store.spec("facenet").file
    other_kernel = np.zeros((1792, 128), np.float32)
    assert _onnx_backbone(path, other_kernel) is None
    assert _onnx_backbone(path.with_name("missing.onnx"), other_kernel) is None
