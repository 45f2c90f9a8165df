"""Where an app's own log line announces its connection's state, in whatever words the app chose.

Network.framework logs its connections in fixed formats; an app logs the state its
``stateUpdateHandler`` (Swift ``NWConnection.State``) or ``nw_connection_set_state_changed_handler``
(C ``nw_connection_state_t``) was given in its developer's own sentence. No list of sentences can
cover those, so this reads a grammar instead:

    announcement := marker link* [from-state arrow] state [error]
    marker       := "state" as a word or the tail of a camelCase name (newState, stateUpdateHandler)
                    | an arrow "->", "→", "=>" | the C prefix nw_connection_state_
    link         := ":" | "=" | an arrow | a short "[tag]" | a linking verb or preposition
                    (changed, did change, is, now, became, moved, entered, updated, set, to, into, in …)
    from-state   := state, then an arrow or "to" ("from ready to failed", "preparing -> ready")
    state        := setup | preparing | waiting | ready | failed | cancelled | canceled | invalid,
                    in any case, optionally qualified: ".failed", "NWConnection.State.failed",
                    "nw_connection_state_failed"
    error        := "(" … ")" right after the state (Swift prints ``waiting(<NWError>)``), or text
                    after "error", "with", "because", "due to", ":" or " - "

A state word directly followed by ``(`` at the start of the message or right after "connection"
(``waiting(POSIX(.ENETDOWN))``, ``tunnel connection failed(…)``) is an announcement too: that is how
Swift interpolates the enum. An announcement whose subject is a browser or a listener (their states
share the words) is not a connection's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["Announcement", "closing_paren", "find_announcement"]


@dataclass(frozen=True)
class Announcement:
    """A state an app's line announces, and the text it gives as the error (None when it gives none)."""

    state: str  # lower case, as logged: setup, preparing, waiting, ready, failed, cancelled (canceled), invalid
    error: str | None
    of_connection: bool  # False when the line's subject is an NWBrowser or NWListener
    complete: bool  # False when the error's parenthesis never closes within the bound


_STATES: Final = r"setup|preparing|waiting|ready|failed|cancell?ed|invalid"
# An optional qualifier before the state word: Swift's `.failed`, `NWConnection.State.failed`, C's prefix.
_QUALIFIED: Final = r"(?:nw_connection_state_|(?:Network\.)?NWConnection\.State\.|\.)?"
# `state` as a word or as the tail of a camelCase name, never inside `statement` or `estate`.
_MARKER: Final = r"(?:(?<![A-Za-z])[Ss]tate|(?<=[a-z])State)(?:[A-Z][A-Za-z]{0,24})?(?![a-z])"
_ARROW: Final = r"(?:->|\u2192|=>)"
# What may stand between the marker and the state: separators and linking words, a few of them.
_LINK: Final = (
    r"(?:[:=]|" + _ARROW + r"|\[[^\[\]\s]{1,24}\]|(?i:changed|changes|change|did|has|have|had|is|was|now|became"
    r"|becomes|moved|went|transitioned|updated|update|set|entered|entering|reached|to|into|in|of|the|new|current)\b)"
)
# The state a transition left ("from ready to", "preparing ->"): skipped, the announced state is the next one.
_FROM: Final = r"(?:(?:from\s+)?" + _QUALIFIED + r"(?i:" + _STATES + r")\s*(?:" + _ARROW + r"|to\b)\s*)?"
_STATE: Final = _QUALIFIED + r"(?P<state>(?i:" + _STATES + r"))(?![A-Za-z_])"
_AFTER_MARKER: Final = re.compile(_MARKER + r"(?:\s*" + _LINK + r"){0,6}\s*" + _FROM + _STATE)
_C_CONSTANT: Final = re.compile(r"nw_connection_state_(?P<state>" + _STATES + r")\b")
_AFTER_ARROW: Final = re.compile(_ARROW + r"\s*" + _STATE)
# Swift's interpolated enum: `waiting(<error>)` opening the message or following "connection".
_INTERPOLATED: Final = re.compile(
    r"(?:^\s*|(?i:\bconn(?:ection)?)\W{0,3})" + _QUALIFIED + r"(?P<state>(?i:waiting|failed))(?=\()"
)
# The words introducing an error after the state: `with error: …`, `error …`, `because of …`, `: …`, ` - …`.
_ERROR_INTRO: Final = re.compile(
    r"\s*[,;]?\s*(?:(?:with\s+)?(?:an?\s+)?(?:error|err|reason)\b\s*[:=]?|with\b|because(?:\s+of)?\b|due\s+to\b"
    r"|:|\s-\s)\s*(?P<error>\S.{0,1023})"
)
# Error texts that say there is none: C's `(null)`, Swift's `nil`.
_NO_ERROR: Final = re.compile(r"(?i)\(?(?:null|nil|none|no error)\)?[\s.,;)\]\"']*")
# The nouns a state sentence may be about; the last one before the state is its subject.
_SUBJECT: Final = re.compile(r"(?i)(connection|browser|listener)")
_PARENS: Final = re.compile(r"[()]")


def find_announcement(message: str) -> Announcement | None:
    """The connection state ``message`` announces in an app's wording, with its error text; None if none."""
    match = (
        _C_CONSTANT.search(message)
        or _AFTER_MARKER.search(message)
        or _AFTER_ARROW.search(message)
        or _INTERPOLATED.search(message)
    )
    if match is None:
        return None
    state = match["state"].lower()
    subjects = _SUBJECT.findall(message, 0, match.start())
    of_connection = not subjects or subjects[-1].lower() == "connection"
    end = match.end()
    opening = end + 1 if message.startswith(" (", end) else end
    if message.startswith("(", opening):
        close = closing_paren(message, opening)
        if close is None:
            return Announcement(state, None, of_connection, complete=False)
        return Announcement(state, _error_text(message[opening + 1 : close]), of_connection, complete=True)
    intro = _ERROR_INTRO.match(message, end)
    return Announcement(state, _error_text(intro["error"]) if intro else None, of_connection, complete=True)


def _error_text(text: str) -> str | None:
    """The error text, or None when it is empty or says there is no error (``(null)``, ``nil``)."""
    text = text.strip()
    return None if not text or _NO_ERROR.fullmatch(text) else text


def closing_paren(text: str, start: int, limit: int = 2048) -> int | None:
    """Index of the ``)`` that closes the ``(`` at ``start``, looking at most ``limit`` characters ahead."""
    depth = 0
    for paren in _PARENS.finditer(text, start, min(len(text), start + limit)):
        depth += 1 if paren.group() == "(" else -1
        if depth == 0:
            return paren.start()
    return None
