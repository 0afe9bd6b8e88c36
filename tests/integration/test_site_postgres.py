"""The command line on a site's PostgreSQL database with real faces: a person enrolled at one station is
recognised at another, and their marks name the station."""

from __future__ import annotations

import json
from pathlib import Path

import main
from db import Repository, open_database
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
