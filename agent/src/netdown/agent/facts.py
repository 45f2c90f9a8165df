"""Heartbeat facts: uptime, boot id, installed network extensions and the monitored VPN's flags.

Episodes cluster by suspect: a third-party content filter, a VPN profile with
``includeAllNetworks``, a stale configuration. The heartbeat carries those facts so the incident
record can name them. Each comes from a pure parser tested on captured output, and a thin reader
whose command runner, root path and clock are injectable.

Where the kind of an extension comes from: ``systemextensionsctl list`` (corpus C1, C10, C12, §8)
says only that an extension is a *network* extension, not which provider it runs. The provider
kind and the VPN flags are in the NetworkExtension configuration store,
``/Library/Preferences/com.apple.networkextension.plist`` (an NSKeyedArchiver archive readable by
root, which the agent is). When that file cannot be read the kind is ``other`` and the flags are
null: unknown, never guessed. The archive's layout is Apple's private one; the keys relied on are
listed at :func:`parse_ne_configurations`, and anything else in it is ignored.
"""

from __future__ import annotations

import plistlib
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from netdown import wire
from netdown.agent.sources.routes import Clock, Runner, run_command
from netdown.wire import ExtensionKind

__all__ = [
    "NE_CONFIGURATION_PLIST",
    "NcList",
    "NeConfiguration",
    "SystemExtension",
    "SystemExtensions",
    "VpnService",
    "facts_from",
    "parse_boot_id",
    "parse_kern_boottime",
    "parse_ne_configurations",
    "parse_proc_uptime",
    "parse_scutil_nc_list",
    "parse_systemextensionsctl",
    "read_boot_id",
    "read_facts",
    "read_uptime_s",
]

NE_CONFIGURATION_PLIST: Final = Path("Library/Preferences/com.apple.networkextension.plist")
NETWORK_EXTENSION_CATEGORY: Final = "com.apple.system_extension.network_extension"


# --- systemextensionsctl list ------------------------------------------------------------------


@dataclass(frozen=True)
class SystemExtension:
    """One row of ``systemextensionsctl list``."""

    category: str | None  # None when the paste had no ``---`` category header above the row
    team_id: str
    bundle_id: str
    version: str
    name: str
    state: str  # e.g. "activated enabled", "activated waiting for user"
    enabled: bool | None  # the ``*`` columns; None in whitespace-collapsed copies
    active: bool | None

    @property
    def running_network_extension(self) -> bool:
        """A network extension the system has activated and the user enabled."""
        return self.category == NETWORK_EXTENSION_CATEGORY and self.state == "activated enabled"


@dataclass(frozen=True)
class SystemExtensions:
    """The parsed command: its rows, or the error it printed instead (``readable`` False)."""

    extensions: tuple[SystemExtension, ...]
    error: str | None
    unrecognised: int

    @property
    def readable(self) -> bool:
        """The command listed extensions (possibly none) rather than failing."""
        return self.error is None


_SX_COUNT: Final = re.compile(r"^\d+ extension\(s\)\s*$")
_SX_CATEGORY: Final = re.compile(
    r"^--- (?P<category>\S+)(?: \(.*\))?\s*$"
)  # macOS 15 adds "(Go to 'System Settings…')"
_SX_HEADER: Final = re.compile(r"^enabled\s+active\s+teamID\s+bundleID \(version\)\s+name\s+\[state\]\s*$")
_SX_BUNDLE: Final = re.compile(r"^(?P<bundle>\S+) \((?P<version>[^)]*)\)$")
# A whitespace-collapsed row as people paste it (§8): team, bundle (version), name, [state].
_SX_COLLAPSED: Final = re.compile(
    r"^\s*(?:(?P<stars>(?:\*\s+){1,2}))?(?P<team>\S+)\s+(?P<bundle>[A-Za-z0-9.-]+) \((?P<version>[^)]*)\)\s+"
    r"(?P<name>.*?)\s+\[(?P<state>[^\]]*)\]\s*$"
)
_SX_ERROR: Final = re.compile(r"command failed|not permitted|must be run|error", re.IGNORECASE)


def parse_systemextensionsctl(text: str) -> SystemExtensions:
    """Rows of ``systemextensionsctl list`` in every observed layout, or the error it printed."""
    rows: list[SystemExtension] = []
    category: str | None = None
    error: str | None = None
    unrecognised = 0
    for line in text.splitlines():
        if not line.strip() or _SX_COUNT.match(line) or _SX_HEADER.match(line):
            continue
        if found := _SX_CATEGORY.match(line):
            category = found["category"]
        elif row := _sx_row(line, category):
            rows.append(row)
        elif _SX_ERROR.search(line):
            error = line.strip()
        else:
            unrecognised += 1
    return SystemExtensions(extensions=tuple(rows), error=error, unrecognised=unrecognised)


