"""1:N open-set identification on lfw-dev, the way face-identification evaluations report it.

See ``openset_data.py`` for who is enrolled and who probes. Usage::

    nice -n 10 python bench/bench_openset.py embed --backend dlib      # slow, resumable; log in bench/out/
    python bench/bench_openset.py report                             # tables + DET plots from the cache
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from common.metric import Metric  # noqa: E402

import openset_data as data  # noqa: E402


def cmd_embed(args: argparse.Namespace) -> None:
    halves = data.split(data.people())
    order = data.embedding_order(halves, second=bool(args.part))
    data.log.info("%d photos needed", len(order))
    data.embed_pass(args.backend, order, Path(args.model_path) if args.model_path else None, args.part)


GALLERY_SIZES = (10, 50, 200, 1000)
DRAWS = 5
RATE_GRID = (1e-1, 5e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5, 2e-5, 1e-5, 5e-6, 2e-6, 1e-6)


@dataclass
class Split:
    """One half's data for one backend: centroids of everyone enrollable, and the probes' cosines to them.

    ``cos[path]``: (probes, people) cosines; ``owner``: probe's person index (−1: non-mated);
    ``found``: a face was detected (else ``identify`` finds nobody: never named); ``mated_people``: how many of
    the people (the first ones) are mated, the rest are distractors; ``quality_ok``: no quality problem.
    """

    names: list[str]
    mated_people: int
    cos: dict[str, NDArray[np.float64]]
    owner: NDArray[np.int64]
    found: NDArray[np.bool_]
    quality_ok: NDArray[np.bool_]


def load_split(backend: str, half: data.Half) -> Split:
    """Centroids and probe cosines from the cache (photos not cached yet are left out)."""
    from db._vectors import centroid  # the rule storage applies to every enrolled person
    from models.quality import MAX_YAW, MIN_FACE_PX, MIN_SHARPNESS

    rows, dets = data.load(backend), data.load("detections")

    def usable(p: str) -> bool:
        return p in rows and p in dets and bool(dets[p]["found"])

    names, cents = [], []
    enrolled = [(n, e) for n, (e, _) in half.mated.items()] + list(half.distractors.items())
    for name, photos in enrolled:
        ok = [p for p in photos if usable(p)]
        if ok:
            names.append(name)
            cents.append(centroid(np.stack([rows[p]["photo"] for p in ok])))
    mated_people = sum(1 for n in names if n in half.mated)
    index = {n: i for i, n in enumerate(names)}
    probes = [(p, index[n]) for n, (_, pr) in half.mated.items() if n in index for p in pr if p in rows and p in dets]
    probes += [(p, -1) for p in half.nonmated if p in rows and p in dets]
    matrix = np.stack(cents).astype(np.float64)
    cos = {path: np.stack([rows[p][path] for p, _ in probes]).astype(np.float64) @ matrix.T for path in ("photo", "live")}
    found = np.array([bool(dets[p]["found"]) for p, _ in probes])
    q_ok = np.array([int(dets[p]["size"]) >= MIN_FACE_PX and float(dets[p]["sharpness"]) >= MIN_SHARPNESS
                     and float(dets[p]["yaw"]) <= MAX_YAW for p, _ in probes])
    return Split(names, mated_people, cos, np.array([o for _, o in probes]), found, q_ok)


def to_score(cos: NDArray[np.float64], metric: Metric) -> NDArray[np.float64]:
    """:meth:`Metric.score` kept in float64 (the rate tables were measured so)."""
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * cos)) if metric.is_distance else cos


@dataclass(frozen=True)
class Outcome:
    """Best-match scores of a gallery draw, in "lower is closer" form (``sign`` × metric score)."""

    best: NDArray[np.float64]
    margin: NDArray[np.float64]
    mated: NDArray[np.bool_]
    right: NDArray[np.bool_]
    found: NDArray[np.bool_]
    quality_ok: NDArray[np.bool_]

    def adjusted(self, weight: float, solo: float) -> NDArray[np.float64]:
        """The cohort rule's score (lower-is-closer form): best − weight × runner-up (``solo``: no runner-up)."""
        runner = np.where(np.isfinite(self.margin), self.best + self.margin, solo)
        return self.best - weight * runner

    def rates(
        self, threshold: float, min_margin: float = 0.0, quality: bool = False, cohort: tuple[float, float, float] | None = None
    ) -> tuple[float, float, float]:
        """(TPIR, FPIR, share of mated probes named as someone else) at ``threshold`` (lower-is-closer form).
        ``cohort``: (weight, threshold, solo) of a cohort rule that must pass too, in lower-is-closer form."""
        named = self.found & (self.best <= threshold) & (self.margin >= min_margin)
        if cohort is not None:
            named &= self.adjusted(cohort[0], cohort[2]) <= cohort[1]
        if quality:
            named &= self.quality_ok
        m, n = self.mated, ~self.mated
        return float(np.mean(named[m] & self.right[m])), float(np.mean(named[n])), float(np.mean(named[m] & ~self.right[m]))

    def threshold_at_fpir(self, fpir: float, min_margin: float = 0.0, quality: bool = False) -> float:
        """The most accepting threshold that names at most ``fpir`` of the non-mated probes."""
        eligible = ~self.mated & self.found & (self.margin >= min_margin)
        if quality:
            eligible &= self.quality_ok
        scores = np.sort(self.best[eligible])
        allowed = int(np.floor(fpir * int(np.sum(~self.mated)) + 1e-9))
        if allowed >= len(scores):
            return float("inf")
        return float(np.nextafter(scores[allowed], -np.inf))


