"""TFRecord shards of face photos, VGGFace2-style: one ``tf.train.Example`` per photo with the encoded JPEG under
``image/encoded`` and the identity under ``image/class/label`` (int64); this writer also stores the person's
name (``image/class/text``) and the file name (``image/filename``).

* :func:`write_shards` — ``make-tfrecords DIR --out PREFIX``: ``PREFIX-00000-of-00003.tfrecord`` … and
  ``PREFIX-labels.txt`` (``label<TAB>name``) from a ``person/photo.jpg`` tree.
* :func:`read_records` — the ``--tfrecords GLOB`` reader: a ``tf.data`` pipeline that interleaves the shards in
  parallel (deterministic order). A record that cannot be read is skipped and counted: a damaged record
  (TFRecord checksum) ends its shard — the records after it in that shard are counted too, since the reader
  cannot find their start — and a record that is not a ``tf.train.Example`` with an image and a label is
  skipped alone. Photos are decoded (and later augmented) by the training job, after face detection.

TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import glob
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import InvalidInput

log = logging.getLogger(__name__)

IMAGE_KEYS = ("image/encoded", "image_raw", "image")
LABEL_KEYS = ("image/class/label", "label", "image/label")
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class ShardReport:
    """What :func:`write_shards` wrote: shard paths, records, people, photos skipped (unreadable), labels file."""

    shards: tuple[str, ...]
    records: int
    people: int
    skipped: int
    labels_file: str


@dataclass
class Records:
    """Encoded photos per label (the label as text, e.g. ``"0"``) and how many records were skipped."""

    images: dict[str, list[bytes]] = field(default_factory=dict)
    skipped: int = 0


def _jpeg(path: Path) -> bytes | None:
    """The photo as JPEG bytes (the file itself when it already is a JPEG), or None when unreadable."""
    from common.errors import BadImage
    from models.imageio import load_image

    data = path.read_bytes()
    if data[:3] == JPEG_MAGIC:
        return data
    try:
        image = load_image(path)
    except BadImage as exc:
        log.warning("skipping %s", exc)
        return None
    import cv2

    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return buf.tobytes() if ok else None


def _example(jpeg: bytes, label: int, name: str, filename: str) -> bytes:
    import tensorflow as tf

    def b(v: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    feats = {"image/encoded": b(jpeg), "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
             "image/class/text": b(name.encode()), "image/filename": b(filename.encode()), "image/format": b(b"JPEG")}
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def write_shards(folder: str | Path, prefix: str | Path, per_shard: int = 1000) -> ShardReport:
    """Write every photo of a ``person/photo`` tree as TFRecord shards (people sorted; label = index).

    Raises:
        InvalidInput: not a folder tree of photos, ``per_shard`` under 1, or the prefix's folder is missing.
    """
    import tensorflow as tf

    from models.train.data import folder_tree

    if per_shard < 1:
        raise InvalidInput(f"--per-shard {per_shard} is too small; use at least 1 (default 1000)")
    out = Path(prefix).expanduser()
    if not out.parent.is_dir():
        raise InvalidInput(f"folder {out.parent} does not exist; create it or give another --out prefix")
    tree = folder_tree(folder)
    items = [(label, name, p) for label, (name, photos) in enumerate(tree.items()) for p in photos]
    count = max(1, -(-len(items) // per_shard))
    shards, written, skipped = [], 0, 0
    for k in range(count):
        path = Path(f"{out}-{k:05d}-of-{count:05d}.tfrecord")
        tmp = path.with_name(path.name + ".tmp")
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for label, name, photo in items[k * per_shard : (k + 1) * per_shard]:
                jpeg = _jpeg(photo)
                if jpeg is None:
                    skipped += 1
                    continue
                writer.write(_example(jpeg, label, name, photo.name))
                written += 1
        os.replace(tmp, path)
        shards.append(str(path))
    labels = Path(f"{out}-labels.txt")
    labels.write_text("".join(f"{i}\t{name}\n" for i, name in enumerate(tree)), encoding="utf-8")
    return ShardReport(tuple(shards), written, len(tree), skipped, str(labels))


def framed_records(path: str | Path) -> int:
    """How many records a TFRecord file's framing announces (lengths only, no checksums); a cut-off last
    record counts."""
    size, offset, count = os.path.getsize(path), 0, 0
    with open(path, "rb") as f:
        while offset < size:
            head = f.read(8)
            count += 1
            if len(head) < 8:
                break
            offset += 8 + 4 + struct.unpack("<Q", head)[0] + 4
            if offset >= size:
                break
            f.seek(offset)
    return count


def read_records(pattern: str, limit: int | None = None, parallel: int = 4) -> Records:
    """Encoded photos per label from TFRecord shards matching ``pattern`` (see the module docstring).

    Raises:
        InvalidInput: no file matches, or not one readable record with an image and a label was found (the
            message says why).
    """
    files = sorted(glob.glob(str(Path(pattern).expanduser())))
    if not files:
        raise InvalidInput(f"no TFRecord files match {pattern!r}; give a glob such as shards/train-*.tfrecord")
    out, problems, good = Records(), [], {f: 0 for f in files}
    for k, (name, raw) in enumerate(_dataset(files, parallel).as_numpy_iterator()):
        if limit is not None and k >= limit:
            break
        good[name.decode()] += 1
        try:
            label, image = _parse(raw)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        out.images.setdefault(str(label), []).append(image)
    if limit is None:
        out.skipped = sum(max(0, framed_records(f) - good[f]) for f in files) + len(problems)
    else:
        out.skipped = len(problems)
    if not out.images:
        why = problems[0] if problems else "it is not a readable TFRecord file"
        raise InvalidInput(f"{pattern!r} holds no usable record ({why}); give shards of tf.train.Example records "
                           f"(image/encoded + image/class/label)")
    if out.skipped:
        log.warning("%d TFRecord records were damaged or incomplete and were skipped", out.skipped)
    return out


def _dataset(files: list[str], parallel: int) -> object:
    """``(file name, serialized record)`` pairs, shards interleaved in parallel; a damaged record ends its shard."""
    import tensorflow as tf

    def one(name: tf.Tensor) -> tf.data.Dataset:
        return tf.data.TFRecordDataset(name).map(lambda r: (name, r)).ignore_errors()

    return tf.data.Dataset.from_tensor_slices(files).interleave(
        one, cycle_length=max(1, min(parallel, len(files))), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _parse(raw: bytes) -> tuple[int, bytes]:
    """``(label, encoded image)`` of one record.

    Raises:
        ValueError: not a ``tf.train.Example``, or no image or label under the known keys.
    """
    import tensorflow as tf

    try:
        feats = tf.train.Example.FromString(raw).features.feature
    except Exception:  # protobuf's DecodeError
        raise ValueError("a record is not a tf.train.Example") from None
    image = next((bytes(feats[k].bytes_list.value[0]) for k in IMAGE_KEYS if k in feats and feats[k].bytes_list.value), None)
    if image is None:
        raise ValueError(f"a record has no encoded image (looked for {', '.join(IMAGE_KEYS)})")
    label = next((int(feats[k].int64_list.value[0]) for k in LABEL_KEYS if k in feats and feats[k].int64_list.value), None)
    if label is None:
        raise ValueError(f"a record has no integer label (looked for {', '.join(LABEL_KEYS)})")
    return label, image
