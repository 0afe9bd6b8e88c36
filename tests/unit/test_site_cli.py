"""`db check` / `db upgrade` and the station setting, as an administrator of several stations sees them."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

import main
from app.config import SETTINGS_FILE, Settings, build_config
from app.context import AppContext


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main.run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_then_upgrade_a_new_sqlite_file(tmp_path: Path, capsys) -> None:
    data = str(tmp_path / "d")
    code, out, _ = _run(capsys, "--data-dir", data, "db", "check")
    assert code == 1 and "empty (no Rollcall tables yet)" in out and "db upgrade" in out
    assert not (tmp_path / "d" / "rollcall.db").exists()  # check changes nothing
    code, out, _ = _run(capsys, "--data-dir", data, "db", "upgrade")
    assert code == 0 and "upgraded sqlite database" in out and "from empty to 0003" in out
    code, out, _ = _run(capsys, "--data-dir", data, "db", "check")
    assert code == 0 and "up to date" in out
    code, out, _ = _run(capsys, "--data-dir", data, "db", "upgrade")
    assert code == 0 and "nothing to do" in out


def test_upgrade_a_site_postgres_database(pg_url: str, tmp_path: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--data-dir", str(tmp_path), "--db", pg_url, "db", "upgrade")
    assert code == 0 and "upgraded postgresql database" in out
    code, out, _ = _run(capsys, "--data-dir", str(tmp_path), "--db", pg_url, "db", "check")
    assert code == 0 and "schema 0003" in out


def test_unreachable_server_is_one_line(tmp_path: Path, capsys) -> None:
    url = "postgresql+psycopg://rollcall@127.0.0.1:1/rollcall"
    for action in ("check", "upgrade"):
        code, out, err = _run(capsys, "--data-dir", str(tmp_path), "--db", url, "db", action)
        assert code == 1 and out == "" and err.count("\n") == 1
        assert err.startswith("error: cannot reach the database server") and "127.0.0.1:1" in err


def test_schema_from_a_newer_rollcall_is_named(tmp_path: Path, capsys) -> None:
    path = tmp_path / "rollcall.db"
    with sqlite3.connect(path) as newer:
        newer.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        newer.execute("INSERT INTO alembic_version VALUES ('0042')")
    newer.close()
    for action in ("check", "upgrade"):
        code, _, err = _run(capsys, "--data-dir", str(tmp_path), "db", action)
        assert code == 1 and "'0042', written by a newer Rollcall" in err and "nothing was changed" in err


def test_station_setting_is_recorded_with_marks(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"station": "  North door "}))
    ctx = AppContext(build_config(str(tmp_path)))
    person = ctx.repo.add_person("Ada")
    session = ctx.repo.get_or_create_session("Maths")
    from datetime import datetime, timezone

    event = ctx.repo.mark_if_due(person.id, session.id, datetime.now(timezone.utc), "camera")
    ctx.close()
    assert ctx.config.station == "North door" and event is not None and event.station == "North door"


@pytest.mark.parametrize("value", ["", "door\n2", "door\u200b2", 7, "x" * 101])
def test_a_bad_station_name_falls_back_to_the_host_name(tmp_path: Path, caplog, value: object) -> None:
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"station": value}))
    with caplog.at_level(logging.WARNING, logger="app.config"):
        settings = Settings.load(tmp_path)
    assert settings.station == Settings().station and settings.station
    assert len(caplog.records) == 1 and "'station'" in caplog.records[0].getMessage()
