"""Throughput and latency of ``POST /v1/identify`` on a 640×480 photo, and the server's memory over many requests.

Starts ``python main.py serve`` on a free loopback port (rate limit off) with one person enrolled, then for 1, 4
and 16 concurrent clients (httpx, one connection each) sends ``--requests`` identify requests per level (or
stops after ``--level-s`` seconds) and reports requests/s, p50 and p95 latency. Then it sends
``--memory-requests`` more and reports the server's resident memory (VmRSS) before and after them.

Example (loopback only)::

    nice -n 10 python bench/bench_serve.py --requests 60 --memory-requests 1000

Writes ``bench/out/bench_serve.json``.

Soak mode (``--soak N``, the levels are skipped): N small requests from 4 clients, a mix of ``POST
/v1/identify`` on a 320×240 photo (every ``--identify-every``-th request) and ``GET /v1/health`` (which reads the
database), printing the server's resident memory at the start, after every 1 000 requests and at the end::

    nice -n 10 python bench/bench_serve.py --soak 10000

Writes ``bench/out/bench_serve_soak.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "out" / "bench_serve.json"
SOAK_OUT = REPO / "bench" / "out" / "bench_serve_soak.json"
SOAK_STEP = 1000
"""Requests between two memory readings in soak mode."""


def _photo_640x480(source: Path) -> bytes:
    """``source`` resized to 640×480 (aspect kept by padding), as JPEG bytes."""
    import cv2

    from models.imageio import encode_jpeg, load_image

    image = load_image(source)
    h, w = image.shape[:2]
    scale = min(640 / w, 480 / h)
    small = cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    return encode_jpeg(canvas)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _level(base: str, photo: bytes, clients: int, requests: int, seconds: float) -> dict[str, Any]:
    """``requests`` identify calls spread over ``clients`` threads (stopping after ``seconds``)."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    remaining = [requests]
    end = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            while time.monotonic() < end:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                start = time.perf_counter()
                answer = http.post("/v1/identify", files=[("image", ("photo.jpg", photo, "image/jpeg"))])
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    errors[0] += answer.status_code != 200

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "errors": errors[0], "req_per_s": len(latencies) / wall,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60, help="identify requests per concurrency level")
    parser.add_argument("--level-s", type=float, default=90.0, help="stop a level after this many seconds")
    parser.add_argument("--memory-requests", type=int, default=1000, help="requests between the two memory readings")
    parser.add_argument("--photo", type=Path, default=REPO.parent / "shared/data/face-recognition-examples/examples/obama.jpg")
    parser.add_argument("--soak", type=int, metavar="N", help="soak mode: N small requests, memory every 1 000")
    parser.add_argument("--identify-every", type=int, default=4, help="soak: every n-th request is an identify")
    args = parser.parse_args()
    photo = (args.photo.parent / "obama_small.jpg").read_bytes() if args.soak else _photo_640x480(args.photo)
    with tempfile.TemporaryDirectory(prefix="rollcall-bench-serve-") as tmp:
        data = Path(tmp) / "data"
        enrol = [sys.executable, str(REPO / "main.py"), "--data-dir", str(data), "enroll", "--name", "Obama", str(args.photo)]
        subprocess.run(enrol, check=True, capture_output=True, timeout=300)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, str(REPO / "main.py"), "--data-dir", str(data), "serve", "--port", str(port), "--rate", "0"]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            measure = _soak if args.soak else _measure
            report = measure(f"http://127.0.0.1:{port}", server.pid, photo, args)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report["cpu_count"] = os.cpu_count()
    out = SOAK_OUT if args.soak else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


def _wait_ready(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{base}/v1/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _mixed(base: str, photo: bytes, start: int, count: int, identify_every: int, clients: int = 4) -> dict[str, int]:
    """Requests ``start`` .. ``start + count - 1`` (request i is an identify when i % identify_every == 0, else a
    health check) over ``clients`` threads; counts of each kind and of answers other than 200."""
    import httpx

    lock = threading.Lock()
    todo = iter(range(start, start + count))
    counts = {"identify": 0, "health": 0, "errors": 0, "dropped_connections": 0}

    def send(http: httpx.Client, i: int) -> tuple[str, int]:
        if i % identify_every == 0:
            return "identify", http.post("/v1/identify", files=[("image", ("p.jpg", photo, "image/jpeg"))]).status_code
        return "health", http.get("/v1/health").status_code

    def client() -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                try:
                    kind, status = send(http, i)
                except httpx.TransportError:  # a kept-alive connection closed under us: count it, send again
                    with lock:
                        counts["dropped_connections"] += 1
                    kind, status = send(http, i)
                with lock:
                    counts[kind] += 1
                    counts["errors"] += status != 200

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def _soak(base: str, pid: int, photo: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """``args.soak`` mixed requests in steps of :data:`SOAK_STEP`, the server's RSS after each step."""
    _wait_ready(base)
    totals = {"identify": 0, "health": 0, "errors": 0, "dropped_connections": 0}
    readings = [{"requests": 0, "rss_mb": round(_rss_mb(pid), 1), "seconds": 0.0}]
    print(f"requests {0:>6}: server RSS {readings[0]['rss_mb']:.1f} MB", flush=True)
    t0 = time.perf_counter()
    done = 0
    while done < args.soak:
        step = min(SOAK_STEP, args.soak - done)
        for key, value in _mixed(base, photo, done, step, max(1, args.identify_every)).items():
            totals[key] += value
        done += step
        reading = {"requests": done, "rss_mb": round(_rss_mb(pid), 1), "seconds": round(time.perf_counter() - t0, 1)}
        readings.append(reading)
        print(f"requests {done:>6}: server RSS {reading['rss_mb']:.1f} MB ({reading['seconds']:.0f} s)", flush=True)
    rss = [r["rss_mb"] for r in readings]
    warm = rss[1] if len(rss) > 1 else rss[0]  # after the first step: models loaded, caches filled
    return {"mode": "soak", "photo": "320x240 JPEG (obama_small.jpg)", "identify_every": args.identify_every,
            **totals, "readings": readings, "rss_first_step_mb": warm, "rss_end_mb": rss[-1],
            "growth_after_first_step_mb": round(rss[-1] - warm, 1)}  # fmt: skip


def _measure(base: str, pid: int, photo: bytes, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    _wait_ready(base)
    first = httpx.post(f"{base}/v1/identify", files=[("image", ("photo.jpg", photo, "image/jpeg"))], timeout=120).json()
    levels = [_level(base, photo, c, args.requests, args.level_s) for c in (1, 4, 16)]
    before = _rss_mb(pid)
    memory_run = _level(base, photo, 4, args.memory_requests, 3600)
    after = _rss_mb(pid)
    return {"photo": "640x480 JPEG", "faces": first[0]["faces"], "levels": levels,
            "memory": {"requests": memory_run["requests"], "errors": memory_run["errors"], "rss_before_mb": before,
                       "rss_after_mb": after}}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
