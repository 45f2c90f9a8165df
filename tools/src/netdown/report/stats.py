"""Confidence intervals for counts, rates and ratios.

The reports answer "how sure are we" with three intervals, each chosen for small counts, where a
release manager most needs honesty:

* :func:`rate_interval`: the exact (Garwood) interval of a Poisson rate, from gamma quantiles.
  Its coverage is at least the nominal level for every true rate.
* :func:`rate_ratio_interval`: the exact conditional interval of the ratio of two Poisson rates.
  Given ``a + b`` events in total, ``a`` is binomial with ``p = Ra·Ta / (Ra·Ta + Rb·Tb)``; the
  Clopper-Pearson interval of ``p`` maps to the ratio ``Ra/Rb = p/(1-p) · Tb/Ta``. Also at least nominal.
* :func:`risk_ratio_interval`: the Katz log interval of a ratio of two proportions (the lift of a
  device fact), with a 0.5 correction of every cell when one is empty. Approximate: close to the
  nominal level once each group has a few affected devices.

The regularized incomplete gamma and beta functions and their inverses come from
:mod:`scipy.special` (``gammainc``/``gammaincinv``/``gammainccinv``, ``betainc``/``betaincinv``/
``betainccinv``); each upper-tail quantile is inverted from the upper tail itself, not from 1 minus
the lower one, so quantiles far in a tail keep their relative accuracy.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import NamedTuple

from scipy import special

__all__ = [
    "Interval",
    "beta_quantile",
    "binomial_interval",
    "family_confidence",
    "gamma_quantile",
    "poisson_interval",
    "rate_interval",
    "rate_ratio",
    "rate_ratio_interval",
    "regularized_beta",
    "regularized_gamma",
    "risk_ratio",
    "risk_ratio_interval",
    "z_value",
]


class Interval(NamedTuple):
    """A two-sided confidence interval; ``high`` may be ``math.inf``."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within the interval (bounds included)."""
        return self.low <= value <= self.high

    def scaled(self, factor: float) -> Interval:
        """Both bounds times a positive ``factor`` (a count's interval to a rate's)."""
        return Interval(self.low * factor, self.high * factor)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def z_value(confidence: float) -> float:
    """The standard normal quantile of a two-sided interval: 1.96 for 0.95."""
    _check_confidence(confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def family_confidence(confidence: float, comparisons: int) -> float:
    """Bonferroni: the per-comparison level that keeps ``confidence`` for all ``comparisons`` at once."""
    _check_confidence(confidence)
    return 1 - (1 - confidence) / max(comparisons, 1)


# --- the special functions, from scipy.special ----------------------------------------------------


def regularized_gamma(a: float, x: float) -> float:
    """P(a, x): the CDF at ``x`` of a Gamma(shape ``a``, scale 1) variable."""
    if a <= 0:
        raise ValueError(f"shape must be positive, got {a}")
    return float(special.gammainc(a, max(x, 0.0)))


def gamma_quantile(a: float, p: float, *, upper: bool = False) -> float:
    """The ``x`` with P(a, x) = ``p`` (or, with ``upper``, Q(a, x) = ``p``: the upper-tail quantile)."""
    if a <= 0 or not 0 < p < 1:
        raise ValueError(f"need a > 0 and 0 < p < 1, got a={a}, p={p}")
    return float(special.gammainccinv(a, p) if upper else special.gammaincinv(a, p))


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b): the CDF at ``x`` of a Beta(``a``, ``b``) variable."""
    if a <= 0 or b <= 0:
        raise ValueError(f"shapes must be positive, got a={a}, b={b}")
    return float(special.betainc(a, b, min(max(x, 0.0), 1.0)))


def beta_quantile(a: float, b: float, p: float, *, upper: bool = False) -> float:
    """The ``x`` with I_x(a, b) = ``p`` (or, with ``upper``, 1 - I_x(a, b) = ``p``)."""
    if a <= 0 or b <= 0 or not 0 < p < 1:
        raise ValueError(f"need a, b > 0 and 0 < p < 1, got a={a}, b={b}, p={p}")
    return float(special.betainccinv(a, b, p) if upper else special.betaincinv(a, b, p))


# --- the intervals the reports use ------------------------------------------------------------------


def poisson_interval(count: int, confidence: float = 0.95) -> Interval:
    """Garwood's exact interval of a Poisson mean after observing ``count`` events.

    Lower bound: the mean at which ``count`` or more events have probability (1-confidence)/2;
    upper: the mean at which ``count`` or fewer do. For 0 events at 95%: [0, 3.689].
    """
    _check_confidence(confidence)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    alpha = (1 - confidence) / 2
    low = 0.0 if count == 0 else gamma_quantile(count, alpha)
    return Interval(low, gamma_quantile(count + 1, alpha, upper=True))


def rate_interval(count: int, exposure: float, confidence: float = 0.95) -> Interval:
    """The exact interval of a rate: ``count`` events over ``exposure`` (device-days, say)."""
    if exposure <= 0:
        raise ValueError(f"exposure must be positive, got {exposure}")
    return poisson_interval(count, confidence).scaled(1 / exposure)


def binomial_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Clopper-Pearson's exact interval of a proportion: ``successes`` out of ``trials``."""
    _check_confidence(confidence)
    if not 0 <= successes <= trials or trials == 0:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    alpha = (1 - confidence) / 2
    low = 0.0 if successes == 0 else beta_quantile(successes, trials - successes + 1, alpha)
    high = 1.0 if successes == trials else beta_quantile(successes + 1, trials - successes, alpha, upper=True)
    return Interval(low, high)


