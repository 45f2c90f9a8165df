"""Keep secrets out of log output: a filter that rewrites records, and its one installation.

Why a filter on the handlers and not only care at each log call: the calls that leak are not ours.
kafka-python 3.0 logs every request it sends at DEBUG, in ``kafka.net.connection`` (``Request %d: %s``)
and ``kafka.protocol.parser`` (``Sending request %d %s`` and the raw frame, ``Send: %r``). With SASL
PLAIN one of those requests is ``SaslAuthenticateRequest(auth_bytes=b'user\\x00user\\x00<password>')``,
so ``--log-level debug`` wrote the Kafka password to the agent's log three times per connection.

A filter added to a *logger* sees only records logged through that logger itself, not those of its
children, so one on the root logger would never see kafka-python's. A filter added to a *handler*
sees every record the handler is about to write, whichever logger made it: :func:`install_redaction`
adds one to each handler of the root logger.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["KAFKA_WIRE_LOGGERS", "REDACTED", "SecretRedactor", "install_redaction"]

REDACTED: Final = "***"
# kafka-python's loggers that dump whole requests and raw protocol frames at DEBUG (see the module docstring).
KAFKA_WIRE_LOGGERS: Final = ("kafka.net.connection", "kafka.protocol.parser")
# Renders a traceback exactly as every handler's default formatter would, before it is redacted.
_FORMATTER: Final = logging.Formatter()


class SecretRedactor(logging.Filter):
    """Replaces every secret in a record's message, arguments, traceback and stack text with ``***``.

    Each record is rewritten in place, then let through: the message is formatted once, redacted and
    stored as ``msg`` with no ``args`` (so no later formatter or handler can format the raw arguments
    again), and an exception is rendered to ``exc_text``, redacted, with ``exc_info`` cleared (so none
    renders the live exception, whose arguments may hold the secret).

    A secret is matched as written and as ``%r`` writes it inside a ``str`` or a ``bytes`` (escaped
    backslashes, quotes and non-ASCII), the forms a log call produces. Values derived from a secret
    (a hash, a SCRAM proof, base64 inside a SASL token, a frame split across two reads) cannot be
    matched by any filter; that is why :func:`install_redaction` also quiets the loggers that dump them.
    """

    def __init__(self, secrets: Iterable[str | bytes]) -> None:
        super().__init__()
        forms = {form for secret in secrets for form in _written_forms(secret)}
        # Longest first, so a secret that contains another is replaced whole. No secret, no pattern:
        # an empty alternation would match everywhere.
        alternatives = sorted(forms - {""}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def redact(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``***``."""
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record without its secrets; always let it through."""
        try:
            message = record.getMessage()
        except Exception:  # else logging's "--- Logging error ---" report prints the raw arguments
            message = f"{record.msg} (log arguments dropped: they do not fit the format)"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info:
            record.exc_text = record.exc_text or _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_redaction(
    secrets: Iterable[str | bytes], wire_loggers: Iterable[str] = KAFKA_WIRE_LOGGERS
) -> SecretRedactor:
    """Hide ``secrets`` from every handler of the root logger and quiet the client libraries' wire dumps.

    Both, because each covers what the other cannot. The redactor is the guarantee for every record
    any logger makes, at any level, now or in a future library version. But it matches only the
    forms it knows, and the wire loggers print raw protocol bytes, where a secret may be encoded in
    ways no text match anticipates; their output is for debugging kafka-python itself, not the agent.
    So they are capped at INFO (or the root's level, if higher) while ``--log-level debug`` keeps the
    rest of kafka-python's debug output (bootstrap, back-off, metadata), which holds no request.
    Call it after the root logger's handlers exist (after ``logging.basicConfig``): a handler added
    later has no redactor.
    """
    redactor = SecretRedactor(secrets)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.addFilter(redactor)
    floor = max(logging.INFO, root.getEffectiveLevel())
    for name in wire_loggers:
        logging.getLogger(name).setLevel(floor)
    return redactor


def _written_forms(secret: str | bytes) -> set[str]:
    """The secret as log text can show it: as is, and as ``%r`` writes it inside a larger str or bytes.

    ``repr`` escapes a single quote only when single quotes delimit, which depends on the whole
    string: ``\\'`` if it also holds a double quote, a plain ``'`` otherwise. Both forms are listed,
    each computed by ``repr`` itself on the secret followed by the quotes that force the choice.
    """
    data = secret.encode() if isinstance(secret, str) else secret
    forms = {repr(data + b"'\"")[2:-4]}
    if b'"' not in data:
        forms.add(repr(data + b"'")[2:-2])
    try:
        text = data.decode()
    except UnicodeDecodeError:  # a binary secret is written only as bytes
        return forms
    forms |= {text, repr(text + "'\"")[1:-4]}
    if '"' not in text:
        forms.add(repr(text + "'")[1:-2])
    return forms
