"""The REST API as a client sees it: a real ``python main.py serve`` process on a free loopback port, real
dlib models and real photos, requests through httpx.

One server is shared by the tests of this module (starting one loads the models, a few seconds); a second one
with a token, a low rate limit and a small body limit checks the guards.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np
import pytest

import main
from db import Repository, open_database
from tests.conftest import REPO, need_shared
from tests.serve_proc import Server, free_port

TOKEN = "s3cret-token-for-tests-0123"


@pytest.fixture(scope="module")
def examples() -> Path:
    return need_shared("data", "face-recognition-examples", "examples")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, examples: Path) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("serve") / "data").wait_ready()
    yield running
    running.stop()


def _photo(path: Path) -> tuple[str, bytes, str]:
    return (path.name, path.read_bytes(), "image/jpeg")


def _assert_one_line_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    for fragment in fragments:
        assert fragment in body["error"], body["error"]


def test_enroll_then_identify_a_real_photo_like_the_cli(server: Server, examples: Path, capsys) -> None:
    enrolled = server.client.post("/v1/people", data={"name": "Barack Obama", "external_id": "P-44"},
                                  files=[("photo", _photo(examples / "obama.jpg"))])  # fmt: skip
    assert enrolled.status_code == 201, enrolled.text
    person = enrolled.json()["person"]
    assert (person["name"], person["external_id"], person["samples"]) == ("Barack Obama", "P-44", 1)

    answer = server.client.post("/v1/identify", files=[("image", _photo(examples / "obama2.jpg"))])
    assert answer.status_code == 200, answer.text
    (entry,) = answer.json()
    assert entry["image"] == "obama2.jpg"
    assert [f["name"] for f in entry["faces"]] == ["Barack Obama"]

    assert main.run(["--data-dir", str(server.data), "identify", "--json", str(examples / "obama2.jpg")]) == 0
    (cli_entry,) = json.loads(capsys.readouterr().out)
    assert entry["faces"] == cli_entry["faces"]  # the same boxes, names, ids and scores as `identify --json`


def test_someone_enrolled_by_another_station_is_recognised_without_a_restart(server: Server, examples: Path) -> None:
    before = server.client.get("/v1/health").json()["gallery_version"]
    first = server.client.post("/v1/identify", files=[("image", _photo(examples / "biden.jpg"))]).json()
    assert [f["name"] for f in first[0]["faces"]] == [None]
    other_station = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "--data-dir", str(server.data), "enroll", "--name", "Joe Biden",
         str(examples / "biden.jpg")], cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert other_station.returncode == 0, other_station.stderr
    assert server.client.get("/v1/health").json()["gallery_version"] > before
    again = server.client.post("/v1/identify", files=[("image", _photo(examples / "biden.jpg"))]).json()
    assert [f["name"] for f in again[0]["faces"]] == ["Joe Biden"]


def test_verify_two_photos(server: Server, examples: Path) -> None:
    same = server.client.post("/v1/verify", files=[("image1", _photo(examples / "obama.jpg")), ("image2", _photo(examples / "obama2.jpg"))])
    other = server.client.post("/v1/verify", files=[("image1", _photo(examples / "obama.jpg")), ("image2", _photo(examples / "biden.jpg"))])
    assert same.status_code == other.status_code == 200
    assert same.json()["same"] is True and other.json()["same"] is False
    assert set(same.json()) == {"same", "score", "threshold", "metric", "backend"} and same.json()["backend"] == "dlib"


def test_bad_uploads_are_4xx_with_one_line(server: Server, examples: Path) -> None:
    _assert_one_line_error(server.client.post("/v1/identify", files=[("image", ("notes.txt", b"hello", "text/plain"))]), 400, "notes.txt")
    truncated = (examples / "obama.jpg").read_bytes()[:3000]
    _assert_one_line_error(server.client.post("/v1/identify", files=[("image", ("cut.jpg", truncated, "image/jpeg"))]), 400, "cut.jpg")
    _assert_one_line_error(server.client.post("/v1/identify"), 400, "image")
    _assert_one_line_error(server.client.post("/v1/identify", content=b"garbage", headers={"content-type": "multipart/form-data; boundary=x"}), 400)
    _assert_one_line_error(server.client.post("/v1/verify", files=[("image1", _photo(examples / "obama.jpg"))]), 400, "image2")
    _assert_one_line_error(server.client.get("/v1/attendance", params={"from": "yesterday"}), 400, "not a date")
    _assert_one_line_error(server.client.delete("/v1/people/abc"), 400)
    _assert_one_line_error(server.client.get("/v1/nothing-here"), 404)
    _assert_one_line_error(server.client.delete("/v1/people/99999999999999999999"), 400, "person_id")
    _assert_one_line_error(server.client.get("/v1/attendance", params={"to": "9999-12-31"}), 400, "9999-12-31")
    deep = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _assert_one_line_error(server.client.post("/v1/models/dlib:predict", content=deep, headers={"content-type": "application/json"}), 400)
    _assert_one_line_error(server.client.post("/v1/people", data={"name": "A\x1bB"}, files=[("photo", _photo(examples / "obama.jpg"))]), 400, "control characters")


def test_enrolling_a_photo_with_two_faces_stores_nothing(server: Server, examples: Path) -> None:
    people_before = server.client.get("/v1/people").json()
    answer = server.client.post("/v1/people", data={"name": "Crowd"},
                                files=[("photo", _photo(examples / "two_people.jpg"))])  # fmt: skip
    _assert_one_line_error(answer, 422, "2 faces", "nothing was stored")
    assert server.client.get("/v1/people").json() == people_before


def test_people_remove_and_attendance(server: Server, examples: Path) -> None:
    made = server.client.post("/v1/people", data={"name": "Lin"}, files=[("photo", _photo(examples / "lin-manuel-miranda.png"))])
    person = made.json()["person"]
    database = open_database(f"sqlite:///{server.data / 'rollcall.db'}")
    repo = Repository(database, station="door 2")
    session = repo.get_or_create_session("Maths")
    repo.mark_if_due(person["id"], session.id, datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc), "camera", 0.0, 0.3, "dlib")
    database.close()

    rows = server.client.get("/v1/attendance", params={"session": "Maths"}).json()
    assert [(r["name"], r["station"], r["session"]) for r in rows] == [("Lin", "door 2", "Maths")]
    csv_text = server.client.get("/v1/attendance", params={"session": "Maths", "format": "csv"}).text
    assert csv_text.splitlines()[0] == "time,name,external_id,session,source,score,backend,station"
    assert ",Lin,,Maths,camera,0.3000,dlib,door 2" in csv_text
    _assert_one_line_error(server.client.get("/v1/attendance", params={"session": "Art"}), 404, "no session named 'Art'")

    assert server.client.delete(f"/v1/people/{person['id']}").status_code == 200
    assert person["id"] not in [p["id"] for p in server.client.get("/v1/people").json()]
    _assert_one_line_error(server.client.delete(f"/v1/people/{person['id']}"), 404, f"no person with id {person['id']}")
    assert server.client.get("/v1/attendance").json()[0]["name"] == "Lin"  # attendance keeps the name


def test_tf_serving_predict_protocol_returns_the_local_embeddings(server: Server, examples: Path) -> None:
    from models.align import align_batch
    from models.embedders.base import l2_normalise
    from models.engine import EngineConfig, FaceEngine
    from models.imageio import encode_jpeg, load_image

    engine = FaceEngine(EngineConfig(fallback_detector=None))
    image = load_image(examples / "obama.jpg")
    (det,) = engine.detect(image)
    crop = align_batch(image, [det.landmarks], engine.info.alignment, engine.info.input_size)
    local = l2_normalise(engine.embedder.embed(crop))

    status = server.client.get("/v1/models/dlib").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    answer = server.client.post("/v1/models/dlib:predict", json={"instances": crop.tolist()})
    assert answer.status_code == 200, answer.text
    predictions = np.asarray(answer.json()["predictions"], dtype=np.float32)
    assert predictions.shape == (1, 128) and np.abs(predictions - local).max() < 1e-5
    columnar = server.client.post("/v1/models/dlib:predict", json={"inputs": {"image": crop.tolist()}})
    assert np.abs(np.asarray(columnar.json()["outputs"]) - local).max() < 1e-5
    b64 = base64.b64encode(encode_jpeg(crop[0], quality=98)).decode()
    from_jpeg = np.asarray(server.client.post("/v1/models/dlib:predict", json={"instances": [{"b64": b64}]}).json()["predictions"])
    assert from_jpeg.shape == (1, 128) and float(from_jpeg[0] @ local[0]) > 0.99  # JPEG loses a little

    _assert_one_line_error(server.client.post("/v1/models/dlib:predict", json={"instances": [[[1, 2, 3]]]}), 400, f"{crop.shape[1]}×{crop.shape[2]}×3")
    _assert_one_line_error(server.client.post("/v1/models/dlib:predict", json={"rows": []}), 400, "instances")
    _assert_one_line_error(server.client.post("/v1/models/dlib:predict", content=b"{not json", headers={"content-type": "application/json"}), 400)
    _assert_one_line_error(server.client.post("/v1/models/facenet:predict", json={"instances": crop.tolist()}), 404, "Servable not found")


def test_token_rate_and_size_guards(tmp_path: Path) -> None:
    guarded = Server(tmp_path / "data", "--rate", "3", "--max-body-mb", "1", env={"ROLLCALL_TOKEN": TOKEN})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        guarded.wait_ready(auth)
        _assert_one_line_error(guarded.client.get("/v1/people"), 401, "needs a token")
        _assert_one_line_error(guarded.client.get("/v1/people", headers={"Authorization": "Bearer wrong"}), 401, "wrong token")
        time.sleep(1.5)
        assert guarded.client.get("/v1/people", headers=auth).status_code == 200
        big = guarded.client.post("/v1/identify", headers=auth, files=[("image", ("big.jpg", b"\xff" * 1_500_000, "image/jpeg"))])
        _assert_one_line_error(big, 413, "larger than 1 MB")
        codes = [guarded.client.get("/v1/health", headers=auth).status_code for _ in range(12)]
        assert 429 in codes and codes[0] == 200
        limited = guarded.client.get("/v1/health", headers=auth)
        _assert_one_line_error(limited, 429, "too many requests")
        assert int(limited.headers["retry-after"]) >= 1
    finally:
        guarded.stop()


def test_an_exposed_address_needs_a_token(tmp_path: Path, capsys) -> None:
    code = main.run(["--data-dir", str(tmp_path / "d"), "serve", "--host", "0.0.0.0", "--port", str(free_port())])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "--token or ROLLCALL_TOKEN" in err
