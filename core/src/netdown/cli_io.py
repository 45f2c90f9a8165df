"""What netdown's filter commands share: input, output, exit codes, summaries and capped line reading.

``netdown-stream replay`` and ``netdown-agent parse-log`` are filters with one contract: read
``--input`` (``-`` for stdin), write records to stdout, a summary to stderr, and exit 0 whenever
the input could be read, 2 when it cannot, 1 when the output cannot be written (stdout closed by
``| head``, a full disk, an unwritable ``--summary-json``). Keeping that contract here means the two
commands cannot drift apart on it.

:func:`capped_lines` is the one bounded line reader the commands and the agent's sources build on:
a line over the cap is skipped in bounded reads, never held whole, so a file without newlines
costs memory in proportion to the cap, not to the file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, BinaryIO, Final, NoReturn

import msgspec

__all__ = [
    "EXIT_INPUT_UNREADABLE",
    "EXIT_OK",
    "EXIT_OUTPUT_FAILED",
    "SKIP_CHUNK",
    "STDIN",
    "Output",
    "OutputClosed",
    "breakdown",
    "capped_lines",
    "input_name",
    "open_input",
    "os_reason",
    "report_summary",
]

EXIT_OK: Final = 0
EXIT_OUTPUT_FAILED: Final = 1
EXIT_INPUT_UNREADABLE: Final = 2
STDIN: Final = "-"
# The read size for skipping the rest of an overlong line: large enough to be few reads, small enough to be cheap.
SKIP_CHUNK: Final = 1 << 20


def input_name(arg: str) -> str:
    """How messages and summaries name ``--input``: ``stdin`` for ``-``, else the path as given."""
    return "stdin" if arg == STDIN else arg


def open_input(arg: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """``--input`` as a binary stream to use in ``with``: a file is closed after it, stdin (the process's) is not."""
    if arg != STDIN:
        return open(arg, "rb")
    if sys.stdin is None:  # started with stdin closed
        raise OSError(0, "stdin is closed")
    return contextlib.nullcontext(sys.stdin.buffer)


def os_reason(exc: OSError) -> str:
    """The OS's words for an error (``No such file or directory``), so a message is one line, not a repr."""
    return exc.strerror or str(exc)


def breakdown(counts: Mapping[str, int], *, nonzero: bool = False) -> str:
    """``a 3, b 0`` (or only the nonzero ones): a summary row's detail, in the mapping's order."""
    return ", ".join(f"{key} {count:,}" for key, count in counts.items() if count or not nonzero)


def report_summary(prog: str, text: str, summary: msgspec.Struct, json_path: Path | None) -> int:
    """Print ``text`` to stderr and write ``summary`` as JSON to ``json_path`` if given; the exit code.

    Called once the records are out, so an unwritable ``--summary-json`` fails the command (1)
    without hiding the summary on stderr.
    """
    print(text, file=sys.stderr)
    if json_path is not None:
        try:
            json_path.write_bytes(msgspec.json.format(msgspec.json.encode(summary)) + b"\n")
        except OSError as exc:
            print(f"{prog}: cannot write {json_path}: {os_reason(exc)}", file=sys.stderr)
            return EXIT_OUTPUT_FAILED
    return EXIT_OK


class OutputClosed(Exception):
    """stdout went away (``| head``) or failed; the message is printed: exit with ``EXIT_OUTPUT_FAILED``.

    Not an ``OSError``, so that a command can tell a failure to write from a failure to read.
    """


class Output:
    """A command's stdout: an OS error writing it raises :class:`OutputClosed` after one line on stderr.

    ``closed`` is that line when the reader went away (broken pipe), ``failed`` its start for any
    other error (the OS's reason follows): the words are the command's, the handling is shared.
    """

    def __init__(self, sink: IO[bytes], *, closed: str, failed: str) -> None:
        self.sink = sink
        self.closed = closed
        self.failed = failed

    def write(self, data: bytes) -> None:
        """Write ``data``, or raise :class:`OutputClosed`."""
        try:
            self.sink.write(data)
        except OSError as exc:
            self._fail(exc)

    def flush(self) -> None:
        """Flush what is buffered, or raise :class:`OutputClosed`."""
        try:
            self.sink.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> NoReturn:
        """Say why the output failed, once, and stop the command."""
        if isinstance(exc, BrokenPipeError):
            # Python's documented remedy (library/signal, "Note on SIGPIPE"): point the descriptor at devnull
            # so that the interpreter's final flush of what is still buffered stays quiet.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.sink.fileno())
            os.close(devnull)
            print(self.closed, file=sys.stderr)
        else:
            print(f"{self.failed}: {os_reason(exc)}", file=sys.stderr)
        raise OutputClosed from None


def capped_lines(readline: Callable[[int], bytes], limit: int, skip_chunk: int = SKIP_CHUNK) -> Iterator[bytes | int]:
    """Each line from ``readline``, at most ``limit`` bytes each; a longer line is skipped and yields its size.

    A read of exactly ``limit`` bytes without a newline starts an overlong line: its rest is read in
    ``skip_chunk`` pieces up to its newline or the end of input and dropped, and its size in bytes,
    not counting the newline, is yielded instead. Lines keep their ending; a last line without one
    (the end of input, or a writer still busy) is yielded as read, so the caller decides what an
    unterminated line means. A caller can tell a skipped line that reached its newline from one cut
    off by the end of input: only the first consumed one byte more than its size.
    """
    while line := readline(limit):
        if len(line) < limit or line[-1:] == b"\n":
            yield line
        else:
            yield _skip_rest(readline, len(line), skip_chunk)


def _skip_rest(readline: Callable[[int], bytes], size: int, skip_chunk: int) -> int:
    """Read past the rest of a line of which ``size`` bytes are read; its whole size without the newline."""
    while chunk := readline(skip_chunk):
        if chunk[-1:] == b"\n":
            return size + len(chunk) - 1
        size += len(chunk)
    return size
