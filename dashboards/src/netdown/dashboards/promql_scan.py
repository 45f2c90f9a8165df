"""What the dashboard lint needs from a PromQL expression, read from promql-parser's syntax tree.

``promql-parser`` (Python bindings of the Rust promql-parser crate, Prometheus's grammar and its type
checks) parses the expression; one walk over the tree records every vector selector with its
matchers, its range, and the aggregations and functions enclosing it, and every ``[window]``. That
answers what the lint asks: does each selector select the workers' job, is it summed over
``instance`` and ``partition`` before it reaches a panel, and is every window one of the allowed
ones. ``topk``/``bottomk``/``limitk``/``limit_ratio`` keep their input's labels, so they aggregate
nothing; an aggregation's parameter (``topk``'s k) is not aggregated by it.

Grafana variables are not PromQL, so some are replaced before parsing and mapped back after:

- in label values (``os_version=~"$os_version"``) they are text in a string and stay as written;
- a window side holding one (``[$__rate_interval]``, ``[${__range_s}s]``, ``[1d:$__interval]``) and one
  after ``offset`` become unlikely durations (:data:`_PLACEHOLDER_MS` milliseconds and up), read back
  as the text written;
- anywhere else (``> $threshold``, ``topk($n, ...)``) they become the number ``1``.

Windows read back as Prometheus prints durations (``[24h]`` reads ``1d``, ``[90s]`` ``1m30s``); label
values are unescaped (``"a\\\\.b"`` reads ``a\\.b``). Every Grafana variable is listed, wherever it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import promql_parser as promql

__all__ = ["VARIABLE", "Aggregation", "Matcher", "PromQLError", "Query", "Selector", "scan"]

# Aggregations that select series rather than combine them: the result keeps every input label.
_SELECTING: Final = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
# promql-parser's match operators as PromQL writes them (pairs: its enum members are not hashable).
_OPERATORS: Final = (
    (promql.MatchOp.Equal, "="),
    (promql.MatchOp.NotEqual, "!="),
    (promql.MatchOp.Re, "=~"),
    (promql.MatchOp.NotRe, "!~"),
)
# Grafana variables inside strings and windows: $name, ${name}, ${name:format}, [[name]].
VARIABLE: Final = re.compile(r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]")
# What the substitution looks at, left to right: quoted text and comments (skipped), a Grafana variable outside
# them, or a range/subquery window.
_SUBSTITUTED: Final = re.compile(
    r"""(?P<skip>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|\#[^\n]*)"""
    rf"|(?P<variable>{VARIABLE.pattern})"
    r"|\[(?P<window>[^\[\]]*)\]"
)
_WINDOW_SIDES: Final = re.compile(r":(?![^{]*\})")  # range:step, not the ':' of ${name:format}
_AFTER_OFFSET: Final = re.compile(r"\boffset\s*-?\s*$", re.IGNORECASE)  # offset $d, offset -$d
# The first placeholder duration (36d8h39m52s653ms): no query writes a window to the millisecond.
_PLACEHOLDER_MS: Final = 3_141_592_653


class PromQLError(ValueError):
    """The expression is not PromQL: promql-parser's message (syntax, unknown function, wrong argument type)."""


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector, its value as PromQL reads it (unquoted, escapes resolved)."""

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


class _Substitution:
    """``expr`` made parseable (see the module docstring), and the placeholder durations' original text."""

    def __init__(self, expr: str) -> None:
        self.written: dict[timedelta, str] = {}
        self._placeholders: dict[str, str] = {}
        self.expr = _SUBSTITUTED.sub(self._replace, expr)

    def _replace(self, match: re.Match[str]) -> str:
        if match["variable"] is not None:
            return self._duration(match[0]) if _AFTER_OFFSET.search(match.string, 0, match.start()) else "1"
        window = match["window"]
        if window is None or not VARIABLE.search(window):
            return match[0]
        sides = [
            self._duration(side.strip()) if VARIABLE.search(side) else side for side in _WINDOW_SIDES.split(window)
        ]
        return f"[{':'.join(sides)}]"

    def _duration(self, text: str) -> str:
        if text not in self._placeholders:
            milliseconds = _PLACEHOLDER_MS + len(self._placeholders)
            self._placeholders[text] = f"{milliseconds}ms"
            self.written[timedelta(milliseconds=milliseconds)] = text
        return self._placeholders[text]

    def window(self, duration: timedelta | None) -> str:
        """A parsed duration as the query wrote it (a variable) or as Prometheus prints it; none is ``""``."""
        if duration is None:
            return ""
        return self.written.get(duration) or promql.display_duration(duration)


