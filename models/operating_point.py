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


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a gallery search uses, and why.

    Attributes:
        threshold: in the backend's metric. metric: that :class:`Metric` (a name is turned into one).
        gallery_size: enrolled people it was chosen for. strictness: the setting it came from (``None`` when
            the user's own threshold is used). fpir: the target share of strangers named (``None``: unknown,
            the backend has no rate table or the threshold is the user's). source: ``"table"``, ``"user"`` or
            ``"default"`` (the backend's 1:1 threshold: no table for it). min_margin: see :class:`RateTable`.
    """

    threshold: float
    metric: Metric
    gallery_size: int
    strictness: Strictness | None
    fpir: float | None
    source: str
    min_margin: float = 0.0

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
    rate = per_comparison_rate(strictness.fpir, g)
    threshold = round(table.threshold_at(rate), 4)
    return OperatingPoint(threshold, metric, g, strictness, strictness.fpir, "table", table.min_margin)


RATE_TABLES: dict[tuple[str, str], RateTable] = {
    # `python bench/bench_openset.py tables --backend dlib`: TUNING half of lfw-dev only
    ("dlib", "photo"): RateTable(
        "l2",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05, 5e-06),
        (0.4668, 0.4449, 0.4207, 0.4053, 0.3911, 0.3743, 0.3623, 0.3512, 0.3381, 0.326, 0.3156, 0.3068, 0.29, 0.2815),
        258600,
        min_margin=0.02,
    ),
    ("dlib", "live"): RateTable(
        "l2",
        (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001, 5e-05, 2e-05, 1e-05, 5e-06),
        (0.4719, 0.4502, 0.426, 0.4105, 0.3969, 0.3799, 0.368, 0.3586, 0.3438, 0.3303, 0.3205, 0.3097, 0.2824, 0.2761),
        258600,
        min_margin=0.02,
    ),
}
"""(backend, path) → rate table, from ``bench/bench_openset.py tables`` (TUNING half only)."""
