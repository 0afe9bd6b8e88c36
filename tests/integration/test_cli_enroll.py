"""The command line on real faces with the real dlib models: enrollment, bad input, identify, verify."""

from __future__ import annotations

import json
import sqlite3

import cv2
import numpy as np
import pytest

import main
from tests.conftest import need_shared


@pytest.fixture
def examples():
    return need_shared("data", "face-recognition-examples", "examples")


@pytest.fixture
def cli(tmp_path, capsys):
    data = tmp_path / "data"

    def run(*args):
        code = main.run(["--data-dir", str(data), *map(str, args)])
        out, err = capsys.readouterr()
        return code, out, err

    run.data = data
    return run


def people(cli):
    code, out, _ = cli("people", "--json")
    assert code == 0
    return json.loads(out)


def assert_user_error(result, *fragments):
    code, _, err = result
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_enroll_then_identify_names_the_person_and_leaves_strangers_unknown(cli, examples):
    assert cli("enroll", "--name", "Barack Obama", "--id", "S-44", examples / "obama.jpg")[0] == 0
    code, out, _ = cli("identify", "--json", examples / "obama2.jpg", examples / "biden.jpg")
    assert code == 0
    report = json.loads(out)
    assert report[0]["faces"][0]["name"] == "Barack Obama"
    assert report[0]["faces"][0]["person_id"] == people(cli)[0]["id"]
    assert report[1]["faces"][0]["name"] is None
    x, y, w, h = report[0]["faces"][0]["box"]
    assert w > 50 and h > 50


def test_verify_says_same_for_one_person_and_different_for_two(cli, examples):
    same = json.loads(cli("verify", "--json", examples / "obama.jpg", examples / "obama2.jpg")[1])
    diff = json.loads(cli("verify", "--json", examples / "obama.jpg", examples / "biden.jpg")[1])
    assert same["same"] is True and diff["same"] is False
    assert same["metric"] == "l2" and same["score"] < same["threshold"] < diff["score"]


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p, src: p.write_bytes(b""), "empty"),
        (lambda p, src: p.write_bytes(src.read_bytes()[:20000]), "truncated"),
        (lambda p, src: p.write_text("not a photo at all"), "not an image"),
    ],
    ids=["zero-bytes", "truncated-jpeg", "text-named-jpg"],
)
def test_unreadable_photos_are_refused_and_nothing_is_stored(cli, examples, tmp_path, make, fragment):
    bad = tmp_path / "bad.jpg"
    make(bad, examples / "obama.jpg")
    assert_user_error(cli("enroll", "--name", "X", bad), fragment, "bad.jpg")
    assert people(cli) == []


def test_photo_without_a_face_is_refused(cli, tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 200, np.uint8))
    assert_user_error(cli("enroll", "--name", "X", blank), "no face found", "wall.png")
    assert people(cli) == []


def test_photo_with_two_faces_is_refused(cli, examples):
    assert_user_error(cli("enroll", "--name", "X", examples / "two_people.jpg"), "2 faces found")
    assert people(cli) == []


def test_one_bad_photo_among_good_ones_stores_nothing(cli, examples):
    assert_user_error(cli("enroll", "--name", "X", examples / "obama.jpg", examples / "two_people.jpg"), "nothing was stored")
    assert people(cli) == []


def test_missing_path_is_named(cli, tmp_path):
    assert_user_error(cli("enroll", "--name", "X", tmp_path / "gone.jpg"), "gone.jpg", "no such file")


@pytest.mark.parametrize("variant", ["png16", "rgba", "gray"])
def test_sixteen_bit_rgba_and_grayscale_photos_simply_work(cli, examples, tmp_path, variant):
    bgr = cv2.imread(str(examples / "obama.jpg"))
    if variant == "png16":
        img = bgr.astype(np.uint16) * 257
    elif variant == "rgba":
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    else:
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    path = tmp_path / f"obama_{variant}.png"
    cv2.imwrite(str(path), img)
    assert cli("enroll", "--name", "Obama", path)[0] == 0
    assert people(cli)[0]["samples"] == 1


def test_fifty_megapixel_photo_works(cli, examples, tmp_path):
    bgr = cv2.imread(str(examples / "obama.jpg"))
    scale = np.sqrt(50e6 / (bgr.shape[0] * bgr.shape[1]))
    big = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    path = tmp_path / "huge.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert cli("enroll", "--name", "Obama", path)[0] == 0
    code, out, _ = cli("identify", "--json", examples / "obama2.jpg")
    assert json.loads(out)[0]["faces"][0]["name"] == "Obama"


def test_duplicate_external_id_is_refused(cli, examples):
    assert cli("enroll", "--name", "Barack Obama", "--id", "S-1", examples / "obama.jpg")[0] == 0
    assert_user_error(cli("enroll", "--name", "Joe Biden", "--id", "S-1", examples / "biden.jpg"), "S-1")
    assert [p["name"] for p in people(cli)] == ["Barack Obama"]


def test_removing_an_unknown_person_is_a_clear_error(cli):
    assert_user_error(cli("remove", "Nobody"), "Nobody")


def test_remove_erases_the_person(cli, examples):
    cli("enroll", "--name", "Joe Biden", examples / "biden.jpg")
    code, out, _ = cli("remove", "joe biden")
    assert code == 0 and "removed Joe Biden" in out
    assert people(cli) == []


def test_database_locked_by_another_process_is_reported(cli, examples):
    cli("people")  # creates the database
    holder = sqlite3.connect(cli.data / "rollcall.db", timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert_user_error(cli("enroll", "--name", "Joe", examples / "biden.jpg"), "locked")
    finally:
        holder.rollback()
        holder.close()
    assert people(cli) == []


def test_data_folder_that_cannot_be_written_is_reported(tmp_path, capsys, examples):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code = main.run(["--data-dir", str(blocker / "rollcall"), "enroll", "--name", "Joe", str(examples / "biden.jpg")])
    err = capsys.readouterr().err
    assert code == 1 and "data folder" in err and "--data-dir" in err
