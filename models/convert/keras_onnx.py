"""Keras image model → ONNX (tf2onnx), shared by the converters. TensorFlow is imported only when called."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"


def export_onnx(model: Any, dst: Path, opset: int = OPSET) -> None:
    """Write a Keras image model as ONNX (input ``input`` (N, H, W, 3) float32, output ``embedding``),
    atomically: a partial file never sits at ``dst``. The output is renamed so the runtime need not guess which
    tensor is the embedding."""
    import tensorflow as tf
    import tf2onnx

    shape = (None, *model.input.shape[1:])
    spec = (tf.TensorSpec(shape, tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def infer(x: Any) -> Any:
        return tf.identity(model(x, training=False), name=OUTPUT_NAME)

    proto, _ = tf2onnx.convert.from_function(infer, input_signature=spec, opset=opset)
    old = proto.graph.output[0].name
    if old != OUTPUT_NAME:
        for node in proto.graph.node:
            node.output[:] = [OUTPUT_NAME if o == old else o for o in node.output]
        proto.graph.output[0].name = OUTPUT_NAME
    write_atomically(Path(dst), proto.SerializeToString())


def write_atomically(dst: Path, data: bytes) -> None:
    """Write ``data`` to ``dst`` through a temporary file in the same folder and an atomic rename."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
