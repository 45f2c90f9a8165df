"""A dead letter says why and where from, and keeps the original headers."""

from __future__ import annotations

from netdown import wire
from netdown.stream.dlq import INTERNAL_ERROR, KEY_MISMATCH, REJECT_REASONS, Rejected, dlq_headers


def test_dead_letter_headers_carry_the_verdict_the_source_position_and_the_original_headers() -> None:
    rejected = Rejected("invalid_field", "Expected `int`, got `str` - at `$.seq`", "seq")
    headers = dlq_headers(rejected, topic="netdown.events.v1", partition=2, offset=1234, original=[("trace", b"abc")])
    assert headers == [
        ("dlq.reason", b"invalid_field"),
        ("dlq.detail", b"Expected `int`, got `str` - at `$.seq`"),
        ("dlq.field", b"seq"),
        ("dlq.source.topic", b"netdown.events.v1"),
        ("dlq.source.partition", b"2"),
        ("dlq.source.offset", b"1234"),
        ("trace", b"abc"),
    ]


def test_a_rejection_without_a_field_has_no_field_header_and_a_bounded_detail() -> None:
    headers = dict(dlq_headers(Rejected(INTERNAL_ERROR, "x" * 10_000), topic="t", partition=0, offset=0))
    assert "dlq.field" not in headers
    assert len(headers["dlq.detail"]) == 1024


def test_every_wire_rejection_reason_is_a_dead_letter_reason() -> None:
    assert {reason.value for reason in wire.RejectReason} | {KEY_MISMATCH, INTERNAL_ERROR} == set(REJECT_REASONS)
    rejection = wire.decode(b"[1]")
    assert isinstance(rejection, wire.Rejection)
    assert Rejected.from_wire(rejection) == Rejected("not_an_object", rejection.detail, None)
