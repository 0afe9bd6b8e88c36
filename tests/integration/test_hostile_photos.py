"""Bad photos among good ones, on real faces with the real dlib models: every bad photo is reported on its own
line and skipped, the good ones still give their result; photos already stored are skipped with a note."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from tests.integration.test_cli_enroll import cli, examples, people  # noqa: F401  (fixtures)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), np.full((1, 400, 3), 128, np.uint8))
    return path


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and "dlib" not in err.lower()


def test_identify_reports_a_tiny_image_and_still_names_the_good_one(cli, examples, tiny):  # noqa: F811
    assert cli("enroll", "--name", "Barack Obama", examples / "obama.jpg")[0] == 0
    code, out, err = cli("identify", examples / "obama2.jpg", tiny)
    assert code == 1
    assert "obama2.jpg: Barack Obama" in out
    assert err.strip() == f"error: {tiny} is only 400×1 pixels; a face needs a photo at least 20 pixels on each side"
    code, out, err = cli("identify", "--json", tiny, examples / "obama2.jpg")
    report = json.loads(out)
    assert code == 1 and report[0]["faces"] == [] and "400×1" in report[0]["error"]
    assert report[1]["faces"][0]["name"] == "Barack Obama" and "error" not in report[1]


@pytest.mark.parametrize("command", ["enroll", "verify"])
def test_a_tiny_photo_is_one_clear_line(cli, examples, tiny, command):  # noqa: F811
    args = ("enroll", "--name", "X", tiny) if command == "enroll" else ("verify", examples / "obama.jpg", tiny)
    code, _, err = cli(*args)
    assert code == 1 and err.count("\n") == 1 and "400×1 pixels" in err
    _no_traceback(err)


def test_enroll_folder_skips_bad_photos_reads_gifs_and_adds_nothing_twice_when_run_again(cli, examples, tmp_path):  # noqa: F811
    root = tmp_path / "class"
    (root / "Barack_Obama").mkdir(parents=True)
    shutil.copy(examples / "obama.jpg", root / "Barack_Obama" / "a.jpg")
    cv2.imwrite(str(root / "Barack_Obama" / "b_tiny.png"), np.zeros((1, 1, 3), np.uint8))
    shutil.copy(examples / "obama2.jpg", root / "Barack_Obama" / "c.jpg")
    (root / "broken").mkdir()
    (root / "broken" / "only.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "joe_biden").mkdir()
    assert cv2.imwrite(str(root / "joe_biden" / "joe.gif"), cv2.imread(str(examples / "biden.jpg")))
    code, out, err = cli("enroll-folder", root)
    assert code == 1  # the broken folder had no usable photo...
    assert "enrolled Barack Obama (#1) with 2 new photos" in out  # ...but the folders around it were enrolled
    assert "enrolled Joe Biden (#2) with 1 new photo\n" in out
    assert "b_tiny.png is only 1×1 pixels" in err and "only.jpg" in err
    _no_traceback(err)
    before = {p["name"]: p["samples"] for p in people(cli)}
    assert before == {"Barack Obama": 2, "Joe Biden": 1}

    code, out, err = cli("enroll-folder", root)  # e.g. after an interruption
    assert {p["name"]: p["samples"] for p in people(cli)} == before
    assert "with 0 new photos" in out
    assert f"note: {root / 'Barack_Obama' / 'a.jpg'} is already stored for Barack Obama (#1); skipped" in err


def test_the_same_photo_twice_is_stored_once(cli, examples, tmp_path):  # noqa: F811
    copy = tmp_path / "copy_of_obama.jpg"
    shutil.copy(examples / "obama.jpg", copy)
    code, out, err = cli("enroll", "--name", "Barack Obama", examples / "obama.jpg", copy)
    assert code == 0 and "with 1 new photo;" in out
    assert "is the same photo as" in err
    code, out, err = cli("enroll", "--name", "Barack Obama", copy)
    assert code == 0 and "nothing new was stored" in out and "already stored for Barack Obama" in err
    assert people(cli)[0]["samples"] == 1
