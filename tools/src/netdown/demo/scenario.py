"""What the demo simulates and how fast its clocks run: the fleet, the detector parameters, the alert rules.

Production measures in minutes and hours (a device is stuck after 5 min, a release regression is
judged over 3 h); a demo has minutes in all. So:

* the detector runs 15x faster than the production defaults (stuck after 20 s, inactive after
  60 s) and the simulator shapes every device's timeline for those parameters;
* so does each simulated Mac's agent (``AGENT``): the shipped cadences 15x faster, a probe round
  every 2 s, a heartbeat every 20 s, the system path polled every 133 ms;
* the shipped alert rules run 60x faster (``scaled``): a page's 10 min ``for`` is 10 s, the
  regression's 3 h window 3 min; their volume guards shrink from a 2,000-Mac fleet to the demo's;
* the fleet fails far more often than a real one (about one episode per Mac per 7 min, and one
  release, 15.1, eight times worse), so a few minutes hold hundreds of episodes: enough for stuck
  devices to page and for 15.1's regression to be ticketed.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from netdown.dashboards.config import CONFIG, Config, scaled
from netdown.detection.detector import DetectorParams
from netdown.sim import DEFAULT_RELEASES, FleetSpec
from netdown.sim.profile import AgentProfile

__all__ = ["AGENT", "BAD_RELEASE", "PARAMS", "RULES_SPEEDUP", "fleet", "rules"]

PARAMS: Final = DetectorParams(window_ms=10_000, settle_ms=2_000, stuck_ms=20_000, lateness_ms=5_000, stale_ms=60_000)
_DETECTOR_SPEEDUP: Final = 15  # T and S of PARAMS against the production defaults
AGENT: Final = AgentProfile().faster(_DETECTOR_SPEEDUP)
RULES_SPEEDUP: Final = 60
# The fleet size the shipped volume guards are written for: 20 stuck Macs are its 1% (netdown.dashboards.config).
_REFERENCE_FLEET: Final = 2_000
BAD_RELEASE: Final = "15.1"
_BAD_INCIDENCE: Final = 8.0
_EPISODES_PER_DEVICE_DAY: Final = 200.0


def fleet(devices: int, seed: int) -> FleetSpec:
    """A fleet of ``devices`` Macs on the default release mix, ``BAD_RELEASE`` with eight times the episodes."""
    releases = tuple(
        dataclasses.replace(release, incidence=_BAD_INCIDENCE) if release.os_version == BAD_RELEASE else release
        for release in DEFAULT_RELEASES
    )
    return FleetSpec(devices=devices, seed=seed, releases=releases, episodes_per_device_day=_EPISODES_PER_DEVICE_DAY)


def rules(devices: int) -> Config:
    """The shipped rules, ``RULES_SPEEDUP`` times faster, their count guards scaled to ``devices`` (at least 2).

    Shares and factors stay as shipped: what pages at 1% of 2,000 Macs pages at 1% of 300.
    """
    fast = scaled(CONFIG, RULES_SPEEDUP)

    def guard(count: int) -> int:
        return max(2, round(count * devices / _REFERENCE_FLEET))

    return dataclasses.replace(
        fast,
        spike=dataclasses.replace(fast.spike, min_episodes=guard(fast.spike.min_episodes)),
        regression=dataclasses.replace(
            fast.regression,
            min_active_devices=guard(fast.regression.min_active_devices),
            min_episodes=guard(fast.regression.min_episodes),
        ),
        stuck=dataclasses.replace(fast.stuck, min_devices=guard(fast.stuck.min_devices)),
        loss=dataclasses.replace(fast.loss, min_lost=guard(fast.loss.min_lost)),
        rejected=dataclasses.replace(fast.rejected, min_rejected=guard(fast.rejected.min_rejected)),
    )