def rate_ratio(a: int, exposure_a: float, b: int, exposure_b: float) -> float:
    """``(a/Ta) / (b/Tb)``; ``inf`` when ``b`` is 0 and ``a`` is not, ``nan`` when both are 0."""
    if b == 0:
        return math.nan if a == 0 else math.inf
    return (a / exposure_a) / (b / exposure_b)


def rate_ratio_interval(
    a: int, exposure_a: float, b: int, exposure_b: float, confidence: float = 0.95
) -> Interval | None:
    """The exact conditional interval of ``(a/Ta) / (b/Tb)``; None when there is no event at all.

    Assumes both counts are Poisson (events independent, rates constant over the exposure).
    """
    if exposure_a <= 0 or exposure_b <= 0:
        raise ValueError(f"exposures must be positive, got {exposure_a} and {exposure_b}")
    if a + b == 0:
        return None
    share = binomial_interval(a, a + b, confidence)
    factor = exposure_b / exposure_a

    def to_ratio(p: float) -> float:
        return math.inf if p >= 1 else p / (1 - p) * factor

    return Interval(to_ratio(share.low), to_ratio(share.high))


def risk_ratio(a: int, n1: int, c: int, n0: int) -> float:
    """``(a/n1) / (c/n0)``: how many times likelier the outcome is with the fact than without it."""
    if n1 <= 0 or n0 <= 0:
        raise ValueError(f"both groups need members, got {n1} and {n0}")
    if c == 0:
        return math.nan if a == 0 else math.inf
    return (a / n1) / (c / n0)


def risk_ratio_interval(a: int, n1: int, c: int, n0: int, confidence: float = 0.95) -> Interval:
    """Katz's log interval of ``(a/n1) / (c/n0)``, with 0.5 added to all four cells when one is 0.

    ``a`` of ``n1`` exposed and ``c`` of ``n0`` unexposed units have the outcome; units are independent.
    """
    if not (0 <= a <= n1 and 0 <= c <= n0) or n1 == 0 or n0 == 0:
        raise ValueError(f"need 0 <= a <= n1, 0 <= c <= n0 and both groups non-empty, got {a}/{n1}, {c}/{n0}")
    correction = 0.5 if 0 in (a, n1 - a, c, n0 - c) else 0.0
    ea, eb, ec, ed = (cell + correction for cell in (a, n1 - a, c, n0 - c))
    log_ratio = math.log((ea / (ea + eb)) / (ec / (ec + ed)))
    error = math.sqrt(1 / ea - 1 / (ea + eb) + 1 / ec - 1 / (ec + ed))
    z = z_value(confidence)
    return Interval(math.exp(log_ratio - z * error), math.exp(log_ratio + z * error))
