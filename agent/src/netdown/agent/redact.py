"""Keyed hashing of the endpoints a log line names, so no raw hostname, URL or address leaves the Mac.

Apple's unified log hashes private data itself (``Hostname#8c901c3c:443``, ``IPv4#c9080d21:9123``),
but a Mac with private-data logging enabled, an Xcode console or a pre-2016 log prints the raw name
(``localhost:8097``, ``2607:f8b0:4020:802::200e.443``, ``wss://my-wss-server``). Every such endpoint
is replaced by a keyed hash of the same shape as Apple's (``Hostname#xxxxxxxx:port``), so the wire
contract's rule "never a raw hostname or URL" holds whatever the log showed. Raw IP addresses are
hashed too (``IPv4#…``/``IPv6#…``, as Apple does): the address a connection dials says as much about
the user as its hostname. Endpoints Apple already hashed or redacted (``<private>``) pass unchanged.

The hash is HMAC-SHA256 over the lower-cased name with a caller-supplied key, cut to 8 hex digits
like Apple's. Without a secret key a hash can be confirmed by anyone who guesses the name; a secret
key per device (or per run) makes hashes unlinkable outside that scope.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

__all__ = ["ALREADY_HASHED", "hash_host", "hash_name", "redact_endpoint"]

# An endpoint Apple (or we) already hashed: `Hostname#8c901c3c:443`, `IPv6#5f2e7c8a.443`, `IPv4#c9080d21:9123@en8`.
ALREADY_HASHED: Final = re.compile(
    r"(?:Hostname|IPv4|IPv6|Address|URL|Bonjour)#[0-9a-fA-F]{8}(?:[:.]\d{1,5})?(?:@[\w.-]{1,32})?"
)
# Already redacted by the log itself: `<private>`, `<private>:443`, `<mask.hash: '…'>`, `<NULL>`.
_REDACTED: Final = re.compile(r"<[^<>]{0,200}>(?:[:.]\d{1,5})?(?:@[\w.-]{1,32})?")
_SCOPE: Final = r"(?P<scope>@[\w.-]{1,32})?"
_IPV4: Final = re.compile(r"(?P<addr>\d{1,3}(?:\.\d{1,3}){3})(?:(?P<sep>:)(?P<port>\d{1,5}))?" + _SCOPE)
# libnetwork writes an IPv6 endpoint's port after a dot (`2607:f8b0::200e.443`, `::1.8097`); `[::1]:443` elsewhere.
_IPV6: Final = re.compile(
    r"(?:\[(?P<baddr>[0-9A-Fa-f:.%\w]{2,64})\](?:(?P<bsep>:)(?P<bport>\d{1,5}))?"
    r"|(?P<addr>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?:(?P<sep>\.)(?P<port>\d{1,5}))?)" + _SCOPE
)
_URL: Final = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,15})://(?:[^@/\s]{0,256}@)?(?P<host>\[[^\]/\s]{1,64}\]|[^:/?#\s]{1,253})"
    r"(?::(?P<port>\d{1,5}))?(?:[/?#]\S*)?"
)
_HOST_PORT: Final = re.compile(r"(?P<host>[^\s:/@<>\[\]]{1,253})(?:(?P<sep>:)(?P<port>\d{1,5}))?" + _SCOPE)
_DEFAULT_PORTS: Final = {"https": "443", "wss": "443", "http": "80", "ws": "80"}


def hash_name(kind: str, name: str, key: bytes) -> str:
    """``<kind>#<8 hex>``: the keyed hash of ``name`` (case-insensitive, as DNS names are)."""
    digest = hmac.new(key, name.lower().encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{kind}#{digest[:8]}"


def hash_host(host: str, key: bytes) -> str:
    """``Hostname#<8 hex>`` for a DNS name; case and the root's trailing dot do not change it (probes use it)."""
    return hash_name("Hostname", host.rstrip(".") or host, key)


def redact_endpoint(endpoint: str, key: bytes) -> str:
    """The endpoint as logged when Apple already hashed or redacted it, else its keyed hash of the same shape.

    Never returns a raw hostname, URL or address: what no rule recognises is hashed whole as a hostname.
    """
    if ALREADY_HASHED.fullmatch(endpoint) or _REDACTED.fullmatch(endpoint):
        return endpoint
    kind, name, sep, port, scope = _parts(endpoint)
    return hash_name(kind, name, key) + (f"{sep}{port}" if sep and port else "") + (scope or "")


def _parts(endpoint: str) -> tuple[str, str, str | None, str | None, str | None]:
    """Kind of name, the name to hash, and the port separator, port and interface scope to keep as logged."""
    if match := _IPV4.fullmatch(endpoint):
        return "IPv4", match["addr"], match["sep"], match["port"], match["scope"]
    if match := _IPV6.fullmatch(endpoint):
        if match["baddr"] is not None:
            return "IPv6", match["baddr"], match["bsep"], match["bport"], match["scope"]
        return "IPv6", match["addr"], match["sep"], match["port"], match["scope"]
    if match := _URL.fullmatch(endpoint):
        port = match["port"] or _DEFAULT_PORTS.get(match["scheme"].lower())
        return "Hostname", match["host"].strip("[]"), ":" if port else None, port, None
    if match := _HOST_PORT.fullmatch(endpoint):
        return "Hostname", match["host"].rstrip(".") or match["host"], match["sep"], match["port"], match["scope"]
    return "Hostname", endpoint, None, None, None
