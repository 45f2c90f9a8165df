"""Write ``episode-spike-week.yml``: a promtool test over a noisy week of a realistic fleet.

Hand-written test series are flat; this one is not. A fleet of Macs on three releases, whose active
devices follow a daily cycle (and a quieter weekend), opens episodes as a Poisson process at a fixed
rate per active device, minute by minute, for seven days; then, on the eighth day, two fleet-wide
spikes and one release regression. A fixed seed makes the file the same on every run: run this
script (``python dashboards/prometheus/tests/make_series.py``) after changing it, and commit both;
``--check`` fails when the committed file differs, which ``make lint`` and the unit tests run.

The release 14.4 sits on partition 0, which moves from worker w1 to w2 half-way through the week
(the series keeps counting under the new instance), so the rules are also tested across a rebalance.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

OUTPUT: Final = Path(__file__).resolve().parent / "episode-spike-week.yml"
SEED: Final = 20241125
MINUTES_PER_DAY: Final = 24 * 60
JOB: Final = "netdown-stream"
APP: Final = "com.example.vpn.tunnel"

# Timeline, in minutes from a Monday 00:00.
SPIKE_MORNING: Final = 7 * MINUTES_PER_DAY + 8 * 60  # Monday 08:00, on the morning ramp
SPIKE_PEAK: Final = 7 * MINUTES_PER_DAY + 14 * 60  # Monday 14:00, the daily peak
SPIKE_MINUTES: Final = 40
SPIKE_FACTOR: Final = 5.0
REGRESSION_START: Final = 7 * MINUTES_PER_DAY + 16 * 60  # 15.1 turns 4x worse: 6x 14.4, 4.5x the rest of the fleet
END: Final = 7 * MINUTES_PER_DAY + 21 * 60
MOVE: Final = 3 * MINUTES_PER_DAY + 12 * 60  # partition 0 moves from w1 to w2 (Thursday noon)
# Devices are refreshed by the worker at scrape; they change slowly, so the series steps every 15 min.
DEVICE_STEP: Final = 15


@dataclass(frozen=True)
class Release:
    """One macOS release: its devices at the daily peak, and its episodes per active device (x the base rate)."""

    os_version: str
    partition: int
    devices: int
    relative_rate: float


# 15.1 is 1.5x the fleet (not a regression); 13.6 is 8x but on 150 devices (too few to mean anything).
RELEASES: Final = (Release("14.4", 0, 3000, 1.0), Release("15.1", 1, 1000, 1.5), Release("13.6", 1, 150, 8.0))
# At the daily peak the whole fleet opens 1.5 episodes a minute; at the night trough a fifth of that.
PEAK_EPISODES_PER_MINUTE: Final = 1.5
BASE_RATE: Final = PEAK_EPISODES_PER_MINUTE / sum(r.devices * r.relative_rate for r in RELEASES)


def active_share(minute: int) -> float:
    """Share of a release's devices active: a daily sine (peak 14:00, trough 02:00), weekends at 60%."""
    day, minute_of_day = divmod(minute, MINUTES_PER_DAY)
    daily = 0.6 + 0.4 * math.sin(2 * math.pi * (minute_of_day - 8 * 60) / MINUTES_PER_DAY)
    return daily * (0.6 if day % 7 in (5, 6) else 1.0)


def episode_rate(release: Release, minute: int) -> float:
    """Expected episodes in one minute for one release, including the eighth day's spikes and regression."""
    devices = release.devices * active_share(minute - minute % DEVICE_STEP)
    rate = devices * BASE_RATE * release.relative_rate
    if release.os_version == "15.1" and minute >= REGRESSION_START:
        rate *= 4
    if any(start <= minute < start + SPIKE_MINUTES for start in (SPIKE_MORNING, SPIKE_PEAK)):
        rate *= SPIKE_FACTOR
    return rate


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact and fast enough for the small means of one minute."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


Sample = int | str | None  # a value, "stale" (the series ended: a staleness marker), or None (no sample)


