"""A failure that repeats is logged once, then summarised once per interval; a new kind is logged at once."""

from __future__ import annotations

import io
import logging

from netdown.log_repeats import MAX_KINDS, RepeatLimiter, install_repeat_limiter


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _logger(name: str) -> tuple[logging.Logger, io.StringIO, _Clock]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    clock = _Clock()
    handler.addFilter(RepeatLimiter(60.0, clock=clock))
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out, clock


def test_repeats_of_one_kind_are_held_back_then_summarised_with_their_count() -> None:
    logger, out, clock = _logger("test.repeats.summary")
    for attempt in range(100):
        clock.now = attempt * 0.5  # two a second, as a reconnect loop does
        logger.error("Unable connect to node with id %d: %s", attempt % 3, "refused")
    clock.now = 61.0
    logger.error("Unable connect to node with id %d: %s", 7, "refused")
    lines = out.getvalue().splitlines()
    assert lines == [
        "Unable connect to node with id 0: refused",
        "Unable connect to node with id 7: refused [and 99 more like it in the last 61 s]",
    ]


def test_a_new_kind_of_line_is_written_at_once_and_info_lines_are_never_held() -> None:
    logger, out, _ = _logger("test.repeats.kinds")
    logger.error("broker down")
    logger.error("broker down")
    logger.warning("commit failed")
    logger.info("recovered %d devices", 1)
    logger.info("recovered %d devices", 2)
    assert out.getvalue().splitlines() == ["broker down", "commit failed", "recovered 1 devices", "recovered 2 devices"]


def test_the_kinds_remembered_are_bounded() -> None:
    limiter = RepeatLimiter(60.0, clock=_Clock())
    for index in range(MAX_KINDS + 10):
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, f"kind {index}", (), None)
        assert limiter.filter(record)
    assert len(limiter._kinds) == MAX_KINDS


def test_installing_puts_one_limiter_on_every_handler_of_the_logger() -> None:
    logger = logging.getLogger("test.repeats.install")
    logger.handlers = [logging.StreamHandler(io.StringIO()), logging.StreamHandler(io.StringIO())]
    limiter = install_repeat_limiter(logger)
    assert all(limiter in handler.filters for handler in logger.handlers)
