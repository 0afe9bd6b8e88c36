"""1:N search speed: one query against 100 000 synthetic 128-d centroids with ``models.matching.Gallery``.

Times single queries (what live recognition does) and batches on both paths, alternating whole rounds so a
shared machine's load hits them alike: ``exact`` (one float32 product over every row) and ``fast`` (the
int8 prefilter of large galleries plus exact ranking of its candidates). Prints medians over ``--repeats``
rounds, the 90th percentile, and the load average (the machine may be shared; run with
``OPENBLAS_NUM_THREADS=1``).

Then checks both paths against an independent brute force (float64 product over every row) on
``--agreement`` queries: noisy copies of enrolled centroids (noise 0.02-0.08 per dimension) and random
strangers, half each. A query agrees when the returned candidate, score and margin are bit-for-bit those of
the brute-force best two; ``top-2 recall`` counts queries whose true best two were among the prefilter's
candidates. The run fails if any query of the timed set disagrees.

Usage: ``python bench/bench_search.py [--people N] [--queries Q] [--repeats R] [--agreement A] [--json]``.
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


def _queries(gallery: Gallery, n: int, rng: np.random.Generator, noise: tuple[float, ...]) -> np.ndarray:
    """Noisy copies of random centroids (odd positions) and random strangers (even positions)."""
    picks = rng.integers(0, len(gallery), n)
    sigma = np.asarray(noise, np.float32)[np.arange(n) % len(noise)][:, None]
    queries = gallery.matrix[picks] + sigma * rng.normal(size=(n, gallery.matrix.shape[1])).astype(np.float32)
    queries[::2] = rng.normal(size=(len(queries[::2]), gallery.matrix.shape[1]))
    return queries.astype(np.float32)


def _reference(gallery: Gallery, queries: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Brute force in float64 over every row: (best row, runner-up row, their cosines rounded to float32)."""
    unit = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32).astype(np.float64)
    m64 = gallery.matrix.astype(np.float64)
    out = []
    for start in range(0, len(unit), 256):
        cos = unit[start : start + 256] @ m64.T
        top = np.argpartition(-cos, 2, axis=1)[:, :3]
        for row, cand in zip(cos, top):
            cand = cand[np.lexsort((cand, -row[cand]))]
            out.append((int(cand[0]), int(cand[1]), float(np.float32(row[cand[0]])), float(np.float32(row[cand[1]]))))
    return out


def _agrees(match, ref: tuple[int, int, float, float], gallery: Gallery) -> bool:
    first, _, best, second = ref
    score = float(gallery.metric.score(best))
    margin = abs(score - float(gallery.metric.score(second)))
    return match.candidate_id == gallery.person_ids[first] and match.score == score and match.margin == margin


