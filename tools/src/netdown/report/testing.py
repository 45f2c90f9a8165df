"""Device records and incidents for the reports' tests, written in one line each (never imported by the reports).

The reports read two record types defined elsewhere (:class:`DeviceFacts`, :class:`Incident`) whose
every field is required; a test is about one or two of them ("a device with this filter, affected
once"), so these fill the rest with the plainest values.
"""

from __future__ import annotations

from collections.abc import Iterable

from netdown import wire
from netdown.detection.device_facts import DeviceFacts
from netdown.detection.incident import Incident

__all__ = ["HOUR_MS", "T0_MS", "device", "incident"]

T0_MS = 1_732_540_800_000  # 2024-11-25 13:20 UTC
HOUR_MS = 3_600_000


def device(
    device_id: str,
    *,
    os_version: str = "15.2",
    os_build: str = "24C101",
    extensions: Iterable[str] = ("com.example.vpn.tunnel",),
    include_all_networks: bool | None = False,
    first_seen_ms: int = T0_MS,
    last_seen_ms: int = T0_MS + 24 * HOUR_MS,
    platform: str = "darwin",
) -> DeviceFacts:
    """A Mac seen from ``first_seen_ms`` to ``last_seen_ms`` with the given extensions (bundle ids) and flag."""
    return DeviceFacts(
        device_id=device_id,
        platform=platform,
        os_version=os_version,
        os_build=os_build,
        network_extensions=tuple(wire.NetworkExtension(id=ext, kind="other") for ext in extensions),
        vpn=wire.VpnFlags(include_all_networks=include_all_networks, enforce_routes=None, exclude_local_networks=None),
        first_seen_ms=first_seen_ms,
        last_seen_ms=last_seen_ms,
    )


def incident(
    on: DeviceFacts,
    opened_ms: int,
    *,
    closed_ms: int | None = None,
    stuck: bool = False,
    app: str = "com.example.vpn.tunnel",
) -> Incident:
    """An episode on device ``on`` (its release and build), opened at ``opened_ms``."""
    return Incident(
        device_id=on.device_id,
        app=app,
        opened_ms=opened_ms,
        closed_ms=closed_ms,
        close_reason="recovered" if closed_ms is not None else None,
        stuck=stuck,
        os_version=on.os_version,
        os_build=on.os_build,
        platform=on.platform,
        evidence=(f"{on.device_id}-{opened_ms}",),
    )
