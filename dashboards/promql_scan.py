"""Just enough PromQL reading for the dashboard lint: each selector, what aggregates it, and every range window.

Not a full parser (no precedence, no type checking; Prometheus itself checks that in the end-to-end
test): a tokenizer and one pass over the tokens that tracks the enclosing aggregations and functions
of every vector selector. That answers what the lint asks: does each selector select the workers'
job, is it summed over ``instance`` and ``partition`` before it reaches a panel, and is every
``[window]`` one of the allowed ones. Both grouping forms are understood (``sum by (a) (x)`` and
``sum(x) by (a)``); ``topk``/``bottomk``/``limitk`` keep their input's labels, so they aggregate nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

__all__ = ["VARIABLE", "Aggregation", "Matcher", "PromQLError", "Query", "Selector", "scan"]

AGGREGATIONS: Final = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    }
)
# Aggregations that select series rather than combine them: the result keeps every input label.
_SELECTING: Final = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
_GROUPING: Final = frozenset({"by", "without"})
_MATCHING: Final = frozenset({"on", "ignoring", "group_left", "group_right"})
_KEYWORDS: Final = frozenset({"bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"})

_TOKEN: Final = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<range>\[[^\]\[]*\])
    |(?P<number>(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)[a-zA-Z0-9]*)
    |(?P<variable>\$\{[^}]*\}|\$\w+)
    |(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    |(?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=,@(){}])
    """,
    re.VERBOSE,
)
# Grafana variables inside strings and windows: $name, ${name}, ${name:format}, [[name]].
VARIABLE: Final = re.compile(r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]")


class PromQLError(ValueError):
    """The expression cannot be read: an unknown character, an unterminated string, unbalanced brackets."""


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector, its value unquoted as written (escapes kept)."""

    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Aggregation:
    """An aggregation enclosing a selector: its operator and its grouping (``by``/``without`` labels, or none)."""

    operator: str
    modifier: str | None
    labels: tuple[str, ...]

    def removes(self, label: str) -> bool:
        """Whether the aggregation's result no longer carries ``label``."""
        if self.operator in _SELECTING:
            return False
        if self.modifier == "by":
            return label not in self.labels
        if self.modifier == "without":
            return label in self.labels
        return True


@dataclass(frozen=True)
class Selector:
    """A vector selector with its matchers, its range (``None`` for an instant vector) and what encloses it."""

    metric: str
    matchers: tuple[Matcher, ...]
    range: str | None
    aggregations: tuple[Aggregation, ...]
    functions: tuple[str, ...]

    def matches(self, label: str, op: str, value: str) -> bool:
        """Whether the selector carries exactly this matcher."""
        return Matcher(label, op, value) in self.matchers

    def aggregated_away(self, label: str) -> bool:
        """Whether some enclosing aggregation drops ``label`` (an outer one cannot bring it back)."""
        return any(aggregation.removes(label) for aggregation in self.aggregations)


@dataclass(frozen=True)
class Query:
    """What :func:`scan` found: the selectors, every ``[window]`` (subqueries too) and the Grafana variables used."""

    selectors: tuple[Selector, ...]
    windows: tuple[str, ...]
    variables: tuple[str, ...]


@dataclass
class _Frame:
    kind: str  # "aggregation", "function" or "paren"
    name: str
    modifier: str | None = None
    labels: tuple[str, ...] = ()


