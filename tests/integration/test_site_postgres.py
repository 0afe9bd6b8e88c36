"""The command line on a site's PostgreSQL database with real faces: a person enrolled at one station is
recognised at another, and their marks name the station."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import main
from app.config import build_config
from app.context import AppContext
from app.services.enrollment import enroll_paths
from app.services.live import WatchSummary, run_watch
from db import Repository, open_database
from db.records import EventRecord
from tests.conftest import need_shared


def test_enroll_at_one_station_identify_at_another(pg_url: str, tmp_path: Path, capsys) -> None:
    examples = need_shared("data", "face-recognition-examples", "examples")
    door1 = ["--data-dir", str(tmp_path / "door1"), "--db", pg_url]
    door2 = ["--data-dir", str(tmp_path / "door2"), "--db", pg_url]
    assert main.run([*door1, "enroll", "--name", "Obama", "--id", "P-44", str(examples / "obama.jpg")]) == 0
    capsys.readouterr()
    assert main.run([*door2, "identify", "--json", str(examples / "obama2.jpg")]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in entry["faces"]] == ["Obama"]
    assert main.run([*door2, "people", "--json"]) == 0
    assert [p["external_id"] for p in json.loads(capsys.readouterr().out)] == ["P-44"]
    assert main.run([*door2, "remove", "P-44"]) == 0
    database = open_database(pg_url)
    assert Repository(database).list_people() == []
    database.close()


def test_watch_names_a_person_enrolled_at_another_station_within_seconds(pg_url: str, tmp_path: Path) -> None:
    """door2 watches a stream of Obama while door1 enrolls him: door2 marks him a few seconds later."""
    examples = need_shared("data", "face-recognition-examples", "examples")
    frames = tmp_path / "stream"
    frames.mkdir()
    for i in range(400):  # a long 'stream' of one picture (links: nothing is copied)
        (frames / f"{i:04d}.jpg").symlink_to(examples / "obama2.jpg")
    door1 = AppContext(build_config(str(tmp_path / "door1"), pg_url))
    door2 = AppContext(build_config(str(tmp_path / "door2"), pg_url))
    try:
        enroll_paths(door2, "Biden", None, [examples / "biden.jpg"])
        watching, enrolled_at = threading.Event(), []
        seen: list[tuple[EventRecord, float]] = []

        def on_event(event: EventRecord) -> None:
            seen.append((event, time.monotonic()))

        def watch() -> WatchSummary:
            return run_watch(door2, str(frames), "doors", on_event=on_event, should_stop=lambda: bool(seen),
                             on_update=lambda update: watching.set())  # fmt: skip

        with ThreadPoolExecutor(1) as pool:
            summary = pool.submit(watch)
            assert watching.wait(60), "the watch did not start"
            enroll_paths(door1, "Obama", None, [examples / "obama.jpg"])
            enrolled_at.append(time.monotonic())
            result = summary.result(timeout=120)
        assert [e.person_name for e in result.events] == ["Obama"], f"{result.frames} frames watched"
        event, marked_at = seen[0]
        assert event.station == door2.config.station
        latency = marked_at - enrolled_at[0]
        assert latency <= 6.0, f"Obama was marked {latency:.1f} s after being enrolled elsewhere"
    finally:
        door1.close()
        door2.close()
