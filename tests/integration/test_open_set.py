"""Open-set identification with the default operating point: strangers are not named as someone enrolled.

Enrolled: the five-celebrity people (a few train photos each) and Lin-Manuel Miranda. Before the gallery-size
aware operating point, Alex Lacamoire was named Jerry Seinfeld, Rose Leslie Madonna, and Barack and Michelle Obama
in the Hamilton clip Madonna / Elton John (dlib at its pair-verification threshold 0.42).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import main
from app.config import build_config
from app.context import AppContext
from app.services.live import LiveConfig, live_engine
from app.services.recognition import identify_image
from tests.conftest import need_shared

PER_PERSON = 8
"""Train photos enrolled per celebrity (the first ones by name): enough for five-celebrity val, quick to enroll."""
CELEBS = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A data folder with the five celebrities and Lin-Manuel Miranda enrolled (dlib, default settings)."""
    train = need_shared("data", "five-celebrity", "train")
    lin = need_shared("data", "face-recognition-examples", "examples", "lin-manuel-miranda.png")
    data = str(tmp_path_factory.mktemp("openset") / "d")
    for who in CELEBS:
        photos = sorted(str(p) for p in (train / who).iterdir() if p.is_file())[:PER_PERSON]
        assert main.run(["--data-dir", data, "enroll", "--name", who.replace("_", " ").title(), *photos]) == 0
    assert main.run(["--data-dir", data, "enroll", "--name", "Lin-Manuel Miranda", str(lin)]) == 0
    return data


def _identify(data: str, capsys: pytest.CaptureFixture[str], *paths: Path) -> list[dict]:
    capsys.readouterr()
    assert main.run(["--data-dir", data, "identify", "--json", *map(str, paths)]) == 0
    return json.loads(capsys.readouterr().out)


def test_strangers_in_photos_are_not_named(enrolled: str, capsys: pytest.CaptureFixture[str]) -> None:
    examples = need_shared("data", "face-recognition-examples", "examples")
    photos = [examples / "alex-lacamoire.png", examples / "knn_examples" / "test" / "kit_with_rose.jpg"]
    report = _identify(enrolled, capsys, *photos)
    assert [len(entry["faces"]) for entry in report] == [1, 2], "every face was found"
    named = [face["name"] for entry in report for face in entry["faces"] if face["name"]]
    assert named == [], f"strangers named as enrolled people: {report}"


def _frame(number: int) -> np.ndarray:
    clip = need_shared("video", "hamilton_clip.mp4")
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, number)
    ok, bgr = cap.read()
    cap.release()
    assert ok, f"frame {number} of {clip} could not be read"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("number", [215, 255])
def test_the_obama_frames_name_nobody(enrolled: str, number: int) -> None:
    """Barack and Michelle Obama and their neighbours, none enrolled: Unknown on the photo path (identify) and
    on the live path (single-view embeddings at the live operating point)."""
    ctx = AppContext(build_config(data_dir=enrolled))
    frame = _frame(number)
    photo = identify_image(ctx, frame)
    assert photo, "faces were found"
    assert [r.match.name for r in photo if r.match.name] == [], [(r.match.name, r.match.score) for r in photo]
    engine = live_engine(ctx, LiveConfig())
    found = engine.analyze(frame)
    gallery = ctx.gallery(live=True)
    matches = gallery.search(np.stack([v for _, v in found])) if found else []
    assert [m.name for m in matches if m.name] == [], [(m.name, m.score) for m in matches]
    ctx.close()


def test_five_celebrity_val_is_still_named(enrolled: str, capsys: pytest.CaptureFixture[str]) -> None:
    val = sorted(p for p in need_shared("data", "five-celebrity", "val").glob("*/*") if p.is_file())
    report = _identify(enrolled, capsys, *val)
    correct = 0
    for entry in report:
        truth = entry["image"].split("/")[-2].replace("_", " ").title()
        correct += {face["name"] for face in entry["faces"]} - {None} == {truth}
    assert len(report) == 25 and correct >= 24, report


def test_the_operating_point_is_stricter_than_the_pair_threshold(enrolled: str) -> None:
    """Six people enrolled, Balanced: about 1 stranger in 100 named; the threshold is below dlib's 0.42."""
    ctx = AppContext(build_config(data_dir=enrolled))
    point = ctx.operating_point(len(ctx.gallery()))
    assert point.source == "table" and point.gallery_size == 6
    assert point.threshold < 0.42 and "about 1 stranger in 100" in point.describe()
    assert ctx.gallery().threshold == point.threshold
    ctx.close()