@dataclass
class _Found:
    metric: str
    matchers: tuple[Matcher, ...]
    range: str | None
    frames: tuple[_Frame, ...]


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise PromQLError(f"cannot read {expr[position : position + 20]!r} at offset {position}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


class _Scanner:
    def __init__(self, expr: str) -> None:
        self.tokens = _tokens(expr)
        self.index = 0
        self.stack: list[_Frame] = []
        self.found: list[_Found] = []
        self.windows: list[str] = []
        self.just_closed: _Frame | None = None

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        kind, text = self.take()
        if text != value or kind == "string":
            raise PromQLError(f"expected {value!r}, found {text or 'the end'!r}")

    def bracketed(self, opener: str, closer: str, what: str) -> Iterator[tuple[str, str]]:
        """The tokens between ``opener`` and its ``closer``, the commas left out."""
        self.expect(opener)
        while (token := self.take())[1] != closer:
            if token[0] == "end":
                raise PromQLError(f"unterminated {what}")
            if token[1] != ",":
                yield token

    def label_list(self) -> tuple[str, ...]:
        labels: list[str] = []
        for kind, text in self.bracketed("(", ")", "label list"):
            if kind not in {"ident", "string"}:
                raise PromQLError(f"unexpected {text!r} in a label list")
            labels.append(text.strip("\"'`"))
        return tuple(labels)

    def matchers(self) -> tuple[Matcher, ...]:
        found: list[Matcher] = []
        for kind, label in self.bracketed("{", "}", "label matchers"):
            op = self.take()[1]
            value_kind, value = self.take()
            if kind not in {"ident", "string"} or op not in {"=", "!=", "=~", "!~"} or value_kind != "string":
                raise PromQLError(f"cannot read the matcher starting at {label!r}")
            found.append(Matcher(label, op, value[1:-1]))
        return tuple(found)

    def selector(self, metric: str) -> None:
        matchers = self.matchers() if self.peek()[1] == "{" else ()
        if not metric:
            names = [m.value for m in matchers if m.label == "__name__" and m.op == "="]
            metric = names[0] if names else ""
        window = None
        if self.peek()[0] == "range":
            window = self.take()[1][1:-1].strip()
            self.windows.append(window)
        self.found.append(_Found(metric, matchers, window, tuple(self.stack)))

    def run(self) -> None:
        while (token := self.peek())[0] != "end":
            closed, self.just_closed = self.just_closed, None
            kind, text = token
            if kind == "ident":
                self.identifier(text, closed)
            elif text == "{":
                self.selector("")
            elif text == "(":
                self.take()
                self.stack.append(_Frame("paren", ""))
            elif text == ")":
                self.take()
                if not self.stack:
                    raise PromQLError("unbalanced ')'")
                self.just_closed = self.stack.pop()
            elif text == "}":
                raise PromQLError("unbalanced '}'")
            else:
                self.take()
                if kind == "range":
                    self.windows.append(text[1:-1].strip())
        if self.stack:
            raise PromQLError("unbalanced '('")

    def identifier(self, text: str, closed: _Frame | None) -> None:
        self.take()
        following = self.peek()[1]
        if text in _GROUPING and following == "(":
            if closed is None or closed.kind != "aggregation":
                raise PromQLError(f"{text!r} follows no aggregation")
            closed.modifier, closed.labels = text, self.label_list()  # the trailing form: sum(x) by (a)
        elif text in _MATCHING and following == "(":
            self.label_list()
        elif text in AGGREGATIONS and (following == "(" or following in _GROUPING):
            frame = _Frame("aggregation", text)
            if following in _GROUPING:
                frame.modifier = self.take()[1]
                frame.labels = self.label_list()
            self.expect("(")
            self.stack.append(frame)
        elif text in _MATCHING or text.lower() in _KEYWORDS:
            return
        elif following == "(":
            self.take()
            self.stack.append(_Frame("function", text))
        else:
            self.selector(text)


def scan(expr: str) -> Query:
    """Read ``expr`` (Grafana variables may stay in it); raise :class:`PromQLError` when it cannot be read."""
    scanner = _Scanner(expr)
    scanner.run()
    selectors = tuple(
        Selector(
            metric=found.metric,
            matchers=found.matchers,
            range=found.range,
            aggregations=tuple(
                Aggregation(frame.name, frame.modifier, frame.labels)
                for frame in found.frames
                if frame.kind == "aggregation"
            ),
            functions=tuple(frame.name for frame in found.frames if frame.kind == "function"),
        )
        for found in scanner.found
    )
    variables = sorted({next(name for name in match.groups() if name) for match in VARIABLE.finditer(expr)})
    return Query(selectors, tuple(scanner.windows), tuple(variables))
