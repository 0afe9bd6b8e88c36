"""Exports of a tuned Keras embedding model: ONNX (checked against Keras), SavedModel (TF Serving layout
``NAME/1/``), TFLite float32 / int8. TensorFlow, tf2onnx and onnxruntime are imported inside the functions."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import WeightsError

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4
"""Largest allowed difference between an export's outputs and the Keras model's, relative to the largest Keras
output (absolute for outputs under 1)."""


def relative_difference(got: NDArray[np.float32], want: NDArray[np.float32]) -> float:
    """``max |got − want| / max(1, max |want|)`` (infinite when either holds a NaN)."""
    if not (np.isfinite(got).all() and np.isfinite(want).all()):
        return float("inf")
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def export_onnx_checked(model: Any, dst: Path, inputs: NDArray[np.float32]) -> float:
    """Write ``model`` as ONNX at ``dst`` and return the largest absolute difference between the ONNX and the
    Keras outputs on ``inputs`` (standardised crops).

    Raises:
        WeightsError: the two disagree by more than :data:`PARITY_TOLERANCE` (the file is removed).
    """
    import onnxruntime as ort

    from models.convert.keras_onnx import export_onnx

    export_onnx(model, dst)
    if len(inputs) == 0:
        return 0.0
    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(inputs, np.float32)})[0]
    want = np.asarray(model(inputs, training=False), np.float32)
    diff = float(np.max(np.abs(got - want)))
    relative = relative_difference(got, want)
    if not relative <= PARITY_TOLERANCE:
        dst.unlink(missing_ok=True)
        raise WeightsError(f"the ONNX export differs from the Keras model by {diff:.2e} ({relative:.2e} relative, "
                           f"> {PARITY_TOLERANCE}); not kept")
    return diff


def export_savedmodel(model: Any, folder: Path) -> Path:
    """A SavedModel in TF Serving's layout ``folder/1/`` with a ``serving_default`` signature; returns ``folder/1``."""
    import tensorflow as tf

    target = folder / "1"
    if target.exists():
        shutil.rmtree(target)
    shape = (None, *model.input.shape[1:])

    class Serving(tf.Module):
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="input")])
        def serve(self, x: Any) -> Any:
            return {"embedding": self.net(x, training=False)}

    module = Serving(model)
    tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})
    return target


def export_tflite(model: Any, dst: Path, calibration: NDArray[np.float32] | None = None) -> Path:
    """A TFLite file with a 1×H×W×3 float32 input and float32 output: float32, or with ``calibration`` inputs
    (standardised real aligned crops) full-integer int8 — every weight and activation int8 (``TFLITE_BUILTINS_INT8``
    only), quantised at the input and dequantised at the output, as the app's other int8 models are."""
    import tempfile

    import tensorflow as tf

    spec = tf.TensorSpec((1, *model.input.shape[1:]), tf.float32, name="input")
    with tempfile.TemporaryDirectory(prefix="rollcall-tflite-") as tmp:
        # Through a SavedModel, whose variables the converter freezes (int8 calibration needs them constant).
        model.export(tmp, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        _quantise(converter, calibration)
        data = converter.convert()
    tmp_dst = dst.with_name(dst.name + ".tmp")
    tmp_dst.write_bytes(data)
    tmp_dst.replace(dst)
    return dst


def _quantise(converter: Any, calibration: NDArray[np.float32] | None) -> None:
    """Full-integer int8 settings calibrated on ``calibration`` (nothing when None)."""
    import tensorflow as tf

    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def samples() -> Any:
            for x in calibration:
                yield [x[None].astype(np.float32)]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def run_tflite(path: Path, inputs: NDArray[np.float32], threads: int = 1) -> NDArray[np.float32]:
    """Outputs ``(N, D)`` of a TFLite file run with LiteRT (``ai-edge-litert``; ``tf.lite`` when it is missing),
    one input at a time."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    rows = []
    for x in inputs:
        interp.set_tensor(inp["index"], x[None].astype(np.float32))
        interp.invoke()
        rows.append(np.array(interp.get_tensor(out["index"]), np.float32).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, int(np.prod(out["shape"][1:]))), np.float32)


def export_tflite_checked(model: Any, dst: Path, inputs: NDArray[np.float32]) -> float:
    """:func:`export_tflite` (float32) and the relative difference of its outputs to the Keras model's.

    Raises:
        WeightsError: more than :data:`PARITY_TOLERANCE` (the file is removed).
    """
    export_tflite(model, dst)
    if len(inputs) == 0:
        return 0.0
    diff = relative_difference(run_tflite(dst, inputs), np.asarray(model(inputs, training=False), np.float32))
    if not diff <= PARITY_TOLERANCE:
        dst.unlink(missing_ok=True)
        raise WeightsError(f"the TFLite export differs from the Keras model by {diff:.2e} (relative, "
                           f"> {PARITY_TOLERANCE}); not kept")
    return diff