def _sx_row(line: str, category: str | None) -> SystemExtension | None:
    cols = line.split("\t")
    if len(cols) == 6 and (bundle := _SX_BUNDLE.match(cols[3])) and cols[5].startswith("["):
        return SystemExtension(
            category=category,
            team_id=cols[2],
            bundle_id=bundle["bundle"],
            version=bundle["version"],
            name=cols[4],
            state=cols[5].strip("[] "),
            enabled=cols[0].strip() == "*",
            active=cols[1].strip() == "*",
        )
    if found := _SX_COLLAPSED.match(line):
        return SystemExtension(
            category=category,
            team_id=found["team"],
            bundle_id=found["bundle"],
            version=found["version"],
            name=found["name"],
            state=found["state"],
            enabled=None,
            active=None,
        )
    return None


# --- scutil --nc list --------------------------------------------------------------------------


@dataclass(frozen=True)
class VpnService:
    """One VPN service of ``scutil --nc list``."""

    enabled: bool
    status: str  # "Connected", "Disconnected", "Connecting", ...
    service_id: str
    kind: str  # "PPP --> L2TP", "VPN (io.tailscale.ipn.macsys)", "IPSec"
    name: str
    type: str  # the bracketed "[VPN:com.wireguard.macos]" without brackets
    provider: str | None  # for a Network Extension VPN: the *app's* bundle id (not the extension's)


@dataclass(frozen=True)
class NcList:
    """The parsed ``scutil --nc list``."""

    services: tuple[VpnService, ...]
    unrecognised: int


_NC_HEADER: Final = re.compile(r"^Available network connection services in the current set")
_NC_ROW: Final = re.compile(
    r"^(?P<enabled>\*)?\s*\((?P<status>[^)]*)\)\s+(?P<middle>.*?)\s+\"(?P<name>.*)\"\s+\[(?P<type>[^\]]*)\]\s*$"
)
# The service id is a UUID (posters redact it, even with spaces: "[uuid here]"); the kind follows it.
_NC_MIDDLE: Final = re.compile(r"^(?P<id>.*?)\s+(?P<kind>PPP --> \S+|VPN \([^)]*\)|VPN|IPSec|\S+)$")


def parse_scutil_nc_list(text: str) -> NcList:
    """The VPN services ``scutil --nc list`` shows (corpus C5, C18 to C20); unknown lines counted."""
    services: list[VpnService] = []
    unrecognised = 0
    for line in text.splitlines():
        if not line.strip() or _NC_HEADER.match(line):
            continue
        row = _NC_ROW.match(line)
        middle = _NC_MIDDLE.match(row["middle"]) if row else None
        if row is None or middle is None:
            unrecognised += 1
            continue
        kind, _, provider = row["type"].partition(":")
        services.append(
            VpnService(
                enabled=row["enabled"] is not None,
                status=row["status"].strip(),
                service_id=middle["id"],
                kind=middle["kind"],
                name=row["name"],
                type=row["type"],
                provider=provider if kind == "VPN" and provider else None,
            )
        )
    return NcList(services=tuple(services), unrecognised=unrecognised)


# --- NetworkExtension configuration store --------------------------------------------------------


@dataclass(frozen=True)
class NeConfiguration:
    """One provider configuration from the NE store: whose extension, which kind, which flags."""

    name: str | None
    provider: str  # the extension's bundle id, as systemextensionsctl lists it
    kind: ExtensionKind
    enabled: bool | None
    include_all_networks: bool | None
    enforce_routes: bool | None
    exclude_local_networks: bool | None


# NEConfiguration's archived members and the provider kind each holds. NEVPN/NEVPNApp carry a
# `TunnelType` (NEVPNManager's tunnelType: 1 packet tunnel, 2 app-layer; an app-layer one under
# `VPN` is a transparent proxy, under `AppVPN` an app proxy).
_SECTION_KINDS: Final[dict[str, tuple[ExtensionKind, ExtensionKind]]] = {
    "VPN": ("packet_tunnel", "transparent_proxy"),
    "AlwaysOnVPN": ("packet_tunnel", "packet_tunnel"),
    "AppVPN": ("packet_tunnel", "app_proxy"),
    "ContentFilter": ("content_filter", "content_filter"),
    "DNSProxy": ("dns_proxy", "dns_proxy"),
}
_APP_LAYER_TUNNEL: Final = 2
_MAX_DEPTH: Final = 24  # archives are shallow; the bound only stops a reference cycle


