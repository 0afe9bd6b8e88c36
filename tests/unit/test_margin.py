"""Margin-loss training on a tiny MobileNetV2 (α 0.35, 32×32 crops, four identities): the loss falls, the
checkpoint reloads into the embedding network alone, bad choices are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from common.errors import InvalidInput  # noqa: E402
from models.train.margin import build_job, build_network, cached_imagenet, backbone, load_network, margin_base  # noqa: E402
from models.train.sampling import PKConfig  # noqa: E402
from models.train.trainer import BEST, TrainConfig, TrainData, fit  # noqa: E402


def _crops(people: int = 4, per: int = 6, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each "identity" is a colour and a stripe direction, with noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(people), per)
    colours = rng.integers(40, 215, (people, 3))
    yy, xx = np.mgrid[:size, :size]
    out = np.empty((len(labels), size, size, 3), np.uint8)
    for i, lab in enumerate(labels):
        stripes = ((xx if lab % 2 else yy) // 4 % 2)[..., None] * 60
        out[i] = np.clip(colours[lab] + stripes + rng.normal(0, 12, (size, size, 3)), 0, 255)
    return out, labels


def test_tiny_margin_run_loss_falls_and_the_export_is_the_embedding_network(tmp_path: Path) -> None:
    head = "arc"
    base = margin_base("mobilenetv2", 128, 32)
    crops, labels = _crops()
    job = build_job(base, "mobilenetv2", head, 4, crops, alpha=0.35)
    cfg = TrainConfig(epochs=5, pk=PKConfig(4, 4), learning_rate=0.01, warmup_fraction=0.0, patience=9)
    res = fit(job, TrainData(labels, np.zeros(len(labels), bool)), cfg, tmp_path)
    losses = [e.loss for e in res.epochs]
    assert len(losses) == 5 and np.isfinite(losses).all()
    assert losses[-1] < 0.6 * losses[0], losses  # ArcFace's loss starts near s·sin(m) ≈ 31 here
    assert res.epochs[-1].active_fraction < 0.9  # the share of the batch still misclassified through the margin
    net = load_network(base, "mobilenetv2", head, 4, tmp_path / BEST, alpha=0.35)
    x = (crops[:3].astype(np.float32) - 127.5) / 128.0
    out = np.asarray(net(x, training=False))
    assert out.shape == (3, 128)
    np.testing.assert_allclose(out, np.asarray(job.net(x, training=False)), atol=1e-5)
    assert not any("head" in layer.name for layer in net.layers)
    vectors = job.embed(crops[:3])  # what held-out and guard evaluation use: unit, mirror-averaged
    assert vectors.shape == (3, 128) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embedding_network_has_the_arcface_tf2_output_block() -> None:
    net = build_network(margin_base("mobilenetv2", 512, 32), "mobilenetv2", alpha=0.35)
    kinds = [type(layer).__name__ for layer in net.layers[-5:]]
    assert kinds == ["BatchNormalization", "Dropout", "Flatten", "Dense", "BatchNormalization"]
    assert net.output.shape[-1] == 512 and tuple(net.input.shape[1:]) == (32, 32, 3)


def test_imagenet_weights_only_when_the_keras_cache_has_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    bb = backbone("efficientnetb0")
    assert cached_imagenet(bb) is None
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / bb.imagenet_file).write_bytes(b"x")
    assert cached_imagenet(bb) == "imagenet"


def test_bad_choices_are_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="mobilenetv2, resnet50, efficientnetb0"):
        margin_base("vgg16")
    with pytest.raises(InvalidInput, match="128 or 512"):
        margin_base("mobilenetv2", 256)
    base = margin_base()
    assert (base.input_size, base.dim, base.alignment, base.standardize) == ((112, 112), 512, "arcface", "fixed")
