"""Command-line behaviour that needs no face models."""

import json
import subprocess
import sys

import main
from tests.conftest import REPO


def test_usage_errors_are_one_line_and_exit_code_one(capsys):
    try:
        main.run(["enroll"])
    except SystemExit as exc:
        assert exc.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--name" in err[0] and err[0].startswith("error:")


def test_people_on_a_fresh_data_folder_is_an_empty_list(tmp_path, capsys):
    assert main.run(["--data-dir", str(tmp_path / "d"), "people", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert (tmp_path / "d" / "rollcall.db").is_file()


def test_help_loads_no_heavy_library():
    code = (
        "import sys, main\n"
        "try:\n    main.run(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('dlib', 'cv2', 'tensorflow', 'onnxruntime', 'sqlalchemy', 'PySide6') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_export_of_an_unknown_session_is_a_clear_error(tmp_path, capsys):
    code = main.run(["--data-dir", str(tmp_path / "d"), "export", "--out", str(tmp_path / "a.csv"), "--session", "Nope"])
    assert code == 1 and "no session named 'Nope'" in capsys.readouterr().err


def test_bad_date_is_a_clear_error(tmp_path, capsys):
    code = main.run(["--data-dir", str(tmp_path / "d"), "export", "--out", str(tmp_path / "a.csv"), "--from", "yesterday"])
    assert code == 1 and "YYYY-MM-DD" in capsys.readouterr().err
