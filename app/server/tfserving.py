"""TensorFlow Serving's REST predict protocol for the app's embedding model, so TF Serving clients work as-is.

``POST /v1/models/NAME:predict`` takes aligned face crops, either row by row (``{"instances": [crop, ...]}``,
answered with ``{"predictions": [vector, ...]}``) or as one tensor (``{"inputs": [[...]]}``, answered with
``{"outputs": [...]}`` as TF Serving does). A crop is ``H × W × 3`` RGB values 0–255 as nested lists, or
``{"b64": "..."}`` holding a JPEG/PNG of the crop (TF Serving's way of sending bytes). A single-key object such
as ``{"image": crop}`` (a named input) is accepted too. The crops must have the backend's input size (dlib: 150
× 150, made by its aligner); the vectors are the backend's embeddings, scaled to unit length as Rollcall stores
them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.errors import BadImage, InvalidInput
from models.imageio import decode_image

MAX_INSTANCES = 64
"""The most crops one predict request may carry."""

PAIR_KEYS = ("anchor", "verification")
"""A Siamese verifier's two named inputs: ``{"instances": [{"anchor": crop, "verification": crop}]}`` is answered
with ``{"predictions": [[p], ...]}``, p the probability that both crops show the same person."""


def model_status(version: str = "1") -> dict[str, Any]:
    """``GET /v1/models/NAME``: the one version, available."""
    return {"model_version_status": [
        {"version": version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]}  # fmt: skip


def model_metadata(name: str, size: tuple[int, int], dim: int) -> dict[str, Any]:
    """``GET /v1/models/NAME/metadata``: the serving signature (input crops, output embeddings)."""
    width, height = size
    shape = lambda *dims: {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}  # noqa: E731
    signature = {
        "inputs": {"image": {"dtype": "DT_UINT8", "tensor_shape": shape(-1, height, width, 3), "name": "image"}},
        "outputs": {"embedding": {"dtype": "DT_FLOAT", "tensor_shape": shape(-1, dim), "name": "embedding"}},
        "method_name": "tensorflow/serving/predict",
    }
    return {"model_spec": {"name": name, "signature_name": "", "version": "1"},
            "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}}}  # fmt: skip


def parse_request(body: object, size: tuple[int, int], max_pixels: int) -> tuple[NDArray[np.uint8], str]:
    """The crops in a predict request body and which format it used.

    Args:
        body: the parsed JSON body.
        size: ``(width, height)`` the backend takes.
        max_pixels: the largest picture a ``b64`` crop may declare.

    Returns:
        ``(crops of shape (N, H, W, 3) uint8, "instances" or "inputs")``.

    Raises:
        InvalidInput, BadImage: the body is not a predict request, or a crop is malformed or of the wrong size.
    """
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        raise InvalidInput('the body must be a JSON object with either "instances" (a list of crops) or "inputs"')
    kind = "instances" if "instances" in body else "inputs"
    rows = _named(body[kind], kind)
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f'"{kind}" must be a non-empty list of face crops')
    if len(rows) > MAX_INSTANCES:
        raise InvalidInput(f'"{kind}" holds {len(rows)} crops; send at most {MAX_INSTANCES} per request')
    crops = [_crop(_named(row, f"{kind}[{i}]"), f"{kind}[{i}]", size, max_pixels) for i, row in enumerate(rows)]
    return np.stack(crops), kind


def _named(value: object, where: str) -> object:
    """The value of a single named input (``{"image": x}`` → ``x``); other values unchanged."""
    if isinstance(value, dict) and len(value) == 1 and "b64" not in value:
        return next(iter(value.values()))
    if isinstance(value, dict) and "b64" not in value:
        raise InvalidInput(f"{where} names {len(value)} inputs; this model has one input, the face crop")
    return value


def _crop(value: object, where: str, size: tuple[int, int], max_pixels: int) -> NDArray[np.uint8]:
    """One crop from nested lists or ``{"b64": ...}``, checked against the model's input size."""
    width, height = size
    if isinstance(value, dict):
        try:
            data = base64.b64decode(str(value["b64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(f"{where}.b64 is not base64 ({exc})") from None
        image = decode_image(data, where, max_pixels)
    else:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError):
            raise InvalidInput(f"{where} is not a rectangular array of numbers; send H×W×3 RGB values 0-255") from None
        if array.ndim != 3 or array.shape[2] != 3:
            raise InvalidInput(f"{where} has shape {list(array.shape)}; send a {height}×{width}×3 RGB crop")
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 255:
            raise InvalidInput(f"{where} holds values outside 0-255 (or NaN); send 8-bit RGB values")
        image = np.rint(array).astype(np.uint8)
    if image.shape[:2] != (height, width):
        raise BadImage(
            f"{where} is {image.shape[1]}×{image.shape[0]} pixels; this model takes aligned {width}×{height} crops"
        )
    return image


def parse_pairs(body: object, size: tuple[int, int], max_pixels: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]] | None:
    """The ``(anchor crops, verification crops)`` of a pair request (every instance holds exactly the keys of
    :data:`PAIR_KEYS`), or None when ``body`` is not one.

    Raises:
        InvalidInput, BadImage: too many pairs, or a crop is malformed or of the wrong size.
    """
    rows = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and set(r) == set(PAIR_KEYS) for r in rows):
        return None
    if len(rows) > MAX_INSTANCES:
        raise InvalidInput(f'"instances" holds {len(rows)} pairs; send at most {MAX_INSTANCES} per request')
    first, second = (np.stack([_crop(r[key], f"instances[{i}].{key}", size, max_pixels) for i, r in enumerate(rows)])
                     for key in PAIR_KEYS)
    return first, second
