"""Two stations marking attendance at once against one PostgreSQL: lost or duplicated marks, and how long a
person enrolled elsewhere takes to reach a station.

A throw-away PostgreSQL (tests/pg.py: Debian's ``initdb``/``pg_ctl`` in a temporary folder, loopback port) gets
``--people`` people. Two processes (two stations) then run for ``--seconds``: every ``--interval`` seconds each
marks a random person in the current session (a new session every ``--session-s`` seconds, so the same
people are marked again and again, each time by whichever station comes first) through
``Repository.mark_if_due``, exactly as ``watch`` does. Meanwhile this process enrolls a new person every
``--enroll-every`` seconds; each station polls ``gallery_version()`` every ``--poll`` seconds (as a station
does) and, when it moved, reloads the centroids and notes when the new person first appears.

Afterwards every mark a station was told it made must be in the database (else it was **lost**), every
(session, person) must have at most one row (else **duplicated**), and no row may exist that no station made.

Example (loopback only; a few minutes, ``--seconds 600`` for the 10-minute run)::

    nice -n 10 python bench/bench_stations.py --seconds 180

Writes ``bench/out/bench_stations.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db import NewSample, Repository, open_database  # noqa: E402

BACKEND = "bench"
OUT = Path(__file__).resolve().parent / "out" / "bench_stations.json"


def _sample(tag: str) -> NewSample:
    return NewSample(b"\xff\xd8bench-" + tag.encode(), [(10.0, 12.0), (30.0, 12.0)], "dlib68", "bench", 0.8)


def _enroll(repo: Repository, name: str, rng: np.random.Generator) -> int:
    """A person with one sample and a random 128-d vector."""
    return repo.add_person(name, samples=[_sample(name)], embeddings={BACKEND: rng.normal(size=(1, 128))}).id


def station(url: str, name: str, args: dict[str, Any], t0: float, out: Any) -> None:
    """One station: mark and poll until the end time; put its marks and sightings on ``out``."""
    database = open_database(url)
    repo = Repository(database, station=name)
    rng = random.Random(name)
    marks: list[int] = []
    tries = 0
    seen: dict[str, float] = {}
    version = repo.gallery_version()
    people = list(repo.centroids(BACKEND).person_ids)
    next_poll = time.time()
    end = t0 + args["seconds"]
    while time.time() < end:
        now = time.time()
        if now >= next_poll:
            next_poll = now + args["poll"]
            current = repo.gallery_version()
            if current != version:  # someone was enrolled elsewhere: reload, as a station's gallery does
                version = current
                cents = repo.centroids(BACKEND)
                people = list(cents.person_ids)
                for who in cents.names:
                    seen.setdefault(who, time.time())
        session = repo.get_or_create_session(f"bench {int((now - t0) // args['session_s'])}")
        event = repo.mark_if_due(rng.choice(people), session.id, datetime.now(timezone.utc), "camera", 0.0, 0.3, BACKEND)
        tries += 1
        if event is not None:
            marks.append(event.id)
        time.sleep(args["interval"])
    database.close()
    out.put({"station": name, "marks": marks, "tries": tries, "seen": seen})


def enroll_loop(repo: Repository, args: argparse.Namespace, t0: float) -> dict[str, float]:
    """Enroll a new person every ``--enroll-every`` seconds until the end; returns name → enrol time."""
    rng = np.random.default_rng(7)
    enrolled: dict[str, float] = {}
    n = 0
    while time.time() < t0 + args.seconds - args.enroll_every:
        time.sleep(args.enroll_every)
        n += 1
        name = f"newcomer {n}"
        _enroll(repo, name, rng)
        enrolled[name] = time.time()
    return enrolled


def check(repo: Repository, results: list[dict[str, Any]]) -> dict[str, int]:
    """Lost, duplicated and unexplained marks."""
    events = repo.list_events()
    ids = {e.id for e in events}
    reported = [i for r in results for i in r["marks"]]
    per_pair: dict[tuple[int, int | None], int] = {}
    for e in events:
        per_pair[(e.session_id, e.person_id)] = per_pair.get((e.session_id, e.person_id), 0) + 1
    return {
        "rows": len(events),
        "reported_marks": len(reported),
        "lost": len(set(reported) - ids),
        "duplicated": sum(n - 1 for n in per_pair.values() if n > 1),
        "unexplained_rows": len(ids - set(reported)),
        "sessions": len({e.session_id for e in events}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the stations mark (default 180; 600 = 10 min)")
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.01, help="pause between a station's marks (s)")
    parser.add_argument("--session-s", type=float, default=5.0, help="a new session every this many seconds")
    parser.add_argument("--enroll-every", type=float, default=10.0, help="enroll a newcomer every this many seconds")
    parser.add_argument("--poll", type=float, default=1.0, help="how often a station polls gallery_version (s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from tests.pg import ThrowawayPostgres, find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is None:
        print("PostgreSQL is not installed: run scripts/setup.sh", file=sys.stderr)
        return 1
    server = ThrowawayPostgres(bin_dir).start()
    try:
        report = run(server.create_database("bench"), args)
    finally:
        server.stop()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if report["lost"] == 0 and report["duplicated"] == 0 else 1


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Set up, run both stations and the enroller, and check the database."""
    database = open_database(url)
    repo = Repository(database, station="office")
    rng = np.random.default_rng(1)
    for i in range(args.people):
        _enroll(repo, f"person {i}", rng)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    t0 = time.time() + 3.0  # both stations start together, after they have connected
    settings = {"seconds": args.seconds, "interval": args.interval, "session_s": args.session_s, "poll": args.poll}
    procs = [context.Process(target=station, args=(url, f"door {k}", settings, t0, out)) for k in (1, 2)]
    for p in procs:
        p.start()
    time.sleep(max(0.0, t0 - time.time()))
    enrolled = enroll_loop(repo, args, t0)
    results = [out.get(timeout=args.seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    counts = check(repo, results)
    database.close()
    delays = [r["seen"][name] - when for r in results for name, when in enrolled.items() if name in r["seen"]]
    missed = sum(1 for r in results for name in enrolled if name not in r["seen"])
    return {
        "seconds": args.seconds, "poll_s": args.poll, "tries": sum(r["tries"] for r in results), **counts,
        "newcomers": len(enrolled), "sightings_missed": missed,
        "seen_after_s": {"mean": float(np.mean(delays)) if delays else None, "max": float(np.max(delays)) if delays else None},
        "marks_per_station": {r["station"]: len(r["marks"]) for r in results},
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
