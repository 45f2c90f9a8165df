"""The event reference, rendered from :mod:`netdown.wire` so a field is described in exactly one place.

``python -m netdown.wire_reference`` writes ``docs/wire-contract.md`` (for people) and
``docs/wire-contract.schema.json`` (for tools); ``--check`` fails when the committed files are stale,
which ``make lint`` runs so the docs cannot drift from the contract.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, cast, get_args

import msgspec
from msgspec import inspect as mi

from netdown import wire
from netdown.wire import MAX_EVENT_BYTES, SCHEMA_VERSION, RejectReason

__all__ = ["OUTPUTS", "main", "render_json_schema", "render_markdown"]

# What each reason means to someone reading a DLQ record: the `field` it names, and why.
_REJECT_MEANINGS: Final[Mapping[RejectReason, tuple[str, str]]] = {
    RejectReason.TOO_LARGE: ("null", f"The message is longer than {MAX_EVENT_BYTES:,} bytes; it is not parsed."),
    RejectReason.MALFORMED_JSON: (
        "null",
        "Not JSON: a syntax error, invalid UTF-8, a number out of range, or nesting too deep to parse.",
    ),
    RejectReason.NOT_AN_OBJECT: ("null", "Valid JSON, but not an object: an array, a string, a number or null."),
    RejectReason.UNKNOWN_VERSION: (
        "`v`",
        f"`v` is not the integer {SCHEMA_VERSION}. Checked first: another version may lack anything v1 requires.",
    ),
    RejectReason.UNKNOWN_TYPE: ("`type`", "`type` is not one of the event types above."),
    RejectReason.BAD_DEVICE_ID: ("`device_id`", "`device_id` is not a string matching its pattern."),
    RejectReason.MISSING_FIELD: (
        "path, e.g. `facts.network_extensions[0].kind`",
        "A required field is absent (`app` is required on a path event when `observer` is `app`).",
    ),
    RejectReason.INVALID_FIELD: (
        "path, e.g. `interfaces[1].type`",
        "A field has the wrong JSON type, a value not in its allowed values, or breaks a bound (length, >= 0).",
    ),
}

_EVENTS: Final = [cast(mi.StructType, mi.type_info(cls)) for cls in get_args(wire.Event)]
# The base class every event shares; private to the contract, which names it only through its subclasses.
_ENVELOPE: Final = cast(mi.StructType, mi.type_info(wire._Envelope))
_ENVELOPE_FIELDS: Final = frozenset(field.name for field in _ENVELOPE.fields)
_BOUNDS: Final = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
_FIELD_TABLE_HEAD: Final = ("| Field | Type | Required | Description |", "| --- | --- | --- | --- |")


def render_markdown() -> str:
    """The human reference of the contract, so readers never need to open ``wire.py`` to write a producer."""
    tags = ", ".join(f"`{event.tag}`" for event in _EVENTS)
    title, _, lead = _doc(wire).partition(": ")
    lines = [
        "<!-- Generated from core/src/netdown/wire.py by `python -m netdown.wire_reference`. Do not edit by hand. -->",
        "",
        f"# {title}",
        "",
        f"{lead[:1].upper()}{lead[1:]}",
        "",
        f"One Kafka message carries one event: a UTF-8 JSON object of at most {MAX_EVENT_BYTES:,} bytes "
        f"({MAX_EVENT_BYTES // 1024} KiB), keyed by its `device_id` so that a device's events stay in order. "
        f"`type` says which event it is and `v` which version of this contract ({SCHEMA_VERSION}). "
        "Consumers ignore fields they do not know, so adding a field is forward compatible. "
        "A field that is not required may be left out and then takes its default. "
        "Events are written canonically (`netdown.wire.encode`): keys sorted, no whitespace, every field present, "
        "nulls included.",
        "",
        "## Envelope",
        "",
        _doc(wire._Envelope),
        "",
        *_FIELD_TABLE_HEAD,
        _row("`type`", f"one of {tags}", "yes", "The event type: selects one of the tables below."),
        *_field_rows(_ENVELOPE.fields),
        "",
        "## Event types",
    ]
    for event in _EVENTS:
        own = [field for field in event.fields if field.name not in _ENVELOPE_FIELDS]
        lines += _struct_section(f"`{event.tag}`: {event.cls.__name__}", event.cls, own)
    lines += ["", "## Objects", "", "Objects nested in the events above."]
    for struct in _nested_structs(_EVENTS):
        lines += _struct_section(struct.cls.__name__, struct.cls, struct.fields)
    lines += [
        "",
        "## Rejection reasons",
        "",
        "A message that breaks the contract is refused: decoding it gives a rejection with a `reason`, "
        "the `field` at fault (a JSON path, or null) and a human `detail`. The first fault found is reported, "
        "in this order: size, JSON syntax, object, then the envelope's `v`, `type` and `device_id`, then the rest.",
        "",
        "| Reason | `field` | Meaning |",
        "| --- | --- | --- |",
        *(_row(f"`{reason}`", *_REJECT_MEANINGS[reason]) for reason in RejectReason),
    ]
    return "\n".join(lines) + "\n"


def render_json_schema() -> str:
    """The contract as JSON Schema, so tools in any language can validate events without this package."""
    return json.dumps(msgspec.json.schema(wire.Event), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# The generated files, named as they sit in the docs folder.
OUTPUTS: Final[Mapping[str, Callable[[], str]]] = {
    "wire-contract.md": render_markdown,
    "wire-contract.schema.json": render_json_schema,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the docs, or with ``--check`` fail (exit 1) naming each stale file, so CI catches drift."""
    parser = argparse.ArgumentParser(
        prog="python -m netdown.wire_reference", description="Render docs/wire-contract.{md,schema.json}."
    )
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a file is stale or missing")
    parser.add_argument("--docs-dir", type=Path, default=Path("docs"), help="where the files live (default: docs)")
    args = parser.parse_args(argv)
    docs: Path = args.docs_dir
    if not docs.is_dir():
        parser.error(f"{docs}/ does not exist: run from the repository root or pass --docs-dir")
    stale = 0
    for name, render in OUTPUTS.items():
        path, text = docs / name, render().encode()
        if not args.check:
            path.write_bytes(text)
            print(f"wrote {path}")
        elif not path.is_file() or path.read_bytes() != text:
            print(
                f"{path} is stale: it differs from core/src/netdown/wire.py; run `python -m netdown.wire_reference`",
                file=sys.stderr,
            )
            stale += 1
    return 1 if stale else 0


