"""Who is reporting: a pseudonymous, stable ``device_id`` (the boot id is read with the facts).

The raw hardware id (macOS ``IOPlatformUUID``, Linux ``/etc/machine-id``) never leaves the machine:
``device_id`` is an HMAC-SHA256 of it under a fleet key, so the fleet operator can recompute a
device's id from its hardware id (to find one Mac) while nobody else can reverse it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from pathlib import Path
from typing import Final

from netdown.agent.sources.routes import run_command

__all__ = ["device_id_for", "parse_ioreg_platform_uuid", "parse_os_release", "read_hardware_id", "read_os_version"]

_IOREG_UUID: Final = re.compile(r'"IOPlatformUUID"\s*=\s*"(?P<uuid>[0-9A-Fa-f-]{36})"')

Runner = Callable[[list[str]], str]


def device_id_for(hardware_id: str, key: bytes, platform: str) -> str:
    """The wire contract's ``device_id``: a platform prefix and 24 hex digits of HMAC(key, hardware id)."""
    digest = hmac.new(key, hardware_id.strip().lower().encode(), hashlib.sha256).hexdigest()
    return f"{'mac' if platform == 'darwin' else platform}-{digest[:24]}"


def parse_ioreg_platform_uuid(text: str) -> str | None:
    """``IOPlatformUUID`` from ``ioreg -rd1 -c IOPlatformExpertDevice`` output."""
    match = _IOREG_UUID.search(text)
    return match.group("uuid") if match else None


def read_hardware_id(platform: str, root: Path = Path("/"), run: Runner = run_command) -> str:
    """The machine's own stable id (never sent anywhere; only hashed)."""
    if platform == "darwin":
        uuid = parse_ioreg_platform_uuid(run(["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"]))
        if uuid is None:
            raise RuntimeError("ioreg printed no IOPlatformUUID")
        return uuid
    return (root / "etc/machine-id").read_text(encoding="ascii").strip()


def parse_os_release(text: str) -> tuple[str, str]:
    """``VERSION_ID`` and ``BUILD_ID`` of a Linux ``/etc/os-release`` (either may be empty)."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return fields.get("VERSION_ID", "").strip("\"'"), fields.get("BUILD_ID", "").strip("\"'")


def read_os_version(platform: str, root: Path = Path("/"), run: Runner = run_command) -> tuple[str, str]:
    """The OS release and build the envelope carries: macOS ``sw_vers``, Linux ``/etc/os-release``."""
    if platform == "darwin":
        return (
            run(["/usr/bin/sw_vers", "-productVersion"]).strip(),
            run(["/usr/bin/sw_vers", "-buildVersion"]).strip(),
        )
    try:
        return parse_os_release((root / "etc/os-release").read_text(encoding="utf-8"))
    except OSError:
        return "", ""