def draw(split: Split, path: str, metric: Metric, size: int, seed: int) -> Outcome:
    """A gallery of ``size`` people (mated people drawn at random; beyond them, distractors in a random
    order) searched by every probe whose person is in it, and by every non-mated probe."""
    rng = np.random.default_rng(seed)
    n_mated, n_all = split.mated_people, len(split.names)
    if size <= n_mated:
        people = rng.choice(n_mated, size, replace=False)
    else:
        extra = rng.permutation(np.arange(n_mated, n_all))[: size - n_mated]
        people = np.concatenate([np.arange(n_mated), extra])
    keep = (split.owner < 0) | np.isin(split.owner, people)
    cos = split.cos[path][keep][:, people]
    order = np.argsort(-cos, axis=1)
    best_cos = np.take_along_axis(cos, order[:, :1], 1)[:, 0]
    second = np.take_along_axis(cos, order[:, 1:2], 1)[:, 0] if len(people) > 1 else np.full(len(cos), -1.0)
    sign = metric.sign
    best, runner = sign * to_score(best_cos, metric), sign * to_score(second, metric)
    if len(people) == 1:
        runner = np.full(len(best), np.inf)
    owner = split.owner[keep]
    return Outcome(best, runner - best, owner >= 0, people[order[:, 0]] == owner, split.found[keep], split.quality_ok[keep])


def impostor_scores(split: Split, path: str, metric: Metric) -> NDArray[np.float64]:
    """Every found probe against every centroid but its own person's, in lower-is-closer form."""
    cos = split.cos[path][split.found]
    owner = split.owner[split.found]
    mask = np.ones_like(cos, dtype=bool)
    rows = np.flatnonzero(owner >= 0)
    mask[rows, owner[rows]] = False
    return metric.sign * to_score(cos[mask], metric)


def rate_table(split: Split, path: str, metric: Metric) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    """Per-comparison false-accept rate → threshold from every probe against every other person's centroid."""
    sign = metric.sign
    imp = np.sort(impostor_scores(split, path, metric))
    rates, thresholds = [], []
    for r in RATE_GRID:
        k = int(np.floor(r * len(imp)))
        if k < 10:  # fewer than 10 impostors beyond it: not measured
            break
        rates.append(r)
        thresholds.append(round(float(sign * (imp[k - 1] + imp[k]) / 2.0), 4))
    return tuple(rates), tuple(thresholds), len(imp)


def backend_metric(backend: str) -> tuple[Metric, float]:
    from models.embedders.registry import backend_info

    info = backend_info(backend)
    return info.metric, info.threshold


