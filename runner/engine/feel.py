"""FEEL simple unary tests (DMN input entries) and literal outputs.

A small hand-written tokenizer and parser; nothing here calls eval. Anything
richer than a literal in an output entry falls back to the restricted
Python evaluator in expressions.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time as dtime
from decimal import Decimal
from typing import Any, Callable

from . import expressions


class FeelError(Exception):
    """A FEEL text could not be compiled; `.problem` says why, `.text` is the text."""

    def __init__(self, problem: str, text: str):
        self.problem = problem
        self.text = text
        super().__init__(f"{problem} in '{text}'")


# --- tokenizer ---------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str   # NUMBER STRING NAME OP
    value: Any
    pos: int


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>\.\.|<=|>=|!=|[<>=,()\[\]-])
""", re.VERBOSE)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def tokenize(text: str) -> list[Token]:
    """Split FEEL text into tokens; raises FeelError on anything unknown."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            if text[pos] == '"':
                raise FeelError("unterminated string", text)
            raise FeelError(f"unexpected character '{text[pos]}' at position {pos + 1}", text)
        kind = match.lastgroup
        raw = match.group()
        if kind == "number":
            tokens.append(Token("NUMBER", float(raw) if "." in raw else int(raw), pos))
        elif kind == "string":
            tokens.append(Token("STRING", _unescape(raw[1:-1]), pos))
        elif kind != "space":
            tokens.append(Token(kind.upper(), raw, pos))
        pos = match.end()
    return tokens


# --- values and comparison ---------------------------------------------------

_NUMBER = (int, float, Decimal)


def is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _align(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Bring two values to comparable types, or None when FEEL would say they are not comparable."""
    if is_number(left) and is_number(right):
        if isinstance(left, Decimal) and isinstance(right, float):
            return float(left), right
        if isinstance(right, Decimal) and isinstance(left, float):
            return left, float(right)
        return left, right
    if _temporal_kind(right):
        return _align_temporal(left, right, _temporal_kind(right))
    if _temporal_kind(left):
        swapped = _align_temporal(right, left, _temporal_kind(left))
        return swapped and (swapped[1], swapped[0])
    if type(left) is type(right) and isinstance(left, (str, bool)):
        return left, right
    return None


def _temporal_kind(value: Any) -> type | None:
    return next((kind for kind in (datetime, date, dtime) if isinstance(value, kind)), None)


def _align_temporal(value: Any, endpoint: Any, kind: type) -> tuple[Any, Any] | None:
    if isinstance(value, str):
        try:
            value = kind.fromisoformat(value)
        except ValueError:
            return None
    if kind is date and isinstance(value, datetime):
        value = value.date()
    if type(value) is not kind:
        return None
    if kind is datetime and (value.tzinfo is None) != (endpoint.tzinfo is None):
        return None
    return value, endpoint


def equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is right
    pair = _align(left, right)
    return pair is not None and pair[0] == pair[1]


_ORDER = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
          ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return equal(left, right)
    if op == "!=":
        return left is not None and right is not None and not equal(left, right) \
            and _align(left, right) is not None
    pair = None if left is None or right is None else _align(left, right)
    if pair is None or isinstance(pair[0], bool):
        return False
    return _ORDER[op](*pair)


def resolve(path: str, context: dict | None) -> Any:
    """Look up a dotted path in nested dicts; anything missing is None."""
    value: Any = context or {}
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# --- parser ------------------------------------------------------------------

