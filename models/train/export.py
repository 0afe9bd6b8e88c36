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
    if diff > PARITY_TOLERANCE:
        dst.unlink(missing_ok=True)
        raise WeightsError(f"the ONNX export differs from the Keras model by {diff:.2e} (> {PARITY_TOLERANCE}); not kept")
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
    """A TFLite file (float32, or int8 weights and activations calibrated on ``calibration`` inputs)."""
    import tensorflow as tf

    shape = (1, *model.input.shape[1:])

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name="input")])
    def serve(x: Any) -> Any:
        return model(x, training=False)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    if calibration is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def samples() -> Any:
            for x in calibration:
                yield [x[None].astype(np.float32)]

        converter.representative_dataset = samples
    dst.write_bytes(converter.convert())
    return dst