def cmd_tables(args: argparse.Namespace) -> None:
    """Rate tables from the TUNING half, printed as the literal ``models/operating_point.py`` holds."""
    halves = data.split(data.people())
    metric, _ = backend_metric(args.backend)
    split = load_split(args.backend, halves["tuning"])
    print(f"# {args.backend}: TUNING half, {len(split.names)} people enrolled, {len(split.owner)} probes")
    sign = metric.sign
    for path in ("photo", "live"):
        rates, thresholds, n = rate_table(split, path, metric)
        print(f'    ("{args.backend}", "{path}"): RateTable(\n        "{metric}",\n        {rates},\n'
              f"        {thresholds},\n        {n},\n    ),")
    print("# COHORT_TABLES")
    for path in ("photo", "live"):
        weight_scan(split, path, metric)
        solo, table, n = cohort_table(split, path, metric, args.weight)
        rows = ",\n            ".join(str(tuple(round(sign * t, 4) for t in row)) for row in table)
        print(f'    ("{args.backend}", "{path}"): CohortTable(\n        "{metric}",\n        {args.weight},\n'
              f"        {round(sign * solo, 4)},\n        {COHORT_SIZES},\n        {COHORT_FPIRS},\n"
              f"        (\n            {rows},\n        ),\n        {n},\n    ),")


def summarise(split: Split, path: str, backend: str, size: int, strictness: str) -> dict[str, float]:
    """Mean over gallery draws of the figures for one gallery size (the actual size is capped by the data)."""
    from models.operating_point import Strictness, operating_point

    metric, default = backend_metric(backend)
    sign = metric.sign
    size = min(size, len(split.names))
    draws = DRAWS if size < split.mated_people else 1  # all mated people + distractors: one gallery
    acc: dict[str, list[float]] = {}
    for seed in range(draws):
        out = draw(split, path, metric, size, seed)
        point = operating_point(backend, metric, default, size, Strictness.parse(strictness), path)
        figures = {
            "G": size, "mated": int(out.mated.sum()), "nonmated": int((~out.mated).sum()),
            "tpir_default": out.rates(sign * default)[0], "fpir_default": out.rates(sign * default)[1],
            "threshold": point.threshold, "source": point.source,
        }
        c = point.cohort
        cohort = None if c is None else (c.weight, sign * c.threshold, sign * c.solo)
        figures["cohort"] = float("nan") if c is None else c.threshold
        tpir, fpir, wrong = out.rates(sign * point.threshold, point.min_margin, cohort=cohort)
        figures.update(tpir_op=tpir, fpir_op=fpir, wrong_op=wrong)
        for target in (0.01, 0.001):
            figures[f"fnir@{target}"] = 1.0 - out.rates(out.threshold_at_fpir(target))[0]
        for k, v in figures.items():
            acc.setdefault(k, []).append(v)  # type: ignore[arg-type]
    return {k: (v[0] if isinstance(v[0], str) else float(np.mean(v))) for k, v in acc.items()}


COHORT_SIZES = (1, 2, 5, 10, 20, 50, 100, 200)
COHORT_FPIRS = (0.05, 0.02, 0.01, 0.005, 0.002, 0.001)
COHORT_DRAWS = 30
WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)


def solo_score(split: Split, path: str, metric: str) -> float:
    """The runner-up assumed with one person enrolled: the closest 0.1 % of impostor comparisons (a runner-up
    about as close as a crowded gallery's), in lower-is-closer form."""
    return float(np.quantile(impostor_scores(split, path, metric), 0.001))