class _Walk:
    """One depth-first pass over the tree, in the order the expression is written."""

    def __init__(self, substitution: _Substitution) -> None:
        self.substitution = substitution
        self.selectors: list[Selector] = []
        self.windows: list[str] = []

    def visit(self, node: object, aggregations: tuple[Aggregation, ...], functions: tuple[str, ...]) -> None:
        if isinstance(node, promql.VectorSelector):
            self.selector(node, None, aggregations, functions)
        elif isinstance(node, promql.MatrixSelector):
            window = self.substitution.window(node.range)
            self.windows.append(window)
            self.selector(node.vector_selector, window, aggregations, functions)
        elif isinstance(node, promql.AggregateExpr):
            if node.param is not None:  # topk's k, quantile's q: beside the aggregated input, not inside it
                self.visit(node.param, aggregations, functions)
            self.visit(node.expr, (*aggregations, _aggregation(node)), functions)
        elif isinstance(node, promql.Call):
            for argument in node.args:
                self.visit(argument, aggregations, (*functions, node.func.name))
        elif isinstance(node, promql.BinaryExpr):
            self.visit(node.lhs, aggregations, functions)
            self.visit(node.rhs, aggregations, functions)
        elif isinstance(node, promql.SubqueryExpr):
            self.visit(node.expr, aggregations, functions)
            self.windows.append(f"{self.substitution.window(node.range)}:{self.substitution.window(node.step)}")
        elif isinstance(node, promql.ParenExpr | promql.UnaryExpr):
            self.visit(node.expr, aggregations, functions)
        elif not isinstance(node, promql.NumberLiteral | promql.StringLiteral):
            raise PromQLError(f"unexpected {type(node).__name__} in the syntax tree")

    def selector(
        self,
        node: promql.VectorSelector,
        window: str | None,
        aggregations: tuple[Aggregation, ...],
        functions: tuple[str, ...],
    ) -> None:
        if node.matchers.or_matchers:
            raise PromQLError(f"{node}: 'or' between label matchers is not Prometheus PromQL")
        matchers = tuple(Matcher(m.name, _operator(m.op), m.value) for m in node.matchers.matchers)
        names = [m.value for m in matchers if m.label == "__name__" and m.op == "="]
        metric = node.name or (names[0] if names else "")
        self.selectors.append(Selector(metric, matchers, window, aggregations, functions))


def _operator(op: promql.MatchOp) -> str:
    return next(text for member, text in _OPERATORS if member == op)


def _aggregation(node: promql.AggregateExpr) -> Aggregation:
    modifier = node.modifier
    if modifier is None:
        return Aggregation(str(node.op), None, ())
    grouping = "by" if modifier.type == promql.AggModifierType.By else "without"
    return Aggregation(str(node.op), grouping, tuple(modifier.labels))


def scan(expr: str) -> Query:
    """Read ``expr`` (Grafana variables may stay in it); raise :class:`PromQLError` when it is not PromQL."""
    substitution = _Substitution(expr)
    try:
        tree = promql.parse(substitution.expr)
    except ValueError as exc:
        raise PromQLError(str(exc)) from exc
    walk = _Walk(substitution)
    walk.visit(tree, (), ())
    variables = sorted({next(name for name in match.groups() if name) for match in VARIABLE.finditer(expr)})
    return Query(tuple(walk.selectors), tuple(walk.windows), tuple(variables))