def parse_ne_configurations(data: bytes) -> tuple[NeConfiguration, ...]:
    """Provider configurations from ``com.apple.networkextension.plist`` (binary or XML plist).

    Relies on these archived keys, matched case-insensitively: a configuration object holds a
    ``Name`` and one of ``VPN``, ``AlwaysOnVPN``, ``AppVPN``, ``ContentFilter``, ``DNSProxy``;
    inside it, the provider's bundle id under a key ending in ``BundleIdentifier`` (e.g.
    ``ProviderBundleIdentifier``, ``FilterDataProviderBundleIdentifier``), ``Enabled``,
    ``TunnelType``, and the protocol's ``IncludeAllNetworks``, ``EnforceRoutes``,
    ``ExcludeLocalNetworks``. Raises ValueError for a file that is not a plist.
    """
    try:
        archive = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, OverflowError) as exc:
        raise ValueError(f"not a property list: {exc}") from None
    root = _unarchive(archive) if isinstance(archive, dict) and "$objects" in archive else archive
    configurations: list[NeConfiguration] = []
    for node in _dicts(root, 0):
        lowered = {str(key).lower(): value for key, value in node.items()}
        for section, kinds in _SECTION_KINDS.items():
            body = lowered.get(section.lower())
            if not isinstance(body, dict):
                continue
            provider = _first(body, lambda key: key.endswith("bundleidentifier"))
            if not isinstance(provider, str):
                continue
            tunnel_type = _first(body, lambda key: key == "tunneltype")
            configurations.append(
                NeConfiguration(
                    name=lowered.get("name") if isinstance(lowered.get("name"), str) else None,
                    provider=provider,
                    kind=kinds[1] if tunnel_type == _APP_LAYER_TUNNEL else kinds[0],
                    enabled=_flag(body, "enabled"),
                    include_all_networks=_flag(body, "includeallnetworks"),
                    enforce_routes=_flag(body, "enforceroutes"),
                    exclude_local_networks=_flag(body, "excludelocalnetworks"),
                )
            )
    return tuple(dict.fromkeys(configurations))


def _unarchive(archive: Mapping[str, Any]) -> Any:
    """Resolve an NSKeyedArchiver archive's UID references into plain dicts, lists and strings."""
    objects: list[Any] = archive["$objects"]

    def resolve(value: Any, depth: int) -> Any:  # noqa: PLR0911 (one return per archived type)
        if depth > _MAX_DEPTH:
            return None
        reference = _uid(value)
        if reference is not None:
            return resolve(objects[reference], depth + 1) if 0 <= reference < len(objects) else None
        if isinstance(value, list):
            return [resolve(item, depth + 1) for item in value]
        if not isinstance(value, dict):
            return None if value == "$null" else value
        if "NS.keys" in value and "NS.objects" in value:  # NSDictionary
            keys = [resolve(key, depth + 1) for key in value["NS.keys"]]
            return {str(k): resolve(v, depth + 1) for k, v in zip(keys, value["NS.objects"], strict=False)}
        if "NS.objects" in value:  # NSArray, NSSet
            return resolve(value["NS.objects"], depth)
        if "NS.string" in value:  # NSMutableString
            return value["NS.string"]
        return {key: resolve(item, depth + 1) for key, item in value.items() if key != "$class"}

    top = archive.get("$top", {})
    return resolve(top.get("root", next(iter(top.values()), None)) if isinstance(top, dict) else None, 0)


def _uid(value: Any) -> int | None:
    """An archive reference: a binary plist's UID, or ``{"CF$UID": n}`` as ``plutil -convert xml1`` writes it."""
    if isinstance(value, plistlib.UID):
        return value.data
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("CF$UID"), int):
        return int(value["CF$UID"])
    return None