def cohort_table(split: Split, path: str, metric: str, weight: float) -> tuple[float, list[list[float]], int]:
    """(solo, thresholds[fpir][size], strangers per size): the adjusted score's quantiles over the non-mated
    probes of ``COHORT_DRAWS`` galleries per size, drawn like the report's (mated people first)."""
    solo = solo_score(split, path, metric)
    pooled: dict[int, NDArray[np.float64]] = {}
    for size in COHORT_SIZES:
        outs = [draw(split, path, metric, size, 1000 + seed) for seed in range(COHORT_DRAWS)]
        pooled[size] = np.concatenate([o.adjusted(weight, solo)[~o.mated & o.found] for o in outs])
    strangers = min(int(np.sum(~o.mated)) for o in outs) * COHORT_DRAWS
    table = [[float(np.quantile(pooled[g], f)) for g in COHORT_SIZES] for f in COHORT_FPIRS]
    return solo, table, strangers


def weight_scan(split: Split, path: str, metric: str) -> None:
    """TPIR at FPIR 1 % (oracle threshold per draw) for each cohort weight, G = 10 … 1 000 (TUNING half)."""
    solo = solo_score(split, path, metric)
    for weight in WEIGHTS:
        figures = []
        for size in (10, 50, 200, 1000):
            size = min(size, len(split.names))
            outs = [draw(split, path, metric, size, seed) for seed in range(DRAWS if size < split.mated_people else 1)]
            tp = []
            for o in outs:
                adj = np.where(o.found, o.adjusted(weight, solo), np.inf)
                s = np.sort(adj[~o.mated])
                k = int(np.floor(0.01 * int(np.sum(~o.mated))))
                t = np.nextafter(s[k], -np.inf)
                tp.append(float(np.mean(((adj <= t) & o.right)[o.mated])))
            figures.append(f"G={size} {100 * np.mean(tp):5.1f}")
        print(f"#   {path} weight {weight:.1f}: TPIR at FPIR 1 %: " + "  ".join(figures))


def cmd_report(args: argparse.Namespace) -> None:
    """Tables per half, path and gallery size; DET plots in bench/out/."""
    halves = data.split(data.people())
    metric, default = backend_metric(args.backend)
    for half in ("tuning", "report"):
        split = load_split(args.backend, halves[half])
        print(f"\n== {args.backend}, {half.upper()} half: {len(split.names)} people enrollable "
              f"({split.mated_people} mated, {len(split.names) - split.mated_people} distractors), "
              f"{int((split.owner >= 0).sum())} mated + {int((split.owner < 0).sum())} non-mated probes; "
              f"{DRAWS} draws per G below {split.mated_people}; operating point {args.strictness}")
        for path in ("photo", "live"):
            print(f"-- {path} path. default threshold {default}: TPIR / FPIR; operating point: threshold, TPIR / FPIR "
                  "/ mated named wrongly; FNIR at FPIR 1 % and 0.1 %")
            curves = {}
            for g in GALLERY_SIZES:
                r = summarise(split, path, args.backend, g, args.strictness)
                print(f"   G={int(r['G']):5d}  default {100 * r['tpir_default']:5.1f} / {100 * r['fpir_default']:5.1f} %   "
                      f"op {r['threshold']:.4f}+{r['cohort']:.4f} ({r['source']}) {100 * r['tpir_op']:5.1f} / {100 * r['fpir_op']:5.2f} / "
                      f"{100 * r['wrong_op']:4.2f} %   FNIR@1% {100 * r['fnir@0.01']:5.1f}  FNIR@0.1% {100 * r['fnir@0.001']:5.1f}")
                curves[f"G={int(r['G'])}"] = det_curve(draw(split, path, metric, min(g, len(split.names)), 0))
            plot = data.OUT / f"det_{args.backend}_{path}_{half}.png"
            draw_det(curves, plot, f"{args.backend} {path} path, {half} half (DET, seed 0)")
            print(f"   DET plot: {plot.relative_to(REPO)}")
        if half == "tuning":
            rules(split, args.backend)


