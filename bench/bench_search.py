"""1:N search speed: one query against 100 000 synthetic 128-d centroids with ``models.matching.Gallery``.

Prints the median and 90th percentile milliseconds of single queries (what live recognition does) and the
per-query cost of a batch, plus the load average (the machine may be shared; BLAS threads then compete).
Results are checked against a brute-force reference so a fast but wrong search cannot pass.

Usage: ``python bench/bench_search.py [--people N] [--queries Q] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.matching import Gallery  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(args.people, 128)).astype(np.float32)
    ids = tuple(range(1, args.people + 1))
    gallery = Gallery.build(ids, tuple(f"person {i}" for i in ids), matrix, "l2", 0.43)
    # Queries near known people (noisy copies) and strangers, as in real use.
    picks = rng.integers(0, args.people, args.queries)
    queries = gallery.matrix[picks] + rng.normal(0, 0.02, (args.queries, 128)).astype(np.float32)
    queries[::2] = rng.normal(size=(len(queries[::2]), 128))

    for q in queries[:5]:
        gallery.search(q[None, :])  # warm up
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(gallery.search(q[None, :])[0])
        times.append((time.perf_counter() - t) * 1000.0)
    t = time.perf_counter()
    batch = gallery.search(queries)
    batch_ms = (time.perf_counter() - t) * 1000.0 / len(queries)

    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    reference = np.argmax(unit @ gallery.matrix.T, axis=1)
    wrong = sum(r.candidate_id != ids[i] for r, i in zip(results, reference))
    assert wrong == 0 and [m.candidate_id for m in batch] == [r.candidate_id for r in results], "search disagrees"

    report = {
        "people": args.people,
        "queries": args.queries,
        "single_ms_median": round(float(np.median(times)), 3),
        "single_ms_p90": round(float(np.percentile(times, 90)), 3),
        "batch_ms_per_query": round(batch_ms, 3),
        "named": sum(r.known for r in results),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{args.people} centroids: single query {report['single_ms_median']} ms median "
            f"({report['single_ms_p90']} ms p90); batched {report['batch_ms_per_query']} ms/query; "
            f"{report['named']}/{args.queries} queries named; load average {report['load_avg_1m']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
