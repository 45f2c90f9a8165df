"""``netdown.cli_io``: the filter commands' shared input, output, exit codes, summaries and capped line reader."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
from pathlib import Path
from typing import IO

import msgspec
import pytest

from netdown import cli_io
from netdown.cli_io import (
    EXIT_INPUT_UNREADABLE,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    Output,
    OutputClosed,
    breakdown,
    capped_lines,
    input_name,
    open_input,
    os_reason,
    report_summary,
)


def _lines(data: bytes, limit: int, skip_chunk: int = cli_io.SKIP_CHUNK) -> list[bytes | int]:
    return list(capped_lines(io.BytesIO(data).readline, limit, skip_chunk))


def test_the_exit_codes_are_the_documented_ones() -> None:
    assert (EXIT_OK, EXIT_OUTPUT_FAILED, EXIT_INPUT_UNREADABLE) == (0, 1, 2)


def test_lines_keep_their_endings_and_an_unterminated_last_line_is_yielded_as_read() -> None:
    assert _lines(b"one\ntwo\r\n\nlast", limit=8) == [b"one\n", b"two\r\n", b"\n", b"last"]
    assert _lines(b"", limit=8) == []


def test_a_line_of_exactly_the_limit_is_a_line_only_if_the_limit_holds_its_newline() -> None:
    assert _lines(b"1234567\nnext\n", limit=8) == [b"1234567\n", b"next\n"]
    assert _lines(b"12345678\nnext\n", limit=8) == [8, b"next\n"]


def test_an_overlong_line_yields_its_size_without_the_newline_and_reading_goes_on() -> None:
    assert _lines(b"x" * 100 + b"\nafter\n", limit=8, skip_chunk=16) == [100, b"after\n"]
    assert _lines(b"x" * 100 + b"\r\nafter", limit=8, skip_chunk=16) == [101, b"after"]  # `\r` is line content


def test_an_overlong_line_is_skipped_in_bounded_reads() -> None:
    stream = io.BytesIO(b"x" * 5_000_000 + b"\nok\n" + b"y" * 3_000_000)
    asked: list[int] = []

    def readline(size: int) -> bytes:
        asked.append(size)
        return stream.readline(size)

    assert list(capped_lines(readline, 1024)) == [5_000_000, b"ok\n", 3_000_000]
    assert max(asked) == cli_io.SKIP_CHUNK


def test_a_skipped_line_cut_off_by_the_end_of_input_consumed_exactly_its_size() -> None:
    """The property a tailer uses to hold back a line its writer has not finished."""
    for data, complete in ((b"x" * 100 + b"\n", True), (b"x" * 100, False)):
        stream = io.BytesIO(data)
        size = next(capped_lines(stream.readline, 8, 16))
        assert size == 100
        assert (stream.tell() > size) is complete


def test_input_name_calls_a_dash_stdin() -> None:
    assert input_name("-") == "stdin"
    assert input_name("capture.ndjson") == "capture.ndjson"


def test_open_input_opens_a_file_and_closes_it(tmp_path: Path) -> None:
    path = tmp_path / "capture.log"
    path.write_bytes(b"line\n")

    with open_input(str(path)) as stream:
        assert stream.read() == b"line\n"

    assert stream.closed


def test_open_input_borrows_stdin_without_closing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"from stdin\n"))
    monkeypatch.setattr(sys, "stdin", stdin)

    with open_input("-") as stream:
        assert stream.read() == b"from stdin\n"

    assert not stdin.closed


def test_open_input_without_a_stdin_or_a_file_raises_oserror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(OSError, match="stdin is closed"):
        open_input("-")
    with pytest.raises(FileNotFoundError):
        open_input(str(tmp_path / "missing.log"))


def test_os_reason_is_the_os_words_else_the_message() -> None:
    assert os_reason(FileNotFoundError(errno.ENOENT, "No such file or directory", "x")) == "No such file or directory"
    assert os_reason(OSError("plain")) == "plain"


def test_breakdown_lists_every_count_in_order_or_only_the_nonzero_ones() -> None:
    counts = {"conn": 12_345, "path": 0, "probe": 3}
    assert breakdown(counts) == "conn 12,345, path 0, probe 3"
    assert breakdown(counts, nonzero=True) == "conn 12,345, probe 3"
    assert breakdown({}) == ""


class _Summary(msgspec.Struct, frozen=True):
    lines: int


def test_report_summary_prints_the_text_and_writes_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "summary.json"

    assert report_summary("prog", "the summary", _Summary(lines=3), target) == EXIT_OK
    assert report_summary("prog", "again", _Summary(lines=3), None) == EXIT_OK

    assert capsys.readouterr().err == "the summary\nagain\n"
    assert json.loads(target.read_text()) == {"lines": 3}


def test_an_unwritable_summary_file_still_prints_the_summary_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "dir.json"

    assert report_summary("prog", "the summary", _Summary(lines=3), target) == EXIT_OUTPUT_FAILED

    assert capsys.readouterr().err == f"the summary\nprog: cannot write {target}: No such file or directory\n"


def _output(sink: IO[bytes]) -> Output:
    return Output(sink, closed="prog: stdout closed early", failed="prog: cannot write the records")


def test_output_passes_writes_through() -> None:
    sink = io.BytesIO()
    out = _output(sink)

    out.write(b"a\n")
    out.write(b"b\n")
    out.flush()

    assert sink.getvalue() == b"a\nb\n"


def test_a_closed_reader_raises_output_closed_says_so_once_and_silences_the_descriptor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` does once it has seen enough
    with open(write_end, "wb") as sink:
        out = _output(sink)
        out.write(b"buffered, not yet sent\n")
        with pytest.raises(OutputClosed):
            out.flush()
        sink.write(b"more")
        sink.flush()  # now goes to devnull: the interpreter's own final flush would not fail either

    assert capsys.readouterr().err == "prog: stdout closed early\n"
    assert not issubclass(OutputClosed, OSError), "a command must tell a failed write from a failed read"


class _FullDisk(io.BytesIO):
    def write(self, data: object, /) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


def test_any_other_write_error_raises_output_closed_with_the_os_reason(capsys: pytest.CaptureFixture[str]) -> None:
    out = _output(_FullDisk())

    with pytest.raises(OutputClosed):
        out.write(b"x")
    with pytest.raises(OutputClosed):
        out.flush()

    assert capsys.readouterr().err == (
        "prog: cannot write the records: No space left on device\nprog: cannot write the records: Input/output error\n"
    )
