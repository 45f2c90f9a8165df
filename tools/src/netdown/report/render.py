"""A report as a terminal table, Markdown, CSV or JSON: one :class:`Document`, four writers.

A report module lays its result out once as a :class:`Document` (header lines, titled sections of
rows, notes); the writers here only decide how that looks. Table and Markdown show the formatted
cells; CSV carries the raw values of every row (one ``section`` column tells the sections apart), so
a spreadsheet gets full precision; JSON is the report's own structure, encoded as is.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

__all__ = [
    "FORMATS",
    "Column",
    "Document",
    "Format",
    "Section",
    "confidence",
    "count",
    "duration",
    "interval",
    "number",
    "percent",
    "records",
    "render",
    "times",
]

Format = Literal["table", "markdown", "csv", "json"]
FORMATS: Final[tuple[Format, ...]] = ("table", "markdown", "csv", "json")
Row = Mapping[str, Any]
NONE: Final = "-"


@dataclass(frozen=True)
class Column:
    """A column: its header and how a row's cell reads (from any of the row's fields)."""

    header: str
    text: Callable[[Row], str]
    left: bool = False  # names align left, numbers right


@dataclass(frozen=True)
class Section:
    """A titled table with notes under it."""

    key: str  # the CSV ``section`` value
    title: str
    columns: Sequence[Column]
    rows: Sequence[Row]
    empty: str = "(none)"


@dataclass(frozen=True)
class Document:
    """A report laid out for people: a title, header lines, sections, notes at the end."""

    title: str
    header: Sequence[str]
    sections: Sequence[Section]
    notes: Sequence[str]
    data: msgspec.Struct  # what JSON and CSV carry


def records(rows: Sequence[msgspec.Struct]) -> list[dict[str, Any]]:
    """Report rows as the mappings a :class:`Section` holds (every field, raw)."""
    return [msgspec.structs.asdict(row) for row in rows]


def render(document: Document, fmt: Format) -> str:
    """The document in one of :data:`FORMATS`, ending with a newline."""
    writers: dict[Format, Callable[[Document], str]] = {
        "table": _table,
        "markdown": _markdown,
        "csv": _csv,
        "json": _json,
    }
    return writers[fmt](document)


def _cells(section: Section) -> list[list[str]]:
    return [[column.text(row) for column in section.columns] for row in section.rows]


def _table(document: Document) -> str:
    lines = [document.title, "=" * len(document.title), *document.header]
    for section in document.sections:
        lines += ["", section.title, "-" * len(section.title)]
        if not section.rows:
            lines.append(section.empty)
            continue
        headers = [column.header for column in section.columns]
        cells = _cells(section)
        widths = [max(len(text) for text in column) for column in zip(headers, *cells, strict=True)]
        for row in [headers, *cells]:
            lines.append(
                "  ".join(
                    text.ljust(width) if column.left else text.rjust(width)
                    for text, width, column in zip(row, widths, section.columns, strict=True)
                ).rstrip()
            )
    lines += ["", *document.notes] if document.notes else []
    return "\n".join(lines) + "\n"


def _markdown(document: Document) -> str:
    lines = [f"## {document.title}", "", *(f"- {line}" for line in document.header)]
    for section in document.sections:
        lines += ["", f"### {section.title}", ""]
        if not section.rows:
            lines.append(section.empty)
            continue
        lines.append("| " + " | ".join(column.header for column in section.columns) + " |")
        lines.append("|" + "|".join(":---" if column.left else "---:" for column in section.columns) + "|")
        lines += ["| " + " | ".join(text.replace("|", "\\|") for text in row) + " |" for row in _cells(section)]
    lines += ["", *document.notes] if document.notes else []
    return "\n".join(lines) + "\n"


def _csv(document: Document) -> str:
    """Every row of every section with its raw fields; empty cells for missing or non-finite values."""
    fields: dict[str, None] = {"section": None}
    for section in document.sections:
        for row in section.rows:
            fields.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for section in document.sections:
        for row in section.rows:
            writer.writerow({"section": section.key, **{key: _raw(value) for key, value in row.items()}})
    return out.getvalue()


def _raw(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def _json(document: Document) -> str:
    """The report's own structure; non-finite numbers (no upper bound, no data) are null."""
    return msgspec.json.format(msgspec.json.encode(document.data)).decode() + "\n"


# --- cell formatting shared by the reports -------------------------------------------------------------


def number(value: float | None, digits: int = 3) -> str:
    """``digits`` significant figures, thousands separated, never an exponent; ``-`` when missing."""
    if value is None or math.isnan(value):
        return NONE
    if math.isinf(value):
        return "inf"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def count(value: float) -> str:
    """A count of devices: ``1,250`` when whole (seen in the window), else an average (``17.9`` active)."""
    return f"{int(value):,}" if float(value).is_integer() else number(value)


def interval(low: float | None, high: float | None, fmt: Callable[[float | None], str] = number) -> str:
    """``[1.90, 4.61]``; ``-`` when there is none."""
    if low is None or high is None or math.isnan(low):
        return NONE
    return f"[{fmt(low)}, {fmt(high)}]"


def times(value: float | None) -> str:
    """A ratio: ``2.95x``."""
    text = number(value)
    return text if text in (NONE, "inf") else f"{text}x"


def confidence(level: float) -> str:
    """A confidence level with the digits it needs: ``95%``, ``99.5%``, ``99.88%``."""
    return f"{level * 100:.4g}%"


def percent(value: float | None) -> str:
    """A share: ``12.5%``."""
    if value is None or math.isnan(value):
        return NONE
    return f"{value:.1%}"


def duration(seconds: float | None) -> str:
    """``45s``, ``12.5m``, ``3.2h``, ``1.5d``."""
    if seconds is None or math.isnan(seconds):
        return NONE
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