Endpoint = Callable[[dict], Any]
Test = Callable[[Any, dict], bool]
_TEMPORAL = {"date": date.fromisoformat, "time": dtime.fromisoformat, "date and time": datetime.fromisoformat}


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # token helpers
    def peek(self, offset: int = 0) -> Token | None:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def at(self, kind: str, value: Any = None, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == kind and (value is None or token.value == value)

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise FeelError("unexpected end of text", self.text)
        self.i += 1
        return token

    def expect(self, kind: str, value: str, problem: str) -> None:
        if not self.at(kind, value):
            raise FeelError(problem, self.text)
        self.i += 1

    def done(self) -> None:
        token = self.peek()
        if token is not None:
            raise FeelError(f"unexpected '{token.value}' at position {token.pos + 1}", self.text)

    # grammar
    def unary_tests(self) -> Test:
        if not self.tokens or (len(self.tokens) == 1 and self.at("OP", "-")):
            return lambda value, context: True
        if self.at("NAME", "not") and self.at("OP", "(", 1):
            self.i += 2
            inner = self.disjunction()
            self.expect("OP", ")", "missing ')' after not(...")
            self.done()
            return lambda value, context: not inner(value, context)
        tests = self.disjunction()
        self.done()
        return tests

    def disjunction(self) -> Test:
        tests = [self.positive_test()]
        while self.at("OP", ","):
            self.i += 1
            tests.append(self.positive_test())
        if len(tests) == 1:
            return tests[0]
        return lambda value, context: any(test(value, context) for test in tests)

    def positive_test(self) -> Test:
        token = self.peek()
        if token is None:
            raise FeelError("a test is missing", self.text)
        if token.kind == "OP" and token.value in ("<", "<=", ">", ">=", "=", "!="):
            self.i += 1
            endpoint = self.endpoint()
            return lambda value, context: _compare(token.value, value, endpoint(context))
        if token.kind == "OP" and token.value in ("[", "(", "]"):
            return self.interval()
        endpoint = self.endpoint()
        return lambda value, context: equal(value, endpoint(context))

    def interval(self) -> Test:
        low_open = self.take().value != "["
        low = self.endpoint()
        self.expect("OP", "..", "expected '..' in interval")
        if self.peek() is None:
            raise FeelError("unterminated interval", self.text)
        high = self.endpoint()
        closing = self.peek()
        if closing is None or closing.kind != "OP" or closing.value not in ("]", ")", "["):
            raise FeelError("unterminated interval", self.text)
        self.i += 1
        high_open = closing.value != "]"
        low_op, high_op = (">" if low_open else ">="), ("<" if high_open else "<=")
        return lambda value, context: (_compare(low_op, value, low(context))
                                       and _compare(high_op, value, high(context)))

    def endpoint(self) -> Endpoint:
        token = self.take()
        if token.kind == "OP" and token.value == "-" and self.at("NUMBER"):
            number = -self.take().value
            return lambda context: number
        if token.kind in ("NUMBER", "STRING"):
            return lambda context, constant=token.value: constant
        if token.kind == "NAME":
            return self.name_endpoint(token.value)
        if token.kind == "OP" and token.value == "..":
            raise FeelError("interval start is missing", self.text)
        raise FeelError(f"unexpected '{token.value}' at position {token.pos + 1}", self.text)

    def name_endpoint(self, name: str) -> Endpoint:
        constants = {"true": True, "false": False, "null": None}
        if name in constants:
            return lambda context, constant=constants[name]: constant
        if name == "date" and self.at("NAME", "and") and self.at("NAME", "time", 1):
            self.i += 2
            name = "date and time"
        if name in _TEMPORAL and self.at("OP", "("):
            constant = self.temporal(name)
            return lambda context: constant
        return lambda context: resolve(name, context)

    def temporal(self, name: str) -> Any:
        self.expect("OP", "(", f"expected '(' after {name}")
        token = self.take()
        if token.kind != "STRING":
            raise FeelError(f"{name}() needs a quoted ISO text", self.text)
        self.expect("OP", ")", f"missing ')' after {name}(...")
        try:
            return _TEMPORAL[name](token.value)
        except ValueError:
            raise FeelError(f"'{token.value}' is not a valid {name}", self.text) from None


# --- public API --------------------------------------------------------------

def compile_unary_tests(text: str) -> Callable[..., bool]:
    """Compile FEEL simple unary tests into fn(value, context=None) -> bool."""
    test = _Parser((text or "").strip()).unary_tests()

    def matches(value: Any, context: dict | None = None) -> bool:
        return test(value, context or {})
    return matches


def _single_literal(text: str) -> Endpoint | None:
    """The endpoint for a text that is exactly one FEEL literal or name, else None."""
    try:
        parser = _Parser(text)
        endpoint = parser.endpoint()
        parser.done()
    except FeelError:
        return None
    return endpoint


def compile_literal(text: str) -> Callable[[dict], Any]:
    """Compile a DMN output entry / input expression into fn(context) -> value."""
    text = (text or "").strip()
    if not text:
        return lambda context: None
    endpoint = _single_literal(text)
    if endpoint is not None:
        return endpoint
    try:
        expressions.check(text)
    except expressions.ExpressionError as exc:
        raise FeelError(str(exc), text) from None
    return lambda context: expressions.evaluate(text, context)


def parse_values(text: str) -> list[Any]:
    """A comma-separated list of literals (DMN outputValues / inputValues) as Python values."""
    text = (text or "").strip()
    if not text:
        return []
    parser = _Parser(text)
    values = [parser.endpoint()({})]
    while parser.at("OP", ","):
        parser.i += 1
        values.append(parser.endpoint()({}))
    parser.done()
    return values
