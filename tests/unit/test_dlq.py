"""A dead letter says why and where from, keeps the original as far as its bounds allow, and says what it cut."""

from __future__ import annotations

import hashlib

from netdown import wire
from netdown.stream.dlq import (
    CLOCK_SKEW,
    INTERNAL_ERROR,
    KEY_MISMATCH,
    MAX_FORWARDED_HEADER_BYTES,
    MAX_FORWARDED_KEY_BYTES,
    MAX_FORWARDED_VALUE_BYTES,
    REJECT_REASONS,
    Rejected,
    dead_letter,
)


def test_dead_letter_headers_carry_the_verdict_the_source_position_and_the_original_headers() -> None:
    rejected = Rejected("invalid_field", "Expected `int`, got `str` - at `$.seq`", "seq")
    letter = dead_letter(
        rejected,
        key=b"mac-0001",
        value=b"{}",
        topic="netdown.events.v1",
        partition=2,
        offset=1234,
        original=[("trace", b"abc")],
    )
    assert (letter.key, letter.value) == (b"mac-0001", b"{}")
    assert letter.headers == [
        ("dlq.reason", b"invalid_field"),
        ("dlq.detail", b"Expected `int`, got `str` - at `$.seq`"),
        ("dlq.field", b"seq"),
        ("dlq.source.topic", b"netdown.events.v1"),
        ("dlq.source.partition", b"2"),
        ("dlq.source.offset", b"1234"),
        ("trace", b"abc"),
    ]


def test_a_rejection_without_a_field_has_no_field_header_and_a_bounded_detail() -> None:
    letter = dead_letter(Rejected(INTERNAL_ERROR, "x" * 10_000), key=None, value=None, topic="t", partition=0, offset=0)
    headers = dict(letter.headers)
    assert "dlq.field" not in headers
    assert len(headers["dlq.detail"]) == 1024


def test_a_message_larger_than_any_event_is_cut_with_its_size_and_digest_and_so_are_its_key_and_headers() -> None:
    value = b"\x00" * (5 << 20)  # 5 MiB of one byte: a few KiB compressed, so the broker took it
    key = b"k" * 5000
    original = [(f"h{i}", b"v" * 1000) for i in range(40)]
    letter = dead_letter(
        Rejected("too_large", "big"), key=key, value=value, topic="t", partition=1, offset=7, original=original
    )
    assert letter.value == value[:MAX_FORWARDED_VALUE_BYTES]
    assert letter.key == key[:MAX_FORWARDED_KEY_BYTES]
    headers = dict(letter.headers)
    assert headers["dlq.original.value_bytes"] == str(5 << 20).encode()
    assert headers["dlq.original.value_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers["dlq.original.key_bytes"] == b"5000"
    kept = [name for name, _ in letter.headers if name.startswith("h")]
    assert kept == [f"h{i}" for i in range(len(kept))], "the first headers are kept, in order"
    assert sum(len(name) + 1000 for name in kept) <= MAX_FORWARDED_HEADER_BYTES
    assert headers["dlq.original.headers_dropped"] == str(40 - len(kept)).encode()
    size = len(letter.value or b"") + len(letter.key or b"") + sum(len(n) + len(v) for n, v in letter.headers)
    assert size < 128 * 1024, "far below the producer's 1 MB request limit, whatever the message"


def test_a_message_within_the_bounds_is_forwarded_unchanged() -> None:
    value = b"x" * MAX_FORWARDED_VALUE_BYTES
    letter = dead_letter(Rejected("malformed_json", "bad"), key=b"k", value=value, topic="t", partition=0, offset=0)
    assert letter.value is value
    assert not [name for name, _ in letter.headers if name.startswith("dlq.original")]


def test_every_wire_rejection_reason_is_a_dead_letter_reason() -> None:
    assert {reason.value for reason in wire.RejectReason} | {KEY_MISMATCH, CLOCK_SKEW, INTERNAL_ERROR} == set(
        REJECT_REASONS
    )
    rejection = wire.decode(b"[1]")
    assert isinstance(rejection, wire.Rejection)
    assert Rejected.from_wire(rejection) == Rejected("not_an_object", rejection.detail, None)
