"""No secret reaches log output, at any level, whichever logger writes it (kafka-python's included)."""

from __future__ import annotations

import io
import logging
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.protocol.metadata.api_versions import ApiVersionsResponse
from kafka.protocol.sasl import SaslAuthenticateResponse, SaslHandshakeResponse

from netdown.agent.run import LOG_FORMAT
from netdown.log_redaction import KAFKA_WIRE_LOGGERS, REDACTED, SecretRedactor, install_redaction

SECRET = "pw-7Hq2-unique-d41d8c"
log = logging.getLogger("netdown.test.redaction")


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """What the agent's log would show: a root handler formatted as ``run`` formats, the root at DEBUG.

    Undone afterwards (the handler, the root's level, the redactors ``install_redaction`` adds to
    every root handler, the wire loggers' levels), so no other test runs with them.
    """
    root = logging.getLogger()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    wire_levels = {name: logging.getLogger(name).level for name in KAFKA_WIRE_LOGGERS}
    root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in KAFKA_WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(root_level)
    for each in root.handlers:
        for redactor in [f for f in each.filters if isinstance(f, SecretRedactor)]:
            each.removeFilter(redactor)
    for name, level in wire_levels.items():
        logging.getLogger(name).setLevel(level)


def test_a_secret_in_the_message_is_hidden(output: io.StringIO) -> None:
    install_redaction([SECRET])
    log.debug(f"connecting with {SECRET}")
    assert SECRET not in output.getvalue()
    assert f"connecting with {REDACTED}" in output.getvalue()


def test_a_secret_in_the_arguments_is_hidden_however_it_is_formatted(output: io.StringIO) -> None:
    install_redaction([SECRET])
    log.debug("password %s, as bytes %r, in a dict %r", SECRET, SECRET.encode(), {"password": SECRET})
    assert SECRET not in output.getvalue()
    assert f"password {REDACTED}, as bytes b'{REDACTED}', in a dict {{'password': '{REDACTED}'}}" in output.getvalue()


def test_a_secret_in_an_exceptions_traceback_is_hidden(output: io.StringIO) -> None:
    install_redaction([SECRET])

    def authenticate(password: str) -> None:
        raise PermissionError(f"broker refused {password}")

    try:
        authenticate(SECRET)
    except PermissionError:
        log.debug("authentication failed", exc_info=True)
    shown = output.getvalue()
    assert SECRET not in shown
    assert "Traceback (most recent call last)" in shown
    assert f"PermissionError: broker refused {REDACTED}" in shown


def test_the_record_itself_keeps_no_secret_for_a_later_handler() -> None:
    redactor = SecretRedactor([SECRET, b"fleet-key"])
    try:
        raise ValueError(SECRET)
    except ValueError:
        args = (SECRET, b"fleet-key")
        record = logging.LogRecord("kafka.x", logging.DEBUG, __file__, 1, "%s and %r", args, sys.exc_info())
    assert redactor.filter(record) is True
    assert record.getMessage() == f"{REDACTED} and b'{REDACTED}'"
    assert record.args == ()
    assert record.exc_info is None  # the live exception still holds the secret in its args
    assert record.exc_text is not None
    assert SECRET not in record.exc_text
    assert f"ValueError: {REDACTED}" in record.exc_text


@pytest.mark.parametrize("secret", ["it's\\mine", "both ' and \"", "pässwört", b"\x00\xffbinary"])
def test_a_secret_escaped_by_repr_is_hidden_too(secret: str | bytes) -> None:
    """``%r`` escapes backslashes, quotes and non-ASCII; each escaped form is hidden like the plain one."""
    redactor = SecretRedactor([secret])
    data = secret.encode() if isinstance(secret, str) else secret
    shown = [repr(data), repr(data + b"'"), repr(data + b"'\""), repr(bytearray(b"\x00frame" + data))]
    if isinstance(secret, str):
        shown += [secret, repr(secret), repr([secret, "x'y"]), repr((secret, "x'\"y"))]
    hidden = [repr(data)[2:-1], *([secret] if isinstance(secret, str) else [])]
    for text in shown:
        assert REDACTED in redactor.redact(text), text
        assert not [form for form in hidden if form in redactor.redact(text)], text


def test_no_secret_means_no_change() -> None:
    assert SecretRedactor(["", b""]).redact("every character stays") == "every character stays"