def encode(values: Sequence[Sample]) -> str:
    """promtool's series notation: runs with a constant step as ``a+bxn``, missing samples as ``_xn``."""
    tokens, i = [], 0
    while i < len(values):
        value = values[i]
        if not isinstance(value, int):
            j = i
            while j < len(values) and values[j] is None and value is None:
                j += 1
            tokens.append("stale" if value == "stale" else f"_x{j - i}" if j - i > 1 else "_")
            i = max(j, i + 1)
            continue
        run = _run(values, i)
        if run >= 2:
            step = values[i + 1] - value  # type: ignore[operator]  # _run checked it is an int
            tokens.append(f"{value}x{run}" if step == 0 else f"{value}{step:+d}x{run}")
            i += run + 1
        else:
            tokens.append(str(value))
            i += 1
    return " ".join(tokens)


def _run(values: Sequence[Sample], start: int) -> int:
    """How many samples after ``values[start]`` continue it with one constant step."""
    step: int | None = None
    j = start + 1
    while j < len(values):
        current, previous = values[j], values[j - 1]
        if not isinstance(current, int) or not isinstance(previous, int):
            break
        if step is None:
            step = current - previous
        elif current - previous != step:
            break
        j += 1
    return j - start - 1


def _instance(release: Release, minute: int) -> str:
    return "w1" if release.partition == 0 and minute < MOVE else "w2"


def _split_by_instance(release: Release, values: list[int]) -> Iterator[tuple[str, list[Sample]]]:
    """The release's series under each worker that owned its partition; it goes stale when the partition leaves."""
    for instance in ("w1", "w2"):
        owned: list[Sample] = [v if _instance(release, m) == instance else None for m, v in enumerate(values)]
        for minute in range(1, len(owned)):
            if owned[minute] is None and isinstance(owned[minute - 1], int):
                owned[minute] = "stale"
        if any(isinstance(v, int) for v in owned):
            yield instance, owned


def series(rng: random.Random) -> list[tuple[str, str]]:
    """Every input series (name with labels, encoded values), episodes counters then device gauges."""
    out: list[tuple[str, str]] = []
    minutes = range(END + 1)
    for release in RELEASES:
        total, counter = 0, []
        for minute in minutes:
            total += poisson(rng, episode_rate(release, minute)) if minute else 0
            counter.append(total)
        for instance, owned in _split_by_instance(release, counter):
            labels = (
                f'app="{APP}",instance="{instance}",job="{JOB}",kind="necp_denied_healthy",'
                f'os_version="{release.os_version}",partition="{release.partition}",platform="darwin"'
            )
            out.append((f"netdown_episodes_total{{{labels}}}", encode(owned)))
    for release in RELEASES:
        devices = [round(release.devices * active_share(m - m % DEVICE_STEP)) for m in minutes]
        for instance, owned in _split_by_instance(release, devices):
            labels = (
                f'instance="{instance}",job="{JOB}",os_version="{release.os_version}",partition="{release.partition}"'
            )
            out.append((f"netdown_devices_active{{{labels}}}", encode(owned)))
    return out


def _at(minute: int) -> str:
    """A promtool duration: ``7d8h20m``, ``8d``, ``5h50m``."""
    days, rest = divmod(minute, MINUTES_PER_DAY)
    hours, minutes = divmod(rest, 60)
    return "".join(f"{count}{unit}" for count, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if count)


def _firing(alert: str, extra: str = "") -> str:
    return f'ALERTS{{alertname="{alert}",alertstate="firing"{extra}}}'


def _sample(alert: str, severity: str, extra: str = "") -> list[str]:
    labels = f'__name__="ALERTS",alertname="{alert}",alertstate="firing"{extra},severity="{severity}"'
    return [f"          - labels: '{{{labels}}}'", "            value: 1"]


def _case(sentence: str, expr: str, minute: int, samples: list[str]) -> list[str]:
    return [
        f"      # {sentence}",
        f"      - expr: '{expr}'",
        f"        eval_time: {_at(minute)}",
        "        exp_samples:" + ("" if samples else " []"),
        *samples,
    ]