def rules(split: Split, backend: str) -> None:
    """On the TUNING half, G=200: does a margin rule or the quality rule lift TPIR at FPIR 1 %?"""
    metric, _ = backend_metric(backend)
    size = min(200, len(split.names))
    for path in ("photo", "live"):
        outs = [draw(split, path, metric, size, seed) for seed in range(DRAWS)]
        print(f"-- rules on the TUNING half, {path} path, G={size}: TPIR at FPIR 1 % (threshold re-chosen per rule)")
        for margin in (0.0, 0.01, 0.02, 0.04, 0.06):
            tp = np.mean([o.rates(o.threshold_at_fpir(0.01, margin), margin)[0] for o in outs])
            print(f"   margin >= {margin:.2f}: {100 * tp:5.1f} %")
        tp = np.mean([o.rates(o.threshold_at_fpir(0.01, 0.0, True), 0.0, True)[0] for o in outs])
        flagged = np.mean([1 - o.quality_ok.mean() for o in outs])
        print(f"   quality rule (models/quality.py problems -> unsure): {100 * tp:5.1f} % ({100 * flagged:.1f} % of probes flagged)")


def det_curve(out: Outcome) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(FPIR, FNIR) at every non-mated best score as threshold."""
    thresholds = np.unique(out.best[~out.mated & out.found])
    pts = np.array([out.rates(t)[:2] for t in thresholds]).reshape(-1, 2)
    return pts[:, 1], 1.0 - pts[:, 0]


def draw_det(curves: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]], path: Path, title: str) -> None:
    """A DET plot (log FPIR across, log FNIR up) with OpenCV: one coloured curve per gallery size."""
    import cv2

    w, h, left, bottom, top, right = 720, 560, 80, 60, 50, 150
    img = np.full((h, w, 3), 255, np.uint8)
    lo, hi = -3.0, 0.0  # 0.1 % … 100 % on both axes

    def xy(fpir: float, fnir: float) -> tuple[int, int]:
        fx = (np.log10(max(fpir, 10**lo)) - lo) / (hi - lo)
        fy = (np.log10(max(fnir, 10**lo)) - lo) / (hi - lo)
        return int(left + fx * (w - left - right)), int(h - bottom - fy * (h - top - bottom))

    for e in range(int(lo), int(hi) + 1):
        for v in (10.0**e,):
            x0, y0 = xy(v, 10**lo)
            cv2.line(img, (x0, top), (x0, h - bottom), (220, 220, 220), 1)
            x1, y1 = xy(10**lo, v)
            cv2.line(img, (left, y1), (w - right, y1), (220, 220, 220), 1)
            label = f"{100 * v:g}%"
            cv2.putText(img, label, (x0 - 18, h - bottom + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
            cv2.putText(img, label, (left - 60, y1 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    cv2.putText(img, "FPIR (strangers named)", (left + 150, h - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    cv2.putText(img, "FNIR", (10, top - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    cv2.putText(img, title, (left, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    colours = [(200, 60, 30), (30, 150, 30), (30, 30, 200), (150, 30, 150), (0, 140, 200)]
    for k, (name, (fpir, fnir)) in enumerate(curves.items()):
        ok = np.isfinite(fpir) & np.isfinite(fnir)
        fpir, fnir = fpir[ok], fnir[ok]
        if len(fpir) < 2:
            continue
        pts = np.array([xy(a, b) for a, b in zip(fpir, fnir)], np.int32)
        cv2.polylines(img, [pts], False, colours[k % len(colours)], 2, cv2.LINE_AA)
        cv2.putText(img, name, (w - right + 10, top + 25 * (k + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colours[k % len(colours)], 2)
    cv2.imwrite(str(path), img)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("embed")
    p.add_argument("--backend", default="dlib")
    p.add_argument("--model-path")
    p.add_argument("--part", default="", help="a second worker's cache suffix (e.g. _b): works from the end")
    p.set_defaults(func=cmd_embed)
    for name, func in (("tables", cmd_tables), ("report", cmd_report)):
        q = sub.add_parser(name)
        q.add_argument("--backend", default="dlib")
        q.add_argument("--strictness", default="balanced")
        q.add_argument("--weight", type=float, default=0.4, help="tables: the cohort rule's runner-up weight")
        q.set_defaults(func=func)
    args = parser.parse_args(argv)
    data.OUT.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.FileHandler(data.OUT / f"openset_{args.cmd}{getattr(args, 'part', '')}.log"), logging.StreamHandler()])
    args.func(args)


if __name__ == "__main__":
    main()
