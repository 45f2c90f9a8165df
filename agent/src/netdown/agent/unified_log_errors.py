"""What error an Apple log line states, in every spelling Swift, Objective-C, libnetwork and CFNetwork print.

Its own module because the spellings are many and grow with every Swift and SDK release, while the
grammar of connection and path lines (:mod:`netdown.agent.unified_log_messages`) does not. Every
spelling maps to the wire contract's ``ErrorInfo``: POSIX errors by darwin's ``<sys/errno.h>``
codes, DNS-SD errors by ``dns_sd.h``. A number counts only where the line says which domain it is
in, so ``Code=50`` of ``NSURLErrorDomain`` or an HTTP 500 is never ENETDOWN.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from netdown import wire

__all__ = ["DNS_ERRORS", "POSIX_ERRORS", "find_error"]

# darwin <sys/errno.h>: canonical name -> (code, strerror text).
POSIX_ERRORS: Final[Mapping[str, tuple[int, str]]] = {
    "EPERM": (1, "Operation not permitted"),
    "ENOENT": (2, "No such file or directory"),
    "EINTR": (4, "Interrupted system call"),
    "EIO": (5, "Input/output error"),
    "ENXIO": (6, "Device not configured"),
    "EBADF": (9, "Bad file descriptor"),
    "ENOMEM": (12, "Cannot allocate memory"),
    "EACCES": (13, "Permission denied"),
    "EINVAL": (22, "Invalid argument"),
    "EPIPE": (32, "Broken pipe"),
    "EAGAIN": (35, "Resource temporarily unavailable"),
    "EINPROGRESS": (36, "Operation now in progress"),
    "EALREADY": (37, "Operation already in progress"),
    "ENOTSOCK": (38, "Socket operation on non-socket"),
    "EMSGSIZE": (40, "Message too long"),
    "ENOPROTOOPT": (42, "Protocol not available"),
    "EPROTONOSUPPORT": (43, "Protocol not supported"),
    "ENOTSUP": (45, "Operation not supported"),
    "EAFNOSUPPORT": (47, "Address family not supported by protocol family"),
    "EADDRINUSE": (48, "Address already in use"),
    "EADDRNOTAVAIL": (49, "Can't assign requested address"),
    "ENETDOWN": (50, "Network is down"),
    "ENETUNREACH": (51, "Network is unreachable"),
    "ENETRESET": (52, "Network dropped connection on reset"),
    "ECONNABORTED": (53, "Software caused connection abort"),
    "ECONNRESET": (54, "Connection reset by peer"),
    "ENOBUFS": (55, "No buffer space available"),
    "EISCONN": (56, "Socket is already connected"),
    "ENOTCONN": (57, "Socket is not connected"),
    "ESHUTDOWN": (58, "Can't send after socket shutdown"),
    "ETIMEDOUT": (60, "Operation timed out"),
    "ECONNREFUSED": (61, "Connection refused"),
    "EHOSTDOWN": (64, "Host is down"),
    "EHOSTUNREACH": (65, "No route to host"),
    "ECANCELED": (89, "Operation canceled"),
    "EBADMSG": (94, "Bad message"),
    "EPROTO": (100, "Protocol error"),
}
# dns_sd.h kDNSServiceErr_*: code -> name; a logged pair is recognised only when it matches this table.
DNS_ERRORS: Final[Mapping[int, str]] = {
    -65537: "Unknown",
    -65538: "NoSuchName",
    -65554: "NoSuchRecord",
    -65563: "ServiceNotRunning",
    -65568: "Timeout",
    -65569: "DefunctConnection",
    -65570: "PolicyDenied",
}
_POSIX_BY_CODE: Final = {code: name for name, (code, _) in POSIX_ERRORS.items()}
_DNS_BY_NAME: Final = {name: code for code, name in DNS_ERRORS.items()}


def find_error(text: str) -> wire.ErrorInfo | None:
    """The first error ``text`` states, as the contract's error object, in any spelling the field shows.

    POSIX (darwin codes): ``POSIXErrorCode(rawValue: 50)``, ``Error Domain=NSPOSIXErrorDomain Code=50``,
    ``NWError error 50``, ``[50: Network is down]``, CFNetwork's ``1:50`` and ``error 0:50 [50]``,
    ``_kCFStreamErrorCodeKey=50`` with ``_kCFStreamErrorDomainKey=1``, 2017's ``[1] Operation not permitted``,
    ``POSIX(.ENETDOWN)``/``posix(.ENETDOWN)``/bare ``ENETDOWN``, and the strerror text itself
    (``sendto: network is down``). DNS-SD: ``PolicyDenied(-65570)``, ``-65570: PolicyDenied``.
    """
    for spelling in _SPELLINGS:
        found = spelling(text)
        if found is not None:
            return found
    return None


def _posix(code: int) -> wire.ErrorInfo | None:
    name = _POSIX_BY_CODE.get(code)
    return None if name is None else wire.ErrorInfo(domain="posix", code=code, name=name)


def _coded(pattern: re.Pattern[str]) -> Callable[[str], wire.ErrorInfo | None]:
    """A spelling that carries the POSIX code in a ``code`` group: the first known code it shows."""

    def spelling(text: str) -> wire.ErrorInfo | None:
        for match in pattern.finditer(text):
            if (error := _posix(int(match["code"]))) is not None and _agrees(error, text, match.end()):
                return error
        return None

    return spelling


def _agrees(error: wire.ErrorInfo, text: str, end: int) -> bool:
    """False when the strerror text right after a code names another error (Linux's ``[Errno 100] Network is
    down``: 100 is not darwin's ENETDOWN), so the text, not the foreign number, decides."""
    gap = _TEXT_GAP.match(text, end)
    follows = _STRERROR.match(text, gap.end() if gap else end)
    return follows is None or _NAME_BY_TEXT[_normal_text(follows.group())] == error.name


def _cfstream(text: str) -> wire.ErrorInfo | None:
    """``_kCFStreamErrorCodeKey=50`` counts only with ``_kCFStreamErrorDomainKey=1`` (kCFStreamErrorDomainPOSIX)."""
    code = _CFSTREAM_CODE.search(text)
    domain = _CFSTREAM_DOMAIN.search(text)
    if code is None or domain is None or domain["domain"] != "1":
        return None
    return _posix(int(code["code"]))


def _bracket_text(text: str) -> wire.ErrorInfo | None:
    """2017's ``[1] Operation not permitted``: the number counts only when its strerror text follows it."""
    for match in _BRACKET_TEXT.finditer(text):
        error = _posix(int(match["code"]))
        if error is not None and text.startswith(POSIX_ERRORS[error.name][1], match.end()):
            return error
    return None


def _named(text: str) -> wire.ErrorInfo | None:
    """``POSIX(.ENETDOWN)``, ``posix(.ENETDOWN)``, ``read ENETDOWN``: a canonical name we know."""
    for match in _ERRNO_NAME.finditer(text):
        if (known := POSIX_ERRORS.get(match["name"])) is not None:
            return wire.ErrorInfo(domain="posix", code=known[0], name=match["name"])
    return None


def _strerror(text: str) -> wire.ErrorInfo | None:
    """The strerror text alone: ``sendto: network is down``, ``failed with error "Socket is not connected"``."""
    match = _STRERROR.search(text)
    if match is None:
        return None
    name = _NAME_BY_TEXT[_normal_text(match.group())]
    return wire.ErrorInfo(domain="posix", code=POSIX_ERRORS[name][0], name=name)


def _dns(text: str) -> wire.ErrorInfo | None:
    """A DNS-SD error whose name and code agree with dns_sd.h."""
    for pattern in (_DNS_CALL, _DNS_PAIR):
        for match in pattern.finditer(text):
            if DNS_ERRORS.get(int(match["code"])) == match["name"]:
                return wire.ErrorInfo(domain="dns", code=int(match["code"]), name=match["name"])
    for match in _DNS_CONSTANT.finditer(text):
        if (known := _DNS_BY_NAME.get(match["name"])) is not None:
            return wire.ErrorInfo(domain="dns", code=known, name=match["name"])
    return None


def _normal_text(text: str) -> str:
    return text.lower().replace("\u2019", "'")


# Between a code and its strerror text: `50 (Network is down)`, `50 - Network is down`, `[50: Network is down]`.
_TEXT_GAP: Final = re.compile(r"[\s\])\-:(\"'\u2013]{0,4}")
# A POSIX domain, then its code close by: `Error Domain=NSPOSIXErrorDomain Code=50`, `(NSPOSIXErrorDomain error
# 50 - …)`, `kNWErrorDomainPOSIX Code=50`, `domain: nw_error_domain_posix, code: 50`, `POSIX error 50`. The gap
# never crosses another `Domain`, so `NSURLErrorDomain Code=50` near a POSIX word is not ENETDOWN.
_POSIX_DOMAIN_CODE: Final = re.compile(
    r"(?:NSPOSIXErrorDomain|kNWErrorDomainPOSIX|kCFErrorDomainPOSIX|nw_error_domain_posix"
    r"|(?<![A-Za-z_])(?i:posix)(?![A-Za-z_(]))(?:\(1\))?"
    r"(?:[\s:=,]{0,3}|(?:(?!Domain)[^\d\n]){0,24}?(?<![A-Za-z])(?i:code|error|errno|err)\s*[=:#]?\s*)"
    r"(?P<code>\d{1,4})(?![\d:]|\.\d)"
)
# errno is POSIX by definition: `errno 50`, `errno=50`, `[Errno 50]`, `errno: 50`.
_ERRNO: Final = re.compile(r"(?<![A-Za-z_])(?i:errno)\s*[=:#]?\s*(?P<code>\d{1,4})(?![\d:]|\.\d)")
_CFSTREAM_CODE: Final = re.compile(r"_kCFStreamErrorCodeKey=(?P<code>\d{1,4})\b")
_CFSTREAM_DOMAIN: Final = re.compile(r"_kCFStreamErrorDomainKey=(?P<domain>-?\d{1,4})\b")
_BRACKET_TEXT: Final = re.compile(r"\[(?P<code>\d{1,4})\] ")
_ERRNO_NAME: Final = re.compile(r"(?<![A-Za-z0-9_])(?P<name>E[A-Z]{2,15})(?![A-Za-z0-9_])")
_NAME_BY_TEXT: Final = {_normal_text(text): name for name, (_, text) in POSIX_ERRORS.items()}
_STRERROR: Final = re.compile(
    r"(?<![A-Za-z])(?:"
    + "|".join(re.escape(text).replace("'", "['\u2019]") for text in sorted(_NAME_BY_TEXT, key=len, reverse=True))
    + r")(?![A-Za-z])",
    re.IGNORECASE,
)
_DNS_CALL: Final = re.compile(r"(?P<name>[A-Z][A-Za-z]{2,30})\((?P<code>-65\d{3})\)")
_DNS_PAIR: Final = re.compile(r"(?P<code>-65\d{3}): (?P<name>[A-Z][A-Za-z]{2,30})")
_DNS_CONSTANT: Final = re.compile(r"kDNSServiceErr_(?P<name>[A-Za-z]{2,30})")
# In the order they are tried: explicit codes first, names, then the bare text.
_SPELLINGS: Final[tuple[Callable[[str], wire.ErrorInfo | None], ...]] = (
    _coded(re.compile(r"POSIXErrorCode\(rawValue: ?(?P<code>\d{1,4})\)")),
    _coded(_POSIX_DOMAIN_CODE),
    _coded(_ERRNO),
    _coded(re.compile(r"NWError error (?P<code>\d{1,4})\b")),
    _coded(re.compile(r"\[(?P<code>\d{1,4}): [^\[\]]{1,80}\]")),
    _coded(re.compile(r"(?:^|(?<=[\s(\[]))1:(?P<code>\d{1,4})(?![\d:.])")),
    _coded(re.compile(r"(?:^|(?<=[\s(\[]))0:(?P<code>\d{1,4}) \[(?P=code)\]")),
    _cfstream,
    _bracket_text,
    _dns,
    _named,
    _strerror,
)
