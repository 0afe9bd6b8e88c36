"""The open-set operating point: the threshold follows the gallery size so the share of strangers named stays
at the chosen strictness; a user's own threshold wins; backends without a rate table keep their default."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.operating_point import (
    COHORT_TABLES,
    HEADROOM,
    RATE_TABLES,
    OperatingPoint,
    RateTable,
    Strictness,
    expected_fpir,
    operating_point,
    per_comparison_rate,
)

# A synthetic backend whose impostor distances d have P(d <= t) = 10^((t - 1) / 0.1) below 0.9: the rate f is met
# at t = 1 + 0.1·log10(f) (0.9 at 10 %, 0.4 at 1e-6), which the table's log-linear interpolation reproduces.
GRID = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
TABLE = RateTable("l2", GRID, tuple(1.0 + 0.1 * math.log10(r) for r in GRID), 10**7)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> RateTable:
    monkeypatch.setitem(RATE_TABLES, ("fake", "photo"), TABLE)
    return TABLE


@pytest.mark.parametrize("size", [1, 10, 50, 200, 1000, 100_000])
@pytest.mark.parametrize("fpir", [0.001, 0.01, 0.05])
def test_per_comparison_rate_gives_the_target_over_the_gallery(size: int, fpir: float) -> None:
    f = per_comparison_rate(fpir, size)
    assert expected_fpir(f, size) == pytest.approx(fpir, rel=1e-9)
    assert f <= fpir  # never looser than one comparison


def test_a_bigger_gallery_needs_a_stricter_threshold(table: RateTable) -> None:
    thresholds = [operating_point("fake", "l2", 0.6, g).threshold for g in (10, 50, 200, 1000)]
    assert thresholds == sorted(thresholds, reverse=True)  # distance: lower is stricter
    assert len(set(thresholds)) == 4


@pytest.mark.parametrize("size", [10, 50, 200, 1000])
@pytest.mark.parametrize("strictness", list(Strictness))
def test_simulated_strangers_are_named_at_about_the_target_rate(size: int, strictness: Strictness, table: RateTable) -> None:
    """Strangers whose distances to each of G people are independent draws from the table's distribution: the
    share named at the chosen threshold is the strictness' target less the tables' headroom (within sampling
    error): never more than promised."""
    rng = np.random.default_rng(size)
    point = operating_point("fake", "l2", 0.6, size, strictness)
    strangers = 200_000 if size <= 200 else 50_000
    # The best (smallest) of G draws, sampled directly: its rate u = F(min) has P(u > x) = (1 - x)^G.
    u = 1.0 - rng.random(strangers) ** (1.0 / size)
    best = 1.0 + 0.1 * np.log10(np.maximum(u, 1e-300))
    named = float(np.mean(best <= point.threshold))
    target = HEADROOM * strictness.fpir
    se = math.sqrt(target * (1 - target) / strangers)
    assert abs(named - target) < 4 * se + 0.002 * target  # + the 4-decimal rounding
    assert named < strictness.fpir


def test_strictness_orders_the_thresholds(table: RateTable) -> None:
    t = {s: operating_point("fake", "l2", 0.6, 200, s).threshold for s in Strictness}
    assert t[Strictness.STRICT] < t[Strictness.BALANCED] < t[Strictness.LENIENT]


def test_cosine_tables_work_the_other_way(monkeypatch: pytest.MonkeyPatch) -> None:
    cos = RateTable("cosine", (1e-1, 1e-3, 1e-5), (0.2, 0.35, 0.5), 10**6)
    monkeypatch.setitem(RATE_TABLES, ("fakecos", "photo"), cos)
    small, big = (operating_point("fakecos", "cosine", 0.3, g).threshold for g in (10, 500))
    assert 0.2 < small < big < 0.5  # similarity: higher is stricter


def test_the_users_threshold_wins(table: RateTable) -> None:
    point = operating_point("fake", "l2", 0.6, 200, Strictness.STRICT, override=0.55)
    assert (point.threshold, point.source, point.fpir) == (0.55, "user", None)
    assert "your own threshold" in point.describe()


def test_a_backend_without_a_table_keeps_its_default() -> None:
    point = operating_point("no-such-backend", "cosine", 0.28, 200)
    assert (point.threshold, point.source) == (0.28, "default")
    assert "no identification calibration" in point.describe()


def test_live_falls_back_to_the_photo_table(table: RateTable) -> None:
    assert operating_point("fake", "l2", 0.6, 50, path="live").threshold == operating_point("fake", "l2", 0.6, 50).threshold
    with pytest.raises(ValueError, match="unknown path"):
        operating_point("fake", "l2", 0.6, 50, path="video")


def test_rates_beyond_the_table_take_its_ends() -> None:
    assert TABLE.threshold_at(0.5) == TABLE.thresholds[0]
    assert TABLE.threshold_at(1e-9) == TABLE.thresholds[-1]
    assert TABLE.threshold_at(10**-2.5) == pytest.approx(0.75, abs=1e-9)  # halfway in log rate


def test_plain_words() -> None:
    assert Strictness.BALANCED.plain() == "about 1 stranger in 100 may be named as someone enrolled"
    assert Strictness.STRICT.plain().startswith("about 1 stranger in 1000")
    assert Strictness.parse(" Lenient ") is Strictness.LENIENT
    with pytest.raises(ValueError, match="use one of strict, balanced, lenient"):
        Strictness.parse("paranoid")
    point = OperatingPoint(0.4, "l2", 7, Strictness.BALANCED, 0.01, "table")
    assert point.describe() == "Balanced: with 7 people enrolled, about 1 stranger in 100 may be named as someone enrolled (threshold 0.400)"


@pytest.mark.parametrize("backend", sorted({b for b, _ in RATE_TABLES}))
def test_shipped_tables_are_monotonic(backend: str) -> None:
    for path in ("photo", "live"):
        t = RATE_TABLES.get((backend, path))
        if t is None:
            continue
        assert list(t.rates) == sorted(t.rates, reverse=True)
        steps = np.diff(t.thresholds) * (1 if t.metric == "cosine" else -1)
        assert (steps >= 0).all(), f"{backend}/{path}: a lower rate must never get a looser threshold"


def test_a_gallery_with_a_margin_leaves_a_near_tie_unknown() -> None:
    from models.matching import Gallery

    a, b = np.eye(4, dtype=np.float32)[:2]
    gallery = Gallery.build((1, 2), ("Ann", "Bob"), np.stack([a, b]), "l2", 1.2, min_margin=0.05)
    between = a + 0.98 * b  # a little nearer Ann, but Bob nearly as near: within the threshold of both
    clear = a + 0.2 * b
    tie, named = gallery.search(np.stack([between, clear]))
    assert tie.name is None and tie.candidate_id == 1 and tie.margin < 0.05
    assert named.name == "Ann"
    assert Gallery.build((1, 2), ("Ann", "Bob"), np.stack([a, b]), "l2", 1.2).search(between)[0].name == "Ann"


def test_the_cohort_rule_leaves_a_face_close_to_several_people_unknown() -> None:
    from models.matching import Gallery
    from models.operating_point import CohortRule

    a, b, c = np.eye(4, dtype=np.float32)[:3]
    rule = CohortRule("l2", 0.4, 0.2, solo=1.2)  # best − 0.4 × runner-up must be ≤ 0.2
    gallery = Gallery.build((1, 2, 3), ("Ann", "Bob", "Cy"), np.stack([a, b, c]), "l2", 1.3, cohort=rule)
    crowd = a + 0.7 * b + 0.7 * c  # nearest Ann, but about as near Bob: a stranger's pattern
    ann = a + 0.15 * b
    unsure, named = gallery.search(np.stack([crowd, ann]))
    assert unsure.name is None and unsure.candidate_id == 1, "within the threshold, yet not named"
    assert unsure.score < 1.3 and rule.adjusted(unsure.score, unsure.score + unsure.margin) > 0.2
    assert named.name == "Ann"
    plain = Gallery.build((1, 2, 3), ("Ann", "Bob", "Cy"), np.stack([a, b, c]), "l2", 1.3)
    assert plain.search(crowd)[0].name == "Ann", "without the rule the same face is named"
    alone = Gallery.build((1,), ("Ann",), a[None], "l2", 1.3, cohort=rule)
    assert alone.search(ann)[0].name == "Ann", "one enrolled person: compared with the solo runner-up"


def test_a_cosine_cohort_rule_works_in_similarity() -> None:
    from models.operating_point import CohortRule

    rule = CohortRule("cosine", 0.4, 0.3, solo=0.2)
    assert rule.accepts(0.6, 0.2) and not rule.accepts(0.6, 0.8)
    assert rule.accepts(0.5, None) and not rule.accepts(0.35, None)


@pytest.mark.parametrize("backend, path", sorted(COHORT_TABLES))
def test_shipped_cohort_rules_are_stricter_for_stricter_settings_and_bigger_galleries(backend: str, path: str) -> None:
    table = COHORT_TABLES[(backend, path)]
    stricter = 1 if table.metric == "l2" else -1  # l2: a lower threshold is stricter
    for size in (1, 10, 200, 1000, 5000):
        t = [operating_point(backend, table.metric, 0.0, size, s, path).cohort.threshold for s in Strictness]
        strict, balanced, lenient = (t[list(Strictness).index(s)] for s in (Strictness.STRICT, Strictness.BALANCED, Strictness.LENIENT))
        assert stricter * strict <= stricter * balanced <= stricter * lenient
    beyond = [operating_point(backend, table.metric, 0.0, g, Strictness.BALANCED, path) for g in (200, 1000, 5000)]
    for smaller, bigger in zip(beyond, beyond[1:]):
        assert stricter * bigger.cohort.threshold < stricter * smaller.cohort.threshold, "more people, stricter rule"
        assert stricter * bigger.threshold < stricter * smaller.threshold


def test_a_users_threshold_has_no_cohort_rule() -> None:
    backend, path = next(iter(COHORT_TABLES))
    table = COHORT_TABLES[(backend, path)]
    point = operating_point(backend, table.metric, 0.5, 50, Strictness.BALANCED, path, override=0.45)
    assert point.source == "user" and point.cohort is None
