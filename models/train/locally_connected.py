"""A ``LocallyConnected2D`` layer for Keras 3 (Keras 2 had one; Keras 3 dropped it), as DeepFace's L4–L6 need.

Like a convolution, but every output position has its own kernel (weights are not shared across the image).
Vectorised: the input's ``kh × kw`` patches are gathered with one strided slice per *kernel offset* (a loop over
the ``kh·kw`` offsets, never over the output positions) and concatenated into ``(N, P, kh·kw·C)``; one batched
matrix product with the ``(P, kh·kw·C, filters)`` kernel gives every position at once. Slices, concatenation and
batched matmul are plain ops that ONNX and TFLite convert without custom kernels.

Shapes: input ``(N, H, W, C)`` (``padding="valid"``), output ``(N, OH, OW, filters)`` with
``OH = (H − kh) // sh + 1``. Kernel layout ``(OH·OW, kh·kw·C, filters)``, the patch vector ordered (row offset,
column offset, channel); bias ``(OH, OW, filters)``. ``init``: uniform Glorot (default) or He, per position.
Keras is imported inside :func:`layer_class`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from common.errors import InvalidInput

INITS = ("glorot", "he")


def output_size(size: int, kernel: int, stride: int) -> int:
    """Output length of a valid (unpadded) window of ``kernel`` with ``stride`` over ``size`` positions.

    Raises:
        InvalidInput: the input is smaller than the kernel.
    """
    if size < kernel:
        raise InvalidInput(f"a locally connected layer with a {kernel}-wide kernel needs at least {kernel} input "
                           f"positions, got {size}; use a larger input size")
    return (size - kernel) // stride + 1


@lru_cache(maxsize=1)
def layer_class() -> type:
    """The Keras layer class (built on first use so that importing this module does not import Keras)."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="rollcall")
    class LocallyConnected2D(keras.layers.Layer):
        """Unshared-weight 2-D layer; see the module docstring."""

        def __init__(self, filters: int, kernel_size: int | tuple[int, int], strides: int | tuple[int, int] = 1,
                     activation: Any = None, use_bias: bool = True, seed: int | None = None,
                     init: str = "glorot", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if init not in INITS:
                raise InvalidInput(f"unknown initialisation {init!r}; use one of {', '.join(INITS)}")
            self.init = init
            self.filters = int(filters)
            self.kernel_size = _pair(kernel_size)
            self.strides = _pair(strides)
            self.activation = keras.activations.get(activation)
            self.use_bias = use_bias
            self.seed = seed

        def build(self, input_shape: tuple[Any, ...]) -> None:
            _, h, w, c = input_shape
            (kh, kw), (sh, sw) = self.kernel_size, self.strides
            self.out_h, self.out_w = output_size(int(h), kh, sh), output_size(int(w), kw, sw)
            fan_in = kh * kw * int(c)
            # Uniform per position: Glorot (fan in + fan out) or He (fan in only, keeps a ReLU stack's scale).
            limit = (6.0 / (fan_in + (self.filters if self.init == "glorot" else 0))) ** 0.5
            self.kernel = self.add_weight(
                shape=(self.out_h * self.out_w, fan_in, self.filters), name="kernel",
                initializer=keras.initializers.RandomUniform(-limit, limit, seed=self.seed))
            self.bias = (self.add_weight(shape=(self.out_h, self.out_w, self.filters), name="bias",
                                         initializer="zeros") if self.use_bias else None)

        def call(self, x: Any) -> Any:
            (kh, kw), (sh, sw) = self.kernel_size, self.strides
            oh, ow = self.out_h, self.out_w
            slices = [x[:, i : i + (oh - 1) * sh + 1 : sh, j : j + (ow - 1) * sw + 1 : sw, :]
                      for i in range(kh) for j in range(kw)]
            patches = ops.concatenate(slices, axis=-1) if len(slices) > 1 else slices[0]
            patches = ops.reshape(patches, (-1, oh * ow, self.kernel.shape[1]))
            y = ops.matmul(ops.transpose(patches, (1, 0, 2)), self.kernel)  # (P, N, K) @ (P, K, F)
            y = ops.reshape(ops.transpose(y, (1, 0, 2)), (-1, oh, ow, self.filters))
            if self.bias is not None:
                y = y + self.bias
            return self.activation(y)

        def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
            (kh, kw), (sh, sw) = self.kernel_size, self.strides
            return (input_shape[0], output_size(int(input_shape[1]), kh, sh),
                    output_size(int(input_shape[2]), kw, sw), self.filters)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                    "strides": self.strides, "activation": keras.activations.serialize(self.activation),
                    "use_bias": self.use_bias, "seed": self.seed, "init": self.init}

    return LocallyConnected2D


def LocallyConnected2D(filters: int, kernel_size: int | tuple[int, int], strides: int | tuple[int, int] = 1,  # noqa: N802
                       activation: Any = None, use_bias: bool = True, **kwargs: Any) -> Any:
    """A new :class:`LocallyConnected2D` layer (see the module docstring)."""
    return layer_class()(filters, kernel_size, strides, activation, use_bias, **kwargs)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))
