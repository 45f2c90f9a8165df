"""Who is reporting: a pseudonymous, stable ``device_id`` and the current ``boot_id``.

The raw hardware id (macOS ``IOPlatformUUID``, Linux ``/etc/machine-id``) never leaves the machine:
``device_id`` is an HMAC-SHA256 of it under a fleet key, so the fleet operator can recompute a
device's id from its hardware id (to find one Mac) while nobody else can reverse it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["device_id_for", "parse_ioreg_platform_uuid", "read_boot_id", "read_hardware_id"]

_IOREG_UUID: Final = re.compile(r'"IOPlatformUUID"\s*=\s*"(?P<uuid>[0-9A-Fa-f-]{36})"')

Runner = Callable[[list[str]], str]


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout


def device_id_for(hardware_id: str, key: bytes, platform: str) -> str:
    """The wire contract's ``device_id``: a platform prefix and 24 hex digits of HMAC(key, hardware id)."""
    digest = hmac.new(key, hardware_id.strip().lower().encode(), hashlib.sha256).hexdigest()
    return f"{'mac' if platform == 'darwin' else platform}-{digest[:24]}"


def parse_ioreg_platform_uuid(text: str) -> str | None:
    """``IOPlatformUUID`` from ``ioreg -rd1 -c IOPlatformExpertDevice`` output."""
    match = _IOREG_UUID.search(text)
    return match.group("uuid") if match else None


def read_hardware_id(platform: str, root: Path = Path("/"), run: Runner = _run) -> str:
    """The machine's own stable id (never sent anywhere; only hashed)."""
    if platform == "darwin":
        uuid = parse_ioreg_platform_uuid(run(["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"]))
        if uuid is None:
            raise RuntimeError("ioreg printed no IOPlatformUUID")
        return uuid
    return (root / "etc/machine-id").read_text(encoding="ascii").strip()


def read_boot_id(platform: str, root: Path = Path("/"), run: Runner = _run) -> str:
    """The id of the current boot: macOS ``kern.bootsessionuuid``, Linux's kernel ``boot_id``."""
    if platform == "darwin":
        return run(["/usr/sbin/sysctl", "-n", "kern.bootsessionuuid"]).strip()
    return (root / "proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