def _doc(obj: object) -> str:
    """The summary line of a docstring, in Markdown: the contract's own words for a type."""
    return (inspect.getdoc(obj) or "").splitlines()[0].replace("``", "`")


def _struct_section(heading: str, cls: type, fields: Sequence[mi.Field]) -> list[str]:
    """A level-3 section for one object type: its docstring summary, then its field table."""
    return ["", f"### {heading}", "", _doc(cls), "", *_FIELD_TABLE_HEAD, *_field_rows(fields)]


def _row(*cells: str) -> str:
    """One table row; a `|` inside a cell is escaped so it cannot split the cell."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _field_rows(fields: Sequence[mi.Field]) -> list[str]:
    """A row per field, with its type, whether it is required (else its default) and its description."""
    return [
        _row(
            f"`{field.name}`",
            _type_text(field.type),
            "yes" if field.required else f"no, default `{msgspec.json.encode(field.default).decode()}`",
            _description(field),
        )
        for field in fields
    ]


def _description(field: mi.Field) -> str:
    """A field's ``msgspec.Meta(description=...)``; every field must have one, or the reference has a hole."""
    schema = field.type.extra_json_schema if isinstance(field.type, mi.Metadata) else None
    if schema and "description" in schema:
        return str(schema["description"])
    raise ValueError(f"field `{field.name}` has no msgspec.Meta(description=...) to render")


def _type_text(info: mi.Type) -> str:  # noqa: PLR0911 (one return per kind of type)
    """A field type in words, with its bounds and allowed values: what a producer must send."""
    match info:
        case mi.Metadata(type=inner):
            return _type_text(inner)
        case mi.UnionType(types=types):
            return " or ".join(_type_text(member) for member in types)
        case mi.VarTupleType(item_type=item):
            return f"array of {_type_text(item)}"
        case mi.StructType(cls=cls):
            return f"[{cls.__name__}](#{cls.__name__.lower()})"
        case mi.LiteralType(values=(value,)):
            return f"`{json.dumps(value)}`"
        case mi.LiteralType(values=values):
            return "one of " + ", ".join(f"`{value}`" for value in values)
        case mi.StrType(min_length=low, max_length=high, pattern=pattern):
            return "string" + _length(low, high) + (f" matching `{pattern}`" if pattern else "")
        case mi.IntType() | mi.FloatType():
            bounds = [f" {sign} {getattr(info, bound)}" for bound, sign in _BOUNDS if getattr(info, bound) is not None]
            return ("integer" if isinstance(info, mi.IntType) else "number") + "".join(bounds)
        case mi.BoolType():
            return "boolean"
        case mi.NoneType():
            return "null"
    raise TypeError(f"no words for {info!r} yet; teach netdown.wire_reference._type_text this type")


def _length(low: int | None, high: int | None) -> str:
    """A string's length bounds in words ("" when unbounded)."""
    if high is None:
        return f" of at least {low} chars" if low else ""
    return f" of {low} to {high} chars" if low else f" of at most {high} chars"


def _nested_structs(events: Sequence[mi.StructType]) -> list[mi.StructType]:
    """Every object type the events contain, once each, in order of first appearance (reading order)."""
    found: dict[type, mi.StructType] = {}

    def visit(info: mi.Type) -> None:
        match info:
            case mi.Metadata(type=inner) | mi.VarTupleType(item_type=inner):
                visit(inner)
            case mi.UnionType(types=types):
                for member in types:
                    visit(member)
            case mi.StructType() if info.cls not in found:
                found[info.cls] = info
                for field in info.fields:
                    visit(field.type)

    for event in events:
        for field in event.fields:
            visit(field.type)
    return list(found.values())


if __name__ == "__main__":
    sys.exit(main())
