"""The facts a device has or lacks, as the suspects report compares them: ``extension:``, ``vpn:``, ``build:``.

Each fact belongs to a family, and a device is compared on a fact only when its family is *known*
for it: a device that never sent its heartbeat facts neither has nor lacks a content filter, and a
``null`` VPN flag (not readable) is neither true nor false. Counting such devices as lacking the
fact would dilute the "without" group with devices that may well have it.

* ``extension:<bundle id>``: the device reported its facts (any extension, or its VPN flags) and
  this extension is (or is not) among its network extensions. Every Mac running the monitored VPN
  lists at least that VPN's own extension, so an empty list with no VPN flags means "not reported".
* ``vpn:<flag>``: the monitored VPN's profile flag is true (has) or false (lacks); ``null`` is unknown.
* ``build:<os_build>``: the device runs that build (has) or another one (lacks); an empty build is unknown.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from netdown import wire
from netdown.detection.device_facts import DeviceFacts

__all__ = ["BUILD", "EXTENSION", "VPN", "VPN_FLAGS", "FactView", "fact_family", "fact_view"]

EXTENSION: Final = "extension"
VPN: Final = "vpn"
BUILD: Final = "build"
VPN_FLAGS: Final = tuple(wire.VpnFlags.__struct_fields__)


class FactView(NamedTuple):
    """One device's facts: those it has, and the families for which "lacks" is known too."""

    has: frozenset[str]
    known: frozenset[str]


def fact_family(fact: str) -> str:
    """The family a fact id belongs to: ``extension``, ``build``, or the VPN flag's own ``vpn:<flag>``."""
    prefix = fact.split(":", 1)[0]
    return fact if prefix == VPN else prefix


def fact_view(device: DeviceFacts) -> FactView:
    """What the suspects report knows about ``device``."""
    has: set[str] = set()
    known: set[str] = set()
    if device.network_extensions or device.vpn is not None:
        known.add(EXTENSION)
        has.update(f"{EXTENSION}:{extension.id}" for extension in device.network_extensions)
    if device.vpn is not None:
        for flag in VPN_FLAGS:
            value = getattr(device.vpn, flag)
            if value is not None:
                known.add(f"{VPN}:{flag}")
                if value:
                    has.add(f"{VPN}:{flag}")
    if device.os_build:
        known.add(BUILD)
        has.add(f"{BUILD}:{device.os_build}")
    return FactView(has=frozenset(has), known=frozenset(known))
