import pytest

from common.errors import BackendUnavailable
from models.detectors import create_detector
from models.embedders.registry import backend_info, create_embedder, known_backends


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(BackendUnavailable) as err:
        create_embedder("dlibb")
    assert "dlibb" in str(err.value)
    for name in known_backends():
        assert name in str(err.value)


def test_unknown_detector_lists_the_known_ones():
    with pytest.raises(BackendUnavailable, match="hog"):
        create_detector("viola-jones")


def test_every_backend_declares_a_usable_contract():
    for name in known_backends():
        info = backend_info(name)
        assert info.name == name and info.dim > 0 and info.metric in ("cosine", "l2")
        assert len(info.input_size) == 2