def test_a_message_that_cannot_be_formatted_drops_its_arguments_rather_than_print_them() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "count %d", (SECRET,), None)
    SecretRedactor([SECRET]).filter(record)
    assert record.getMessage() == "count %d (log arguments dropped: they do not fit the format)"


def test_a_kafka_producer_at_debug_with_sasl_never_logs_the_password(output: io.StringIO) -> None:
    """The agent's own setting, SCRAM, against a broker that is not there: the redactor on, as ``run`` puts it."""
    install_redaction([SECRET])
    producer = KafkaProducer(
        bootstrap_servers="127.0.0.1:1",  # nothing listens
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="netdown-agent",
        sasl_plain_password=SECRET,
        api_version=(2, 5, 0),  # no version probe: the constructor returns at once
        max_block_ms=200,
        request_timeout_ms=300,
    )
    producer.close(timeout=1)
    shown = output.getvalue()
    # Any of kafka-python's loggers (an earlier test's logging setup may have disabled some of them).
    assert " DEBUG kafka." in shown, "kafka-python's debug records reached the handler"
    assert SECRET not in shown


class _SaslBroker:
    """Just enough of a Kafka broker for a client to reach SASL authentication, then be refused.

    Answers ApiVersions and SaslHandshake (PLAIN) on one connection and sets ``authenticating``
    when the client's SaslAuthenticate arrives: by then the client has logged that request.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.authenticating = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop listening; the serving thread ends with its connection."""
        self.listener.close()
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
            with connection, connection.makefile("rb") as stream:
                while (size := stream.read(4)) and len(size) == 4:
                    frame = stream.read(struct.unpack(">i", size)[0])
                    api_key, version, correlation_id = struct.unpack(">hhi", frame[:8])
                    response = self._response(api_key, version)
                    response.with_header(correlation_id=correlation_id)
                    connection.sendall(response.encode(header=True, framed=True))
        except OSError:  # the client hung up, or close() closed the listener first
            return

    def _response(self, api_key: int, version: int) -> Any:  # kafka-python's message classes are untyped
        if api_key == 18:  # ApiVersions: the three APIs authentication needs, and those a producer checks
            keys = {18: 3, 17: 1, 36: 2, 3: 9, 0: 8, 22: 3}
            return ApiVersionsResponse[version](
                error_code=0,
                throttle_time_ms=0,
                api_keys=[
                    ApiVersionsResponse.ApiVersion(api_key=k, min_version=0, max_version=v) for k, v in keys.items()
                ],
            )
        if api_key == 17:
            return SaslHandshakeResponse[version](error_code=0, mechanisms=["PLAIN"])
        self.authenticating.set()
        # 58: SASL_AUTHENTICATION_FAILED
        return SaslAuthenticateResponse[version](
            error_code=58, error_message="no", auth_bytes=b"", session_lifetime_ms=0
        )


def _plain_login_log(output: io.StringIO) -> str:
    """What kafka-python logs at DEBUG while it sends a SASL PLAIN password to a broker."""
    broker = _SaslBroker()
    producer = KafkaProducer(
        bootstrap_servers=broker.address,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username="netdown-agent",
        sasl_plain_password=SECRET,
        api_version=(2, 5, 0),
        max_block_ms=200,
        request_timeout_ms=1000,
    )
    try:
        assert broker.authenticating.wait(10), "the client never sent its credentials"
    finally:
        producer.close(timeout=0.2)
        broker.close()
    return output.getvalue()


def test_without_the_redactor_kafka_python_logs_the_plain_password_in_its_requests(output: io.StringIO) -> None:
    """Why the redactor exists: the password is in three DEBUG records of kafka-python 3.0."""
    leaking = [line for line in _plain_login_log(output).splitlines() if SECRET in line]
    assert {line.split(": ")[0].split()[-1] for line in leaking} == {"kafka.net.connection", "kafka.protocol.parser"}
    assert any("SaslAuthenticateRequest" in line for line in leaking)


def test_with_the_redactor_installed_the_plain_password_is_never_logged(output: io.StringIO) -> None:
    install_redaction([SECRET])
    assert SECRET not in _plain_login_log(output)


def test_the_redactor_alone_hides_it_even_with_the_wire_loggers_at_debug(output: io.StringIO) -> None:
    """The loggers' cap is the second line of defence; the redactor is the guarantee."""
    install_redaction([SECRET])
    for name in KAFKA_WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    shown = _plain_login_log(output)
    assert SECRET not in shown
    assert f"auth_bytes=b'netdown-agent\\x00netdown-agent\\x00{REDACTED}'" in shown
