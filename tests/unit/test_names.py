"""Names with control characters or escape codes are refused; long input is cut short in messages; names
stored earlier are printed with their control characters escaped."""

from __future__ import annotations

import pytest

import main
from app.cli.common import printable
from common.errors import InvalidInput
from db import Repository, open_database


@pytest.fixture
def repo():
    database = open_database("sqlite://")
    yield Repository(database)
    database.close()


@pytest.mark.parametrize("name", ["Bob\x1b[2J", "Ada\nLovelace", "Tab\tName", "Bell\x07", "Zero\u200bWidth"])
def test_control_characters_in_a_name_are_refused(repo, name) -> None:
    with pytest.raises(InvalidInput, match="contains control characters") as caught:
        repo.add_person(name)
    assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value)
    assert repo.list_people() == []


def test_control_characters_are_refused_in_session_names_and_external_ids(repo) -> None:
    with pytest.raises(InvalidInput, match="control characters"):
        repo.get_or_create_session("Maths\x1b]0;pwned\x07")
    with pytest.raises(InvalidInput, match="control characters"):
        repo.add_person("Ada", external_id="S\x1b[0m-1")


def test_a_huge_name_is_cut_short_in_the_message(tmp_path, capsys) -> None:
    code = main.run(["--data-dir", str(tmp_path / "d"), "remove", "x" * 10_000])
    err = capsys.readouterr().err
    assert code == 1 and len(err) < 300 and "x" * 80 + "…" in err


def test_a_too_long_name_is_refused_with_a_short_message(repo) -> None:
    with pytest.raises(InvalidInput) as caught:
        repo.add_person("y" * 10_000)
    assert len(str(caught.value)) < 200 and "1 to 200 characters" in str(caught.value)


def test_names_stored_before_are_printed_escaped(tmp_path, capsys) -> None:
    data = tmp_path / "d"
    assert main.run(["--data-dir", str(data), "people"]) == 0
    import sqlite3

    with sqlite3.connect(data / "rollcall.db") as raw:  # as an older Rollcall could have stored it
        raw.execute("INSERT INTO people (name, created_at) VALUES (?, '2026-11-30 09:00:00')", ("Eve\x1b[2J",))
    capsys.readouterr()
    assert main.run(["--data-dir", str(data), "people"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "Eve\\x1b[2J" in out
    assert printable("a\u202eb") == "a\\u202eb"
