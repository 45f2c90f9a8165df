"""What a simulated fleet is made of: its releases, the correlates planted in it, and how often things happen.

A :class:`FleetSpec` is pure data, so a run is fixed by it and a seed: the same spec, start, duration and
detector parameters give the same events, byte for byte, and the same ground truth.

The failure is a hazard: a device is hit by episodes as a Poisson process whose rate is the fleet's base
rate times its release's ``incidence`` times the ``multiplier`` of every correlate it carries. So "15.1 is
three times worse" is ``Release("15.1", ..., incidence=3.0)`` and "a content filter on 20% of Macs triples
the incidence" is ``Correlate(extension=FILTER, share=0.2, multiplier=3.0)``; a correlate with multiplier
1 is planted noise the suspects report must not blame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from netdown import wire

__all__ = ["DEFAULT_RELEASES", "Correlate", "FleetSpec", "Release"]

_VPN_FLAGS: Final = frozenset(wire.VpnFlags.__struct_fields__)


@dataclass(frozen=True)
class Release:
    """An OS release of the fleet: its share (relative ``weight``) and its ``incidence`` (hazard multiplier)."""

    os_version: str
    os_build: str
    weight: float = 1.0
    incidence: float = 1.0
    platform: wire.Platform = "darwin"

    def __post_init__(self) -> None:
        if not self.os_version:
            raise ValueError("a release needs an os_version")
        if not self.weight > 0:
            raise ValueError(f"release {self.os_version}: weight must be positive, got {self.weight}")
        if not self.incidence >= 0:
            raise ValueError(f"release {self.os_version}: incidence must be at least 0, got {self.incidence}")


@dataclass(frozen=True)
class Correlate:
    """A device fact present on ``share`` of the fleet that multiplies the episode hazard of its devices.

    Exactly one of ``extension`` (a network extension installed alongside the monitored VPN, e.g. a
    content filter) and ``vpn_flag`` (a :class:`netdown.wire.VpnFlags` field set True, False elsewhere).
    """

    extension: wire.NetworkExtension | None = None
    vpn_flag: str | None = None
    share: float = 0.2
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if (self.extension is None) == (self.vpn_flag is None):
            raise ValueError("a correlate is either an extension or a vpn_flag, exactly one of them")
        if self.vpn_flag is not None and self.vpn_flag not in _VPN_FLAGS:
            raise ValueError(f"vpn_flag {self.vpn_flag!r} is not one of {sorted(_VPN_FLAGS)}")
        if not 0 <= self.share <= 1:
            raise ValueError(f"correlate {self.name}: share must be in [0, 1], got {self.share}")
        if not self.multiplier >= 0:
            raise ValueError(f"correlate {self.name}: multiplier must be at least 0, got {self.multiplier}")

    @property
    def name(self) -> str:
        """How reports and messages name it: ``content_filter:com.example.filter`` or ``include_all_networks``."""
        if self.extension is not None:
            return f"{self.extension.kind}:{self.extension.id}"
        assert self.vpn_flag is not None
        return self.vpn_flag


# A fleet spread over a few macOS releases, weighted like a real one a few weeks after a point release.
DEFAULT_RELEASES: Final = (
    Release("15.1", "24B83", weight=25.0),
    Release("15.0.1", "24A348", weight=10.0),
    Release("14.4.1", "23E224", weight=30.0),
    Release("14.3.1", "23D60", weight=20.0),
    Release("13.6.4", "22G513", weight=15.0),
)


@dataclass(frozen=True)
class FleetSpec:
    """A fleet to simulate. Rates are per device and per day of simulated time; probabilities per event or device.

    ``episodes_per_device_day`` is the base hazard (release incidence 1, no correlate); ``stuck_share`` of
    episodes last until the user reboots, the others recover by themselves. Outages (the network is really
    down) and wake transients happen at their own rates and are not episodes. Delivery: ``p_duplicate`` of
    events reach the broker twice, ``p_lost`` never, and ``p_late_spool`` of devices are cut off from the
    broker once during the run, their spool delivering what they recorded when they are back.
    ``blind_share`` of devices (an exact count) run an agent whose system-path source is not running:
    they report no system path, so none of their failures can be judged.
    """

    devices: int
    seed: int = 0
    releases: tuple[Release, ...] = DEFAULT_RELEASES
    episodes_per_device_day: float = 1.0
    stuck_share: float = 0.25
    outages_per_device_day: float = 2.0
    transients_per_device_day: float = 4.0
    p_duplicate: float = 0.005
    p_late_spool: float = 0.05
    p_lost: float = 0.001
    blind_share: float = 0.0
    correlates: tuple[Correlate, ...] = ()

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise ValueError(f"a fleet needs at least one device, got {self.devices}")
        if not self.releases:
            raise ValueError("a fleet needs at least one release")
        for name in ("episodes_per_device_day", "outages_per_device_day", "transients_per_device_day"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        for name in ("stuck_share", "p_duplicate", "p_late_spool", "p_lost", "blind_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
