"""The unified_log source's health, read from the tallies its parser keeps anyway.

The parser counts what it made of every line (``LineTally``, ``ParseTally``) for ``parse-log``'s
summary; the running source turns the growth of those counts into its health, so the parser
itself knows nothing of health:

- a parsing error per line in no known layout, too long to read or cut off, and per message that
  looked like a connection or path report of the app but could not be read (``unreadable``);
- a success when a line was understood: ``log``'s own header (the first thing a started stream
  prints, so a quiet but working stream is running again at once) or a record's message read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from netdown.agent.source_health import SourceStats
from netdown.agent.unified_log_layouts import LineTally
from netdown.agent.unified_log_messages import MessageKind

__all__ = ["TallyCredit"]


class TallyCredit:
    """Credits one source's health with what its tallies gained since the last credit."""

    def __init__(self, health: SourceStats, line_tally: LineTally, messages: Counter[str]) -> None:
        self.health = health
        self.line_tally = line_tally
        self.messages = messages  # ParseTally.messages: records by MessageKind
        self._failed, self._understood = self._counts()

    def _counts(self) -> tuple[int, int]:
        """Lines or messages misread, and lines or messages understood, so far."""
        lines, unreadable = self.line_tally, self.messages[MessageKind.UNREADABLE]
        failed = lines.unknown + lines.too_long + lines.truncated + unreadable
        understood = lines.furniture + sum(self.messages.values()) - unreadable
        return failed, understood

    def credit(self) -> None:
        """Count the new misreadings as parsing errors; anything newly understood is a success."""
        failed, understood = self._counts()
        if failed > self._failed:
            self.health.failed("parsing", failed - self._failed)
        if understood > self._understood:
            self.health.succeeded()
        self._failed, self._understood = failed, understood

    def crediting(self, lines: Iterable[str | None]) -> Iterator[str | None]:
        """The lines as they come, with a credit each time the parser asks for the next one.

        The parser asks for a line only once it has done with the one before (but for a record that
        may continue on the next line), so the credit is taken before the stream waits for more: a
        stream that printed its header and then stays quiet is already running again.
        """
        for line in lines:
            yield line
            self.credit()
