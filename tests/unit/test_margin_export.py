"""Exports of a (tiny) margin embedding network: Keras vs ONNX vs TFLite float32 agree within 1e-4 relative, and
the full-integer int8 TFLite file loads and runs in LiteRT with int8 weights and activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from models.train.export import (  # noqa: E402
    PARITY_TOLERANCE, export_onnx_checked, export_tflite, export_tflite_checked, relative_difference, run_tflite,
)
from models.train.margin import build_network, margin_base  # noqa: E402
from models.train.networks import standardize  # noqa: E402


def _inputs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    crops = [np.clip(np.stack([xx * 6, yy * 6, (xx + yy) * 3], -1) + rng.normal(0, 20, (32, 32, 3)) + rng.integers(0, 80, 3),
                     0, 255).astype(np.uint8) for _ in range(n)]
    return standardize(margin_base("mobilenetv2", 128, 32), np.stack(crops))


def _network() -> object:
    """A tiny margin network with random but non-degenerate weights (a fresh one's outputs are ~1e-11: its
    BatchNorm statistics are the initial ones), as after some training."""
    net = build_network(margin_base("mobilenetv2", 128, 32), "mobilenetv2", alpha=0.35)
    rng = np.random.default_rng(3)
    for v in net.weights:
        shape = tuple(v.shape)
        if "moving_variance" in v.path:
            v.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        elif "moving_mean" in v.path or "beta" in v.path:
            v.assign(rng.normal(0, 0.1, shape).astype(np.float32))
        elif "gamma" in v.path:
            v.assign(rng.uniform(0.8, 1.2, shape).astype(np.float32))
    return net


def test_keras_onnx_and_tflite_float32_agree(tmp_path: Path) -> None:
    import onnxruntime as ort

    net = _network()
    x = _inputs(4)
    export_onnx_checked(net, tmp_path / "m.onnx", x)
    tfl = export_tflite_checked(net, tmp_path / "m.tflite", x)
    want = np.asarray(net(x, training=False))
    assert np.abs(want).max() > 1e-2  # a real signal to compare
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert relative_difference(onnx_out, want) <= PARITY_TOLERANCE
    assert tfl <= PARITY_TOLERANCE
    assert relative_difference(run_tflite(tmp_path / "m.tflite", x), onnx_out) <= 2 * PARITY_TOLERANCE


def test_int8_export_is_full_integer_and_runs_in_litert(tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    net = _network()
    export_tflite(net, tmp_path / "m8.tflite", _inputs(16, seed=1))
    interp = Interpreter(model_path=str(tmp_path / "m8.tflite"))
    interp.allocate_tensors()
    kinds = {d["dtype"] for d in interp.get_tensor_details()}
    assert np.int8 in kinds and np.int32 in kinds  # int8 weights/activations, int32 biases
    conv_weights = [d for d in interp.get_tensor_details() if len(d["shape"]) == 4 and d["dtype"] == np.float32
                    and d["name"] != interp.get_input_details()[0]["name"]]
    assert conv_weights == []  # no float convolution left
    out = run_tflite(tmp_path / "m8.tflite", _inputs(3, seed=2))
    assert out.shape == (3, 128) and np.isfinite(out).all()
    want = np.asarray(net(_inputs(3, seed=2), training=False))
    cos = np.sum(out * want, 1) / np.linalg.norm(out, axis=1) / np.linalg.norm(want, axis=1)
    assert (cos > 0.9).all(), cos  # int8 keeps the embedding's direction
