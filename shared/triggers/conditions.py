"""The trigger condition language: a small, safe expression language over an event's fields.

Conditions are parsed by a recursive-descent parser into a tree of closures;
nothing is ever handed to ``eval``. Grammar (keywords are lower case)::

    condition  := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand
                          | ["not"] "in" (list | path)
                          | ["not"] "contains" operand ]
    operand    := literal | path | "(" or_expr ")"
    list       := "[" [literal ("," literal)* [","]] "]"
    path       := NAME ("." NAME)*            NAME = [A-Za-z_][A-Za-z0-9_]*
    literal    := STRING | NUMBER | "true" | "false" | "null"

Strings are double- or single-quoted with backslash escapes; numbers are
integers or decimals, optionally negative. A lone operand is true when its
value is truthy.

Semantics: a path names a field of the event (``severity``,
``details.cvss_score``); a missing field is ``null``. ``==``/``!=`` compare
any values; ordering operators compare two numbers or two strings and are
false for anything else (never an error). ``x in [..]`` tests membership;
``x in path`` tests membership in a list field or a substring of a string
field; ``a contains b`` is ``b in a``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ("Condition", "InvalidCondition", "compile_condition", "condition_fields")

Evaluator = Callable[[Mapping[str, Any]], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "true", "false", "null"})
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
_MAX_LENGTH = 4000
_MAX_DEPTH = 50


class InvalidCondition(ValueError):
    """A condition does not parse; the message says where and what was expected."""


class _Token:
    __slots__ = ("kind", "offset", "text", "value")

    def __init__(self, kind: str, text: str, value: Any, offset: int) -> None:
        self.kind = kind
        self.text = text
        self.value = value
        self.offset = offset


def _unescape(body: str, offset: int) -> str:
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, "")
        if escaped not in _ESCAPES:
            raise InvalidCondition(f"unknown escape '\\{escaped}' in the string at {offset}")
        out.append(_ESCAPES[escaped])
    return "".join(out)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            rest = text[position:]
            if rest.isspace():
                break
            start = position + len(rest) - len(rest.lstrip())
            raise InvalidCondition(f"unexpected character {text[start]!r} at {start}")
        kind = match.lastgroup
        assert kind is not None
        raw = match.group(kind)
        offset = match.start(kind)
        value: Any = raw
        if kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "string":
            value = _unescape(raw[1:-1], offset)
        elif kind == "name" and raw in _KEYWORDS:
            kind = "keyword"
        tokens.append(_Token(kind, raw, value, offset))
        position = match.end()
    tokens.append(_Token("end", "", None, len(text)))
    return tokens


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def safe(left: Any, right: Any) -> bool:
        numbers = (int, float)
        if isinstance(left, bool) or isinstance(right, bool):
            return False
        if isinstance(left, numbers) and isinstance(right, numbers):
            return compare(left, right)
        if isinstance(left, str) and isinstance(right, str):
            return compare(left, right)
        return False

    return safe


def _member(item: Any, container: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple | set | frozenset):
        return item in container
    return False


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": _ordered(operator.lt),
    "<=": _ordered(operator.le),
    ">": _ordered(operator.gt),
    ">=": _ordered(operator.ge),
}


def _lookup(path: tuple[str, ...]) -> Evaluator:
    def resolve(fields: Mapping[str, Any]) -> Any:
        value: Any = fields
        for part in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return resolve


class _Parser:
    """Recursive descent over the token list; each rule returns an evaluator."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.paths: set[str] = set()

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.current
        return token.kind == kind and (text is None or token.text == text)

    def expect(self, kind: str, text: str, what: str) -> None:
        if not self.at(kind, text):
            self.fail(what)
        self.advance()

    def fail(self, expected: str) -> None:
        token = self.current
        found = "the end of the condition" if token.kind == "end" else repr(token.text)
        raise InvalidCondition(f"expected {expected} at {token.offset}, found {found}")

    def parse(self) -> Evaluator:
        if self.current.kind == "end":
            raise InvalidCondition("the condition is empty")
        evaluator = self.or_expr()
        if not self.at("end"):
            self.fail("'and', 'or' or the end of the condition")
        return evaluator

    def or_expr(self) -> Evaluator:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise InvalidCondition(f"the condition nests deeper than {_MAX_DEPTH} levels")
        parts = [self.and_expr()]
        while self.at("keyword", "or"):
            self.advance()
            parts.append(self.and_expr())
        self.depth -= 1
        if len(parts) == 1:
            return parts[0]
        return lambda fields: any(part(fields) for part in parts)

    def and_expr(self) -> Evaluator:
        parts = [self.not_expr()]
        while self.at("keyword", "and"):
            self.advance()
            parts.append(self.not_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda fields: all(part(fields) for part in parts)

    def not_expr(self) -> Evaluator:
        if self.at("keyword", "not"):
            self.advance()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise InvalidCondition(f"the condition nests deeper than {_MAX_DEPTH} levels")
            inner = self.not_expr()
            self.depth -= 1
            return lambda fields: not inner(fields)
        return self.comparison()

    def comparison(self) -> Evaluator:
        left = self.operand()
        token = self.current
        if token.kind == "op" and token.text in _COMPARISONS:
            self.advance()
            compare = _COMPARISONS[token.text]
            right = self.operand()
            return lambda fields: compare(left(fields), right(fields))
        negate = False
        if self.at("keyword", "not"):
            self.advance()
            negate = True
            if not (self.at("keyword", "in") or self.at("keyword", "contains")):
                self.fail("'in' or 'contains' after 'not'")
        if self.at("keyword", "in"):
            self.advance()
            container = self.list_literal() if self.at("op", "[") else self.path()
            return self._membership(left, container, negate)
        if self.at("keyword", "contains"):
            self.advance()
            item = self.operand()
            return self._membership(item, left, negate)
        return lambda fields: bool(left(fields))

    @staticmethod
    def _membership(item: Evaluator, container: Evaluator, negate: bool) -> Evaluator:
        if negate:
            return lambda fields: not _member(item(fields), container(fields))
        return lambda fields: _member(item(fields), container(fields))

    def operand(self) -> Evaluator:
        token = self.current
        if token.kind == "op" and token.text == "(":
            self.advance()
            inner = self.or_expr()
            self.expect("op", ")", "')'")
            return inner
        if token.kind == "name":
            return self.path()
        value = self.literal("a field name, a value or '('")
        return lambda _: value

    def path(self) -> Evaluator:
        if not self.at("name"):
            self.fail("a field name or a list")
        token = self.advance()
        self.paths.add(token.text)
        return _lookup(tuple(token.text.split(".")))

    def literal(self, expected: str) -> Any:
        token = self.current
        if token.kind in ("number", "string"):
            self.advance()
            return token.value
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            self.advance()
            return {"true": True, "false": False, "null": None}[token.text]
        self.fail(expected)
        return None  # pragma: no cover (fail raises)

    def list_literal(self) -> Evaluator:
        self.expect("op", "[", "'['")
        items: list[Any] = []
        while not self.at("op", "]"):
            items.append(self.literal("a value or ']'"))
            if self.at("op", ","):
                self.advance()
            elif not self.at("op", "]"):
                self.fail("',' or ']'")
        self.advance()
        frozen = tuple(items)
        return lambda _: frozen


class Condition:
    """A parsed condition: call `matches` with an event's fields (see `condition_fields`)."""

    def __init__(self, text: str, evaluator: Evaluator, paths: frozenset[str]) -> None:
        self.text = text
        self.paths = paths
        self._evaluate = evaluator

    def matches(self, fields: Mapping[str, Any]) -> bool:
        """Whether the event whose fields these are satisfies the condition."""
        return bool(self._evaluate(fields))


def compile_condition(text: str) -> Condition:
    """Parse `text` into a `Condition`.

    Raises:
        InvalidCondition: the text is not a condition; the message names the
            offending position (0-based character offset) and what was expected.
    """
    if len(text) > _MAX_LENGTH:
        raise InvalidCondition(f"the condition is longer than {_MAX_LENGTH} characters")
    parser = _Parser(text)
    evaluator = parser.parse()
    return Condition(text, evaluator, frozenset(parser.paths))


def condition_fields(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a condition sees for an event: its data, with finding details lifted up.

    Besides the event's own fields (``workspace_id``, ``fingerprint``,
    ``scanner``, ``details.title``, ...), ``type`` is the event type, the
    fields of ``details`` are also reachable without the prefix
    (``severity``, ``title``, ``cve``, ...) and ``cvss`` is ``details.cvss_score``.
    """
    fields = dict(data)
    details = data.get("details")
    if isinstance(details, Mapping):
        for key, value in details.items():
            fields.setdefault(key, value)
        fields.setdefault("cvss", details.get("cvss_score"))
    fields["type"] = event_type
    return fields