def _dicts(value: Any, depth: int) -> Iterator[dict[str, Any]]:
    """Every dict in a tree, outermost first."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item, depth + 1)


def _first(tree: Any, wanted: Any) -> Any:
    """The value of the first key (outermost first) for which ``wanted(lower-cased key)`` holds."""
    for node in _dicts(tree, 0):
        for key, value in node.items():
            if wanted(str(key).lower()) and value is not None:
                return value
    return None


def _flag(tree: Any, name: str) -> bool | None:
    value = _first(tree, lambda key: key == name)
    return bool(value) if isinstance(value, bool | int) else None


# --- the facts object ----------------------------------------------------------------------------


def facts_from(
    extensions: SystemExtensions,
    configurations: Sequence[NeConfiguration] | None,
    services: NcList | None,
    monitored: str | None,
) -> wire.Facts:
    """The heartbeat's ``facts`` (wire ``Facts``).

    ``network_extensions``: the running network extensions, one entry per (extension, provider
    kind); kind ``other`` where the configuration store is unreadable or lists no provider for it.
    ``vpn``: the flags of the configuration whose provider is the monitored extension (or lives in
    it); without a monitored id, of the one the connected ``scutil --nc`` service names, or the only
    one there is; null when none is known.
    """
    by_provider: dict[str, list[ExtensionKind]] = {}
    for configuration in configurations or ():
        by_provider.setdefault(configuration.provider, []).append(configuration.kind)
    entries = (
        wire.NetworkExtension(id=extension.bundle_id, kind=kind)
        for extension in extensions.extensions
        if extension.running_network_extension
        for kind in sorted(set(by_provider.get(extension.bundle_id, ["other"])))
    )
    vpn = _monitored_vpn(configurations or (), services, monitored)
    return wire.Facts(
        network_extensions=tuple(dict.fromkeys(entries)),  # frozen Structs: equal entries hash alike
        vpn=None
        if vpn is None
        else wire.VpnFlags(
            include_all_networks=vpn.include_all_networks,
            enforce_routes=vpn.enforce_routes,
            exclude_local_networks=vpn.exclude_local_networks,
        ),
    )


def _monitored_vpn(
    configurations: Sequence[NeConfiguration], services: NcList | None, monitored: str | None
) -> NeConfiguration | None:
    tunnels = [c for c in configurations if c.kind in ("packet_tunnel", "transparent_proxy", "app_proxy")]
    if monitored is not None:
        matching = [c for c in tunnels if c.provider == monitored or c.provider.startswith(monitored + ".")]
    else:
        connected = {s.name for s in (services.services if services else ()) if s.status == "Connected"}
        matching = [c for c in tunnels if c.name in connected] or tunnels
    return matching[0] if len(matching) == 1 else None


def read_facts(
    platform: str, monitored: str | None = None, run: Runner = run_command, root: Path = Path("/")
) -> wire.Facts:
    """The heartbeat's facts now; on Linux there are no network extensions and no VPN profile."""
    if platform != "darwin":
        return wire.Facts()
    extensions = parse_systemextensionsctl(_run_or_empty(run, ["/usr/bin/systemextensionsctl", "list"]))
    services = parse_scutil_nc_list(_run_or_empty(run, ["/usr/sbin/scutil", "--nc", "list"]))
    try:
        configurations: tuple[NeConfiguration, ...] | None = parse_ne_configurations(
            (root / NE_CONFIGURATION_PLIST).read_bytes()
        )
    except (OSError, ValueError):
        configurations = None  # not root, or no NE configuration on this Mac
    return facts_from(extensions, configurations, services, monitored)


def _run_or_empty(run: Runner, argv: Sequence[str]) -> str:
    try:
        return run(argv)
    except OSError:
        return ""


# --- uptime and boot id --------------------------------------------------------------------------

_BOOTTIME: Final = re.compile(r"\bsec\s*=\s*(?P<sec>\d+)")


def parse_kern_boottime(text: str) -> int | None:
    """Boot time (Unix seconds) from ``sysctl kern.boottime``: ``{ sec = 1732521600, usec = 0 } …``."""
    found = _BOOTTIME.search(text)
    return int(found["sec"]) if found else None


def parse_proc_uptime(text: str) -> int | None:
    """Whole seconds since boot from Linux ``/proc/uptime`` (``"350735.47 234388.90"``)."""
    try:
        return int(float(text.split(maxsplit=1)[0]))
    except (IndexError, ValueError):
        return None


def parse_boot_id(text: str) -> str | None:
    """A boot id as printed (``kern.bootsessionuuid``, ``boot_id``), or None if it is not a UUID."""
    value = text.strip()
    try:
        uuid.UUID(value)
    except ValueError:
        return None
    return value


def read_uptime_s(
    platform: str, root: Path = Path("/"), run: Runner = run_command, clock: Clock = time.time
) -> int | None:
    """Seconds since boot: macOS from ``kern.boottime`` and the clock, Linux from ``/proc/uptime``."""
    if platform == "darwin":
        boot = parse_kern_boottime(_run_or_empty(run, ["/usr/sbin/sysctl", "-n", "kern.boottime"]))
        return None if boot is None else max(0, int(clock()) - boot)
    try:
        return parse_proc_uptime((root / "proc/uptime").read_text(encoding="ascii"))
    except OSError:
        return None


def read_boot_id(platform: str, root: Path = Path("/"), run: Runner = run_command) -> str | None:
    """The current boot's id: macOS ``kern.bootsessionuuid``, Linux ``/proc/sys/kernel/random/boot_id``."""
    if platform == "darwin":
        return parse_boot_id(_run_or_empty(run, ["/usr/sbin/sysctl", "-n", "kern.bootsessionuuid"]))
    try:
        return parse_boot_id((root / "proc/sys/kernel/random/boot_id").read_text(encoding="ascii"))
    except OSError:
        return None