def _time_single(gallery: Gallery, queries: np.ndarray, order: tuple[str, ...]) -> dict[str, list[float]]:
    """Per-query milliseconds, one path after the other: interleaving them query by query would let the
    51 MB float32 pass evict the int8 index from the cache, which a deployed gallery (one path) never does."""
    times: dict[str, list[float]] = {}
    for path in order:
        times[path] = []
        for q in queries:
            t = time.perf_counter()
            gallery.search(q[None, :], exact=path == "exact")
            times[path].append((time.perf_counter() - t) * 1000.0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agreement", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(args.people, 128)).astype(np.float32)
    ids = tuple(range(1, args.people + 1))
    gallery = Gallery.build(ids, tuple(f"person {i}" for i in ids), matrix, "l2", 0.43)
    load = [os.getloadavg()[0]]
    t = time.perf_counter()
    gallery.prepare()
    index_s = time.perf_counter() - t
    queries = _queries(gallery, args.queries, rng, (0.02,))

    for q in queries[:5]:
        gallery.search(q[None, :])  # warm up
        gallery.search(q[None, :], exact=True)
    rounds = [_time_single(gallery, queries, ("exact", "fast")[:: 1 if r % 2 else -1]) for r in range(args.repeats)]
    load.append(os.getloadavg()[0])
    single = {p: [float(np.median(r[p])) for r in rounds] for p in ("exact", "fast")}
    p90 = {p: float(np.percentile(np.concatenate([r[p] for r in rounds]), 90)) for p in ("exact", "fast")}
    batch_ms, batches = {}, {}
    for path in ("exact", "fast"):
        t = time.perf_counter()
        batches[path] = gallery.search(queries, exact=path == "exact")
        batch_ms[path] = (time.perf_counter() - t) * 1000.0 / len(queries)

    timed_ref = _reference(gallery, queries)
    singles = [gallery.search(q[None, :])[0] for q in queries]
    for name, matches in (("single", singles), ("fast batch", batches["fast"]), ("exact batch", batches["exact"])):
        wrong = sum(not _agrees(m, r, gallery) for m, r in zip(matches, timed_ref))
        assert wrong == 0, f"{name} search disagrees with brute force on {wrong} queries"

    agreement = {}
    if args.agreement:
        check = _queries(gallery, args.agreement, np.random.default_rng(1), (0.02, 0.05, 0.08))
        ref = _reference(gallery, check)
        fast = gallery.search(check)
        exact = gallery.search(check, exact=True)
        unit = (check / np.linalg.norm(check, axis=1, keepdims=True)).astype(np.float32)
        prefilter = gallery._prefilter()
        cands = prefilter.candidates(unit) if prefilter is not None else None
        recall = [cands is None or {r[0], r[1]} <= set(c.tolist()) for r, c in zip(ref, cands if cands is not None else ref)]
        for kind, sl in (("noisy copies", slice(1, None, 2)), ("strangers", slice(0, None, 2))):
            agreement[kind] = {
                "queries": len(ref[sl]),
                "fast_agrees": sum(_agrees(m, r, gallery) for m, r in zip(fast[sl], ref[sl])),
                "exact_agrees": sum(_agrees(m, r, gallery) for m, r in zip(exact[sl], ref[sl])),
                "top2_recall": sum(recall[sl]),
            }
    load.append(os.getloadavg()[0])

    report = {
        "people": args.people,
        "queries": args.queries,
        "repeats": args.repeats,
        "prefilter": gallery.uses_prefilter,
        "index_build_s": round(index_s, 3),
        "exact_single_ms_median": round(float(np.median(single["exact"])), 3),
        "fast_single_ms_median": round(float(np.median(single["fast"])), 3),
        "exact_single_ms_round_medians": [round(x, 3) for x in single["exact"]],
        "fast_single_ms_round_medians": [round(x, 3) for x in single["fast"]],
        "exact_single_ms_p90": round(p90["exact"], 3),
        "fast_single_ms_p90": round(p90["fast"], 3),
        "exact_batch_ms_per_query": round(batch_ms["exact"], 3),
        "fast_batch_ms_per_query": round(batch_ms["fast"], 3),
        "named": sum(r.known for r in singles),
        "agreement": agreement,
        "load_avg_1m": [round(x, 1) for x in load],
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{args.people} centroids ({'int8 prefilter' if report['prefilter'] else 'no prefilter'}, "
        f"index built in {report['index_build_s']} s), {args.queries} queries x {args.repeats} rounds:"
    )
    for path in ("exact", "fast"):
        print(
            f"  {path:5}: single query {report[f'{path}_single_ms_median']} ms median "
            f"(rounds {report[f'{path}_single_ms_round_medians']}, p90 {report[f'{path}_single_ms_p90']} ms); "
            f"batched {report[f'{path}_batch_ms_per_query']} ms/query"
        )
    print(f"  {report['named']}/{args.queries} queries named; all agree with float64 brute force")
    for kind, a in agreement.items():
        print(
            f"  agreement, {kind}: fast {a['fast_agrees']}/{a['queries']}, exact {a['exact_agrees']}/{a['queries']}, "
            f"prefilter top-2 recall {a['top2_recall']}/{a['queries']}"
        )
    print(f"  load average (1 min) before/during/after: {report['load_avg_1m']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
