"""The locally connected layer against a naive NumPy reference: forward, gradients, unshared weights."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import InvalidInput
from models.train.locally_connected import LocallyConnected2D, output_size


def naive_forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, k: int, s: int) -> np.ndarray:
    """y[n, a, b, f] = Σ_{i, j, c} x[n, a·s + i, b·s + j, c] · W[a, b, i, j, c, f] + bias[a, b, f], by loops."""
    n, h, w, c = x.shape
    oh, ow, f = bias.shape
    wk = kernel.reshape(oh, ow, k, k, c, f)
    y = np.zeros((n, oh, ow, f))
    for a in range(oh):
        for b in range(ow):
            patch = x[:, a * s : a * s + k, b * s : b * s + k, :]
            y[:, a, b, :] = np.einsum("nijc,ijcf->nf", patch, wk[a, b]) + bias[a, b]
    return y


def naive_gradients(x: np.ndarray, kernel: np.ndarray, g: np.ndarray, k: int, s: int) -> tuple[np.ndarray, ...]:
    """Gradients of Σ y·g with respect to x, kernel and bias, by loops."""
    n, h, w, c = x.shape
    _, oh, ow, f = g.shape
    wk = kernel.reshape(oh, ow, k, k, c, f)
    dx, dw = np.zeros_like(x), np.zeros_like(wk)
    for a in range(oh):
        for b in range(ow):
            patch = x[:, a * s : a * s + k, b * s : b * s + k, :]
            dw[a, b] = np.einsum("nijc,nf->ijcf", patch, g[:, a, b])
            dx[:, a * s : a * s + k, b * s : b * s + k, :] += np.einsum("ijcf,nf->nijc", wk[a, b], g[:, a, b])
    return dx, dw.reshape(kernel.shape), g.sum(axis=0)


@pytest.mark.parametrize(("k", "s", "size"), [(3, 1, 7), (3, 2, 8), (2, 3, 9)])
def test_forward_and_gradients_match_the_naive_reference(k: int, s: int, size: int) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(k * 10 + s)
    x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
    layer = LocallyConnected2D(4, k, s, seed=1)
    layer.build((None, size, size, 3))
    oh = output_size(size, k, s)
    kernel = rng.normal(size=(oh * oh, k * k * 3, 4)).astype(np.float32)
    bias = rng.normal(size=(oh, oh, 4)).astype(np.float32)
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    g = rng.normal(size=(2, oh, oh, 4)).astype(np.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        total = tf.reduce_sum(y * g)
    dx, dw, db = tape.gradient(total, [xt, layer.kernel, layer.bias])
    np.testing.assert_allclose(y.numpy(), naive_forward(x, kernel, bias, k, s), rtol=1e-4, atol=1e-4)
    want_dx, want_dw, want_db = naive_gradients(x, kernel, g, k, s)
    np.testing.assert_allclose(dx.numpy(), want_dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw.numpy(), want_dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db.numpy(), want_db, rtol=1e-4, atol=1e-4)


def test_weights_are_not_shared_between_positions() -> None:
    """The same patch content at two positions gives different outputs (a convolution would give equal ones)."""
    layer = LocallyConnected2D(2, 2, 2, seed=3)
    x = np.tile(np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3), (1, 2, 2, 1))  # a 2×2 patch repeated
    y = np.asarray(layer(x))
    assert y.shape == (1, 2, 2, 2)
    assert not np.allclose(y[0, 0, 0], y[0, 1, 1])
    assert layer.kernel.shape == (4, 12, 2)


def test_an_input_smaller_than_the_kernel_is_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="at least 9 input positions"):
        LocallyConnected2D(2, 9).build((None, 5, 5, 3))


def test_he_initialisation_keeps_a_relu_stack_from_fading() -> None:
    """He init (fan in only) starts wider than Glorot, so activations keep their scale through L4–L6."""
    glorot, he = LocallyConnected2D(16, 3, seed=0), LocallyConnected2D(16, 3, seed=0, init="he")
    for layer in (glorot, he):
        layer.build((None, 6, 6, 4))
    fan_in = 3 * 3 * 4
    assert np.max(np.abs(np.asarray(he.kernel))) <= (6 / fan_in) ** 0.5
    assert np.std(np.asarray(he.kernel)) > 1.2 * np.std(np.asarray(glorot.kernel))
    with pytest.raises(InvalidInput, match="unknown initialisation"):
        LocallyConnected2D(2, 3, init="lecun")
