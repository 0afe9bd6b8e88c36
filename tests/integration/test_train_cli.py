"""``train`` on bad input: one line on stderr, exit code 1, before any TensorFlow work; ``--check-detect``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import main
from tests.conftest import need_shared


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main.run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for word in words:
        assert word in lines[0]


def test_an_empty_folder_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = _run(capsys, "train", "--data", str(tmp_path / "empty"))
    _one_line_error(code, err, "no person folders")
    assert out == ""


def test_a_missing_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "nope"))
    _one_line_error(code, err, "is not a folder")


def test_one_person_is_not_enough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = need_shared("data", "five-celebrity", "train", "madonna")
    (tmp_path / "one").mkdir()
    shutil.copytree(src, tmp_path / "one" / "madonna")
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "one"), "--epochs", "1")
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("error: training needs at least 2 people")
    assert "warning: only 1 person with two or more photos" in err  # the plan said so before detection started


def test_unknown_base_mode_and_tfrecords(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d" / "a").mkdir(parents=True)
    code, _, err = _run(capsys, "train", "--base", "vgg", "--data", str(tmp_path / "d"))
    _one_line_error(code, err, "unknown base model 'vgg'", "facenet, resnet50")
    code, _, err = _run(capsys, "train", "--base", "resnet50", "--mode", "head", "--data", str(tmp_path / "d"))
    _one_line_error(code, err, "--mode full")
    code, _, err = _run(capsys, "train", "--tfrecords", str(tmp_path / "*.tfrecord"))
    _one_line_error(code, err, "no TFRecord files match")
    (tmp_path / "bad.tfrecord").write_bytes(b"this is not a TFRecord file at all" * 10)
    code, _, err = _run(capsys, "train", "--tfrecords", str(tmp_path / "*.tfrecord"))
    # TensorFlow's own C++ log lines may precede it; ours is one line, the last
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and err.strip().splitlines()[-1] == errors[0]
    assert "not a readable TFRecord" in errors[0]
    code, _, err = _run(capsys, "train", "--batch-size", "3", "--data", str(tmp_path / "d"))
    _one_line_error(code, err, "--batch-size 3")


def test_no_enrolled_people(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "train", "--enrolled")
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: training needs at least 2 people")


def test_check_detect_counts_faces_per_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = need_shared("data", "face-recognition-examples", "examples")
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "b").mkdir()
    shutil.copy(examples / "obama.jpg", tmp_path / "d" / "a" / "obama.jpg")
    shutil.copy(examples / "two_people.jpg", tmp_path / "d" / "b" / "two.jpg")
    code, out, err = _run(capsys, "train", "--data", str(tmp_path / "d"), "--check-detect")
    assert code == 0
    counts = {Path(line.split("\t")[1]).name: line.split("\t")[0] for line in out.splitlines()}
    assert counts == {"obama.jpg": "1", "two.jpg": "2"}
    assert "1 of 2 photos have exactly one face" in err


def test_tfrecord_shards_are_read_with_their_labels(tmp_path: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    from models.train.tfrecords import read_records

    root = need_shared("data", "five-celebrity", "train")
    with tf.io.TFRecordWriter(str(tmp_path / "train-0.tfrecord")) as writer:
        for label, person in enumerate(("madonna", "elton_john")):
            for path in sorted((root / person).glob("*.jpg"))[:3]:
                feats = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.read_bytes()])),
                         "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    records = read_records(str(tmp_path / "*.tfrecord"))
    images = records.images
    assert records.skipped == 0
    assert sorted(images) == ["0", "1"] and [len(v) for v in images.values()] == [3, 3]
    assert images["0"][0] == sorted((root / "madonna").glob("*.jpg"))[0].read_bytes()


def test_the_text_report_shows_before_after_and_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli.train_cmd import _report
    from app.services.training import EpochStats, TrainOutcome

    fig = lambda acc: {"accuracy": acc, "auc": 0.99, "tar_at_far": 0.9, "threshold": 1.1, "pairs": 40}  # noqa: E731
    outcome = TrainOutcome("/nowhere", {"heldout": fig(0.9), "guard": fig(0.99)}, {"heldout": fig(0.95), "guard": fig(0.99)},
                           "better for your people, unchanged for others", True, (EpochStats(1, 1, 0.1, 0.5, 1.0, 0.95),),
                           False, "CPU", 12.0, {"no_face": 2, "multiple_faces": 1, "unreadable": 0, "centre_box": 0}, 1)
    _report(outcome, "class-7b", False)
    out = capsys.readouterr().out
    assert "heldout : accuracy 90.00% → 95.00%" in out and "guard   : accuracy 99.00% → 99.00%" in out
    assert "2 without a face, 1 with several" in out and "verdict: better for your people" in out
    assert "kept as backend 'class-7b'" in out
    _report(outcome, None, True)
    assert '"kept_as": null' in capsys.readouterr().out


def test_models_list_and_remove_include_tuned_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from models.embedders.user_backend import user_backends_dir

    monkeypatch.setenv("ROLLCALL_CACHE", str(tmp_path / "cache"))
    folder = user_backends_dir(tmp_path / "cache") / "class-7b"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"x")
    (folder / "backend.json").write_text(json.dumps({
        "name": "class-7b", "base": "facenet", "alignment": "box_margin_facenet", "input_size": [160, 160], "dim": 128,
        "metric": "l2", "threshold": 1.0, "description": "facenet fine-tuned (head mode) on 5 people, 90 photos"}))
    code, out, _ = _run(capsys, "models", "list")
    assert code == 0 and "class-7b" in out and "fine-tuned (head mode) on 5 people" in out
    code, _, err = _run(capsys, "--backend", "class-7b", "models", "remove", "class-7b")
    _one_line_error(code, err, "in use")
    code, out, _ = _run(capsys, "models", "remove", "class-7b")
    assert code == 0 and "removed tuned model class-7b" in out and not folder.exists()
    from models.embedders.registry import known_backends

    assert "class-7b" not in known_backends(tmp_path / "cache")
