"""``--backend remote``: embeddings from a model server speaking TF Serving's REST protocol (here a real
``serve`` process on loopback) are the local backend's, and a server that is down is reported clearly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import main
from common.errors import BackendUnavailable
from models.engine import EngineConfig, FaceEngine
from models.imageio import load_image
from tests.conftest import need_shared
from tests.serve_proc import Server, free_port


@pytest.fixture(scope="module")
def examples() -> Path:
    return need_shared("data", "face-recognition-examples", "examples")


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory, examples: Path) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("model-server") / "data").wait_ready()
    yield running
    running.stop()


def test_remote_embeddings_equal_the_local_ones(model_server: Server, examples: Path) -> None:
    image = load_image(examples / "obama.jpg")
    local = FaceEngine(EngineConfig(fallback_detector=None))
    remote = FaceEngine(EngineConfig(fallback_detector=None, embed_options={"remote_url": f"{model_server.base}/v1/models/dlib"}))
    faces = [d.landmarks for d in local.detect(image)]
    assert faces
    assert np.abs(remote.embed(image, faces) - local.embed(image, faces)).max() < 1e-5


def test_cli_identifies_through_the_model_server(model_server: Server, examples: Path, tmp_path: Path, capsys) -> None:
    url = f"{model_server.base}/v1/models/dlib"
    base = ["--data-dir", str(tmp_path / "station"), "--backend", "remote", "--remote-url", url]
    assert main.run([*base, "enroll", "--name", "Obama", str(examples / "obama.jpg")]) == 0
    capsys.readouterr()
    assert main.run([*base, "identify", "--json", str(examples / "obama2.jpg")]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in entry["faces"]] == ["Obama"]


def test_a_model_server_that_is_down_is_named(examples: Path, tmp_path: Path, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/models/dlib"
    started = time.monotonic()
    code = main.run(["--data-dir", str(tmp_path), "--backend", "remote", "--remote-url", url, "verify",
                     str(examples / "obama.jpg"), str(examples / "obama2.jpg")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "is not answering" in err and url in err
    assert time.monotonic() - started < 30  # a few retries with back-off, not a hang


def test_bad_remote_urls(tmp_path: Path, capsys) -> None:
    for url, fragment in (("ftp://x/v1/models/dlib", "does not name a model"), ("http://h:1/v1/models/nope", "'nope'")):
        assert main.run(["--data-dir", str(tmp_path), "--backend", "remote", "--remote-url", url, "people"]) == 1
        assert fragment in capsys.readouterr().err
    with pytest.raises(BackendUnavailable, match="needs --remote-url"):
        from app.config import build_config

        build_config(str(tmp_path), backend="remote")
