"""The generated event reference: committed, complete, and a schema that describes real events."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, get_args

import msgspec
import pytest

from netdown import wire
from netdown.testing import sample_event
from netdown.wire_reference import OUTPUTS, main, render_json_schema, render_markdown

DOCS: Final = Path(__file__).resolve().parents[2] / "docs"
EVENT_CLASSES: Final[tuple[type[msgspec.Struct], ...]] = get_args(wire.Event)


def _section(markdown: str, heading: str) -> str:
    """The text under one heading, up to the next heading of any level, to look for a row where it belongs."""
    _, found, rest = markdown.partition(f"{heading}\n")
    assert found, f"no heading {heading!r}"
    return rest.split("\n#", 1)[0]


@pytest.mark.parametrize(("name", "render"), OUTPUTS.items())
def test_committed_docs_equal_the_rendering_of_the_contract(name: str, render: Callable[[], str]) -> None:
    committed = (DOCS / name).read_text(encoding="utf-8")

    assert committed == render(), f"docs/{name} is stale: run `python -m netdown.wire_reference`"


def test_every_field_of_every_struct_is_in_its_table() -> None:
    markdown = render_markdown()
    envelope = _section(markdown, "## Envelope")
    public = [getattr(wire, name) for name in wire.__all__]
    documented = [obj for obj in public if isinstance(obj, type) and issubclass(obj, msgspec.Struct)]
    documented.remove(wire.Rejection)  # the decoder's verdict, not an event: its reasons get their own table
    for body in get_args(wire.Body):  # a body's fields are its event's, documented in the event's table
        documented.remove(body)

    for cls in documented:
        tag = cls.__struct_config__.tag
        table = _section(markdown, f"### `{tag}`: {cls.__name__}" if tag else f"### {cls.__name__}")
        for field in cls.__struct_fields__:
            assert f"| `{field}` |" in table or f"| `{field}` |" in envelope, f"{cls.__name__}.{field}"


def test_every_allowed_value_and_reject_reason_is_listed() -> None:
    markdown = render_markdown()
    aliases = [
        wire.EventType,
        wire.Platform,
        wire.Observer,
        wire.PathStatus,
        wire.PathReason,
        wire.InterfaceType,
        wire.ConnState,
        wire.ProbeKind,
        wire.ExtensionKind,
    ]
    rejections = _section(markdown, "## Rejection reasons")

    assert [value for alias in aliases for value in get_args(alias) if f"`{value}`" not in markdown] == []
    assert [reason for reason in wire.RejectReason if f"| `{reason}` |" not in rejections] == []


def test_json_schema_describes_each_event_type_and_its_sample() -> None:
    schema = json.loads(render_json_schema())
    mapping = schema["discriminator"]["mapping"]

    assert schema["discriminator"]["propertyName"] == "type"
    assert set(mapping) == {cls.__struct_config__.tag for cls in EVENT_CLASSES}
    for tag, ref in mapping.items():
        definition: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
        sample = sample_event(tag)
        # Without a validator at hand: a sample carries every required property and no property the schema lacks.
        assert set(definition["required"]) <= set(sample)
        assert set(sample) == set(definition["properties"])


def test_check_fails_naming_the_stale_file_until_the_docs_are_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "wire-contract.md").write_text("# an old reference\n", encoding="utf-8")

    assert main(["--check", "--docs-dir", str(tmp_path)]) == 1
    errors = capsys.readouterr().err
    assert f"{tmp_path / 'wire-contract.md'} is stale" in errors
    assert f"{tmp_path / 'wire-contract.schema.json'} is stale" in errors

    assert main(["--docs-dir", str(tmp_path)]) == 0
    assert main(["--check", "--docs-dir", str(tmp_path)]) == 0
