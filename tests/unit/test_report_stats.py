"""The reports' interval maths against published values, and their coverage computed exactly.

Known values: Garwood's Poisson limits as tabulated (e.g. Ulm 1990; the 95% limits for 0, 1, 10
events are [0, 3.689], [0.0253, 5.572], [4.795, 18.39]), Clopper-Pearson for 5/10 [0.187, 0.813],
Katz's interval worked by hand. Coverage is not sampled but summed over every possible outcome, so
"at least 95%" is checked exactly for each true rate hypothesis draws.
"""

from __future__ import annotations

import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdown.report.stats import (
    Interval,
    beta_quantile,
    binomial_interval,
    family_confidence,
    gamma_quantile,
    poisson_interval,
    rate_interval,
    rate_ratio,
    rate_ratio_interval,
    regularized_beta,
    regularized_gamma,
    risk_ratio,
    risk_ratio_interval,
    z_value,
)


@pytest.mark.parametrize(
    ("count", "low", "high"),
    [
        (0, 0.0, 3.6889),
        (1, 0.02532, 5.5716),
        (2, 0.24221, 7.2247),
        (10, 4.7954, 18.3904),
        (100, 81.3640, 121.6268),
    ],
)
def test_garwood_interval_matches_the_tables(count: int, low: float, high: float) -> None:
    interval = poisson_interval(count, 0.95)
    assert interval.low == pytest.approx(low, rel=1e-4, abs=1e-9)
    assert interval.high == pytest.approx(high, rel=1e-4)


def test_garwood_interval_at_99_percent_for_zero_events_is_log_of_alpha() -> None:
    # With no event the upper limit solves exp(-m) = alpha/2.
    assert poisson_interval(0, 0.99).high == pytest.approx(-math.log(0.005), rel=1e-10)


def test_rate_interval_divides_by_exposure() -> None:
    assert rate_interval(10, 2.0) == pytest.approx(tuple(bound / 2 for bound in poisson_interval(10)))


def test_large_counts_stay_fast_and_close_to_the_normal_approximation() -> None:
    interval = poisson_interval(1_000_000)
    assert interval.low == pytest.approx(1_000_000 - 1.96 * 1000, rel=1e-5)
    assert interval.high == pytest.approx(1_000_000 + 1.96 * 1000, rel=1e-5)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [(5, 10, 0.18709, 0.81291), (0, 10, 0.0, 0.30850), (10, 10, 0.69150, 1.0), (1, 100, 0.000253, 0.054460)],
)
def test_clopper_pearson_matches_published_values(successes: int, trials: int, low: float, high: float) -> None:
    interval = binomial_interval(successes, trials)
    assert interval.low == pytest.approx(low, rel=1e-3, abs=1e-9)
    assert interval.high == pytest.approx(high, rel=1e-4)


def test_special_functions_agree_with_closed_forms() -> None:
    # Gamma(1) is exponential; Beta(1, 1) is uniform; Beta(a, 1) has CDF x^a.
    assert regularized_gamma(1, 2.0) == pytest.approx(1 - math.exp(-2.0), rel=1e-12)
    assert regularized_beta(1, 1, 0.3) == pytest.approx(0.3, rel=1e-12)
    assert regularized_beta(3, 1, 0.5) == pytest.approx(0.125, rel=1e-12)
    assert gamma_quantile(1, 0.5) == pytest.approx(math.log(2), rel=1e-10)
    assert beta_quantile(2, 1, 0.25) == pytest.approx(0.5, rel=1e-10)
    assert beta_quantile(1, 2, 0.25, upper=True) == pytest.approx(0.5, rel=1e-10)


def test_quantiles_far_in_the_tail_keep_their_accuracy() -> None:
    # P(Gamma(1) > x) = exp(-x): the upper quantile at 1e-12 is 12 ln 10.
    assert gamma_quantile(1, 1e-12, upper=True) == pytest.approx(12 * math.log(10), rel=1e-9)


def test_rate_ratio_interval_is_the_clopper_pearson_interval_mapped() -> None:
    # 20 events over 10 device-days against 10 over 10: p = 20/30, ratio = p / (1 - p).
    share = binomial_interval(20, 30)
    interval = rate_ratio_interval(20, 10.0, 10, 10.0)
    assert interval is not None
    assert interval.low == pytest.approx(share.low / (1 - share.low))
    assert interval.high == pytest.approx(share.high / (1 - share.high))
    assert rate_ratio(20, 10.0, 10, 10.0) == 2.0


def test_rate_ratio_edges() -> None:
    assert rate_ratio_interval(0, 1.0, 0, 1.0) is None
    unbounded = rate_ratio_interval(5, 1.0, 0, 1.0)
    assert unbounded is not None
    assert unbounded.high == math.inf
    assert unbounded.low > 0
    zero = rate_ratio_interval(0, 1.0, 5, 1.0)
    assert zero is not None
    assert zero.low == 0.0
    assert math.isfinite(zero.high)
    assert math.isinf(rate_ratio(5, 1.0, 0, 1.0))
    assert math.isnan(rate_ratio(0, 1.0, 0, 1.0))