SPIKE: Final = "NetdownEpisodeSpike"
REGRESSION: Final = "NetdownReleaseRegression"
_WEEK: Final = 8 * MINUTES_PER_DAY  # a range longer than the whole test, to count every sample since t=0


def render() -> str:
    """The whole test file."""
    rng = random.Random(SEED)
    lines = [
        "# Generated by dashboards/prometheus/tests/make_series.py: do not edit; change the generator and rerun it.",
        "#",
        "# A fleet of 4150 Macs on three releases: 14.4 (3000 devices), 15.1 (1000, 1.5x the episodes per device",
        "# of 14.4) and 13.6 (150, 8x). Active devices follow a daily sine (peak 14:00, a fifth of it at 02:00) and",
        "# weekends are at 60%; episodes are Poisson, minute by minute, 1.5 a minute at a weekday peak. Partition 0",
        "# (14.4) moves from worker w1 to w2 on Thursday noon. On the second Monday: a 5x fleet-wide spike at 08:00",
        "# and another at 14:00 (40 minutes each), and from 16:00 release 15.1 turns 4x worse (4.5x the rest).",
        "rule_files:",
        "  - ../netdown-episodes.rules.yml",
        "  - ../netdown-releases.rules.yml",
        "  - ../netdown-episode-spike.alerts.yml",
        "  - ../netdown-release-regression.alerts.yml",
        "# Rules are evaluated every 5 minutes here (every minute in the hand-written tests, as in production):",
        "# 11,000 one-minute evaluations of every rule would take promtool 20 s instead of 4.",
        "evaluation_interval: 5m",
        "tests:",
        "  - name: a noisy week with a daily cycle never pages; spikes and a regression on top of it do",
        "    interval: 1m",
        "    input_series:",
    ]
    for name, values in series(rng):
        lines += [f"      - series: '{name}'", f"        values: '{values}'"]
    lines += [
        "    promql_expr_test:",
        *_case(
            "A steady week (daily cycle, quiet weekend, Poisson noise, a rebalance) never pages a spike.",
            f"count_over_time({_firing(SPIKE)}[{_at(_WEEK)}])",
            SPIKE_MORNING,
            [],
        ),
        *_case(
            "The 1.5x release (15.1) and the 8x release on 150 devices (13.6) never raise a regression all week.",
            f"count_over_time({_firing(REGRESSION)}[{_at(_WEEK)}])",
            REGRESSION_START,
            [],
        ),
        *_case(
            "A 5x spike on the morning ramp pages within 20 minutes.",
            _firing(SPIKE),
            SPIKE_MORNING + 20,
            _sample(SPIKE, "page"),
        ),
        *_case(
            "Once the spike is over the alert resolves: nothing fires in the four hours before the next one.",
            f"count_over_time({_firing(SPIKE)}[4h])",
            SPIKE_PEAK - 1,
            [],
        ),
        *_case(
            "A 5x spike at the daily peak pages within 20 minutes.",
            _firing(SPIKE),
            SPIKE_PEAK + 20,
            _sample(SPIKE, "page"),
        ),
        *_case(
            "Release 15.1 at 4.5x the rest of the fleet raises a regression, labelled 15.1, within 4 hours.",
            _firing(REGRESSION),
            REGRESSION_START + 4 * 60,
            _sample(REGRESSION, "ticket", ',os_version="15.1"'),
        ),
        *_case(
            "The regression of one release (the fleet's rate less than doubles) is not a spike.",
            f"count_over_time({_firing(SPIKE)}[{_at(END - SPIKE_PEAK - SPIKE_MINUTES - 30)}])",
            END,
            [],
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, output: Path = OUTPUT, render: Callable[[], str] = render) -> int:
    """Write the test file, or with ``--check`` exit 1 if the committed one differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not output.is_file() or output.read_text(encoding="utf-8") != text:
            print(f"{output} is stale: run `python {Path(__file__).name}`", file=sys.stderr)
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
