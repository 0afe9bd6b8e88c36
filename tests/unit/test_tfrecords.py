"""TFRecord shards: ``make-tfrecords`` writes a folder tree as shards and ``--tfrecords`` reads back the same
photos and labels (shards interleaved); damaged records are skipped and counted."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

import main  # noqa: E402
from common.errors import InvalidInput  # noqa: E402
from models.train.tfrecords import framed_records, read_records, write_shards  # noqa: E402


def _tree(root: Path) -> dict[str, list[Path]]:
    """Three people, three photos each (two JPEG, one PNG), 24×24 px smooth gradients."""
    rng = np.random.default_rng(0)
    tree = {}
    for person in ("ada", "bo", "cy"):
        (root / person).mkdir(parents=True)
        paths = []
        for k, ext in enumerate((".jpg", ".jpg", ".png")):
            path = root / person / f"{k}{ext}"
            yy, xx = np.mgrid[:24, :24]
            smooth = np.stack([xx * 8, yy * 8, np.full_like(xx, 40 * k)], -1) + rng.integers(0, 60, 3)
            cv2.imwrite(str(path), np.clip(smooth, 0, 255).astype(np.uint8))
            paths.append(path)
        tree[person] = paths
    return tree


def _decoded(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_round_trip_same_photos_and_labels(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "faces")
    report = write_shards(tmp_path / "faces", tmp_path / "train", per_shard=4)
    assert (report.records, report.people, report.skipped, len(report.shards)) == (9, 3, 0, 3)
    assert Path(report.shards[0]).name == "train-00000-of-00003.tfrecord"
    assert Path(report.labels_file).read_text().splitlines() == ["0\tada", "1\tbo", "2\tcy"]
    records = read_records(str(tmp_path / "train-*.tfrecord"))
    assert records.skipped == 0 and sorted(records.images) == ["0", "1", "2"]
    for label, person in enumerate(tree):
        got = records.images[str(label)]
        assert len(got) == 3
        jpegs = {p.read_bytes() for p in tree[person] if p.suffix == ".jpg"}
        assert jpegs <= set(got)  # JPEG files are stored as they are
        png = cv2.imread(str(tree[person][2]))
        others = [g for g in got if g not in jpegs]
        assert len(others) == 1 and np.abs(_decoded(others[0]).astype(int) - png).mean() < 4  # PNG re-encoded


def test_damaged_and_foreign_records_are_skipped_and_counted(tmp_path: Path) -> None:
    import tensorflow as tf

    _tree(tmp_path / "faces")
    report = write_shards(tmp_path / "faces", tmp_path / "train", per_shard=3)
    first = Path(report.shards[0])
    data = bytearray(first.read_bytes())
    length = int.from_bytes(data[:8], "little")
    data[12 + length // 2] ^= 0xFF  # the first record's photo bytes no longer match their checksum
    first.write_bytes(bytes(data))
    with tf.io.TFRecordWriter(str(tmp_path / "train-extra.tfrecord")) as writer:
        writer.write(b"not an Example at all")
    assert framed_records(first) == 3
    records = read_records(str(tmp_path / "train-*.tfrecord"))
    # the damaged record ends its shard (its two successors are counted too), the foreign one is skipped alone
    assert records.skipped == 3 + 1
    assert sum(len(v) for v in records.images.values()) == 9 - 3 and "0" not in records.images


def test_no_readable_record_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.tfrecord").write_bytes(b"this is not a TFRecord file at all" * 10)
    with pytest.raises(InvalidInput, match="not a readable TFRecord"):
        read_records(str(tmp_path / "*.tfrecord"))
    with pytest.raises(InvalidInput, match="no TFRecord files match"):
        read_records(str(tmp_path / "none-*.tfrecord"))


def test_make_tfrecords_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tree(tmp_path / "faces")
    assert main.run(["make-tfrecords", str(tmp_path / "faces"), "--out", str(tmp_path / "s")]) == 0
    assert "wrote 9 records of 3 people in 1 shard" in capsys.readouterr().out
    assert (tmp_path / "s-00000-of-00001.tfrecord").is_file()
    assert main.run(["make-tfrecords", str(tmp_path / "nope"), "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "is not a folder" in err[0]
    assert main.run(["make-tfrecords", str(tmp_path / "faces"), "--out", str(tmp_path / "no" / "s")]) == 1
    assert "does not exist" in capsys.readouterr().err