def test_katz_interval_worked_by_hand() -> None:
    # 10/100 against 5/100: log RR = ln 2, SE = sqrt(1/10 - 1/100 + 1/5 - 1/100) = sqrt(0.28).
    interval = risk_ratio_interval(10, 100, 5, 100)
    error = math.sqrt(0.28) * z_value(0.95)
    assert interval.low == pytest.approx(2 * math.exp(-error))
    assert interval.high == pytest.approx(2 * math.exp(error))
    assert risk_ratio(10, 100, 5, 100) == pytest.approx(2.0)


def test_katz_interval_with_an_empty_cell_adds_a_half_everywhere() -> None:
    # 0.5 added to 0, 50, 10, 40: RR = (0.5/51) / (10.5/51), SE = sqrt(1/0.5 - 1/51 + 1/10.5 - 1/51).
    interval = risk_ratio_interval(0, 50, 10, 50)
    centre = math.log(0.5 / 10.5)
    error = math.sqrt(1 / 0.5 - 1 / 51 + 1 / 10.5 - 1 / 51) * z_value(0.95)
    assert interval.low == pytest.approx(math.exp(centre - error))
    assert interval.high == pytest.approx(math.exp(centre + error))


def test_bonferroni_level() -> None:
    assert family_confidence(0.95, 10) == pytest.approx(0.995)
    assert family_confidence(0.95, 0) == pytest.approx(0.95)


@pytest.mark.parametrize(
    "call",
    [
        lambda: poisson_interval(-1),
        lambda: poisson_interval(3, 1.0),
        lambda: rate_interval(3, 0.0),
        lambda: binomial_interval(3, 2),
        lambda: risk_ratio_interval(1, 0, 1, 10),
        lambda: gamma_quantile(1, 0.0),
    ],
)
def test_impossible_inputs_are_refused(call: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        call()  # type: ignore[operator]


# --- coverage, summed exactly over outcomes ---------------------------------------------------------


def _poisson_pmf(mean: float, count: int) -> float:
    return math.exp(-mean + count * math.log(mean) - math.lgamma(count + 1))


def _binomial_pmf(trials: int, p: float, successes: int) -> float:
    return math.comb(trials, successes) * p**successes * (1 - p) ** (trials - successes)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0.05, max_value=60.0))
def test_garwood_covers_every_true_mean_at_least_95_percent(mean: float) -> None:
    top = int(mean + 12 * math.sqrt(mean) + 20)
    coverage = sum(_poisson_pmf(mean, k) for k in range(top) if poisson_interval(k).contains(mean))
    assert coverage >= 0.95 - 1e-9


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0.01, max_value=0.99))
def test_clopper_pearson_covers_at_least_95_percent(trials: int, p: float) -> None:
    coverage = sum(_binomial_pmf(trials, p, k) for k in range(trials + 1) if binomial_interval(k, trials).contains(p))
    assert coverage >= 0.95 - 1e-9


@functools.cache
def _equal_exposure_ratio_interval(a: int, b: int) -> Interval | None:
    """Shared by the examples below: the interval depends on the counts only."""
    return rate_ratio_interval(a, 1.0, b, 1.0)


@settings(max_examples=20, deadline=None)
@given(st.floats(min_value=0.5, max_value=10.0), st.floats(min_value=0.25, max_value=4.0))
def test_rate_ratio_interval_covers_the_true_ratio_at_least_95_percent(mean_b: float, ratio: float) -> None:
    # Equal exposures: a ~ Poisson(ratio * mean_b), b ~ Poisson(mean_b).
    mean_a = ratio * mean_b
    top_a, top_b = (int(m + 10 * math.sqrt(m) + 15) for m in (mean_a, mean_b))
    coverage = 0.0
    for a in range(top_a):
        for b in range(top_b):
            interval = _equal_exposure_ratio_interval(a, b)
            if interval is not None and interval.contains(ratio):
                coverage += _poisson_pmf(mean_a, a) * _poisson_pmf(mean_b, b)
    # No event at all (probability exp(-mean_a - mean_b)) gives no interval: the report shows none.
    assert coverage >= 0.95 * (1 - math.exp(-mean_a - mean_b)) - 1e-9


@settings(max_examples=15, deadline=None)
@given(
    st.integers(min_value=60, max_value=150),
    st.floats(min_value=0.15, max_value=0.4),
    st.floats(min_value=1.0, max_value=2.5),
)
def test_katz_interval_covers_close_to_95_percent_with_a_few_affected_per_group(
    devices: int, base: float, lift: float
) -> None:
    # Katz is approximate: with ~10 or more affected per group its coverage stays within a few points.
    exposed = min(base * lift, 0.95)
    true_lift = exposed / base
    pmf_a = [_binomial_pmf(devices, exposed, a) for a in range(devices + 1)]
    pmf_c = [_binomial_pmf(devices, base, c) for c in range(devices + 1)]
    coverage = sum(
        pa * pc
        for a, pa in enumerate(pmf_a)
        if pa > 1e-12
        for c, pc in enumerate(pmf_c)
        if pc > 1e-12 and risk_ratio_interval(a, devices, c, devices).contains(true_lift)
    )
    assert 0.93 <= coverage <= 0.975
