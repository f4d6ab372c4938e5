"""Reads role var files: the literal subset of HCL2 that `*.pkrvars.hcl` data uses.

Role files hold attributes whose values are strings, numbers, booleans or lists of them, with
comments. That is all this reader accepts; anything else (templates, heredocs, functions) is
reported with its line. Packer stays the authority on full HCL: on a syntax error Contrail asks
`packer validate` for Packer's own message. Why not python-hcl2: it keeps quotes and escapes in the
values it returns and costs ~0.5 s to import, which alone would break the ~1 s no-change build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Value = str | int | float | bool | list["Value"]

_TOKENS = re.compile(
    r"""
    (?P<space>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<punct>[=\[\],])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|\$\$\{|%%\{")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


class HclError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int


@dataclass(frozen=True)
class Attribute:
    name: str
    value: Value
    line: int


def parse(text: str) -> dict[str, Attribute]:
    """Attributes by name, each with its value and line; HclError on anything outside the subset."""
    tokens = _tokenize(text)
    attributes: dict[str, Attribute] = {}
    pos = 0
    while pos < len(tokens):
        if tokens[pos].kind == "newline":
            pos += 1
            continue
        name = tokens[pos]
        if name.kind != "ident":
            raise HclError(name.line, f"expected an attribute name, found {name.text!r}")
        if pos + 1 >= len(tokens) or tokens[pos + 1].text != "=":
            raise HclError(name.line, f"expected '=' after {name.text!r}")
        if name.text in attributes:
            raise HclError(name.line, f"{name.text!r} is set twice (first on line {attributes[name.text].line})")
        value, pos = _value(tokens, pos + 2, name.line)
        if pos < len(tokens) and tokens[pos].kind != "newline":
            raise HclError(tokens[pos].line, f"unexpected {tokens[pos].text!r} after the value of {name.text!r}")
        attributes[name.text] = Attribute(name.text, value, name.line)
    return attributes


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    line, pos = 1, 0
    while pos < len(text):
        match = _TOKENS.match(text, pos)
        if not match:
            raise HclError(line, f"unexpected {text[pos]!r} (role files hold only literal values)")
        kind, chunk = match.lastgroup or "", match.group()
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, chunk, line))
        line += chunk.count("\n")
        pos = match.end()
    return tokens


def _value(tokens: list[Token], pos: int, line: int) -> tuple[Value, int]:
    if pos >= len(tokens) or tokens[pos].kind == "newline":
        raise HclError(line, "missing value after '='")
    token = tokens[pos]
    if token.kind == "string":
        return _string(token), pos + 1
    if token.kind == "number":
        return (float(token.text) if "." in token.text else int(token.text)), pos + 1
    if token.kind == "ident" and token.text in ("true", "false"):
        return token.text == "true", pos + 1
    if token.text == "[":
        return _list(tokens, pos + 1, token.line)
    raise HclError(token.line, f"{token.text!r} is not a literal (use a quoted string, number, bool or list)")


def _list(tokens: list[Token], pos: int, line: int) -> tuple[Value, int]:
    items: list[Value] = []
    while True:
        while pos < len(tokens) and tokens[pos].kind == "newline":
            pos += 1
        if pos >= len(tokens):
            raise HclError(line, "unclosed '['")
        if tokens[pos].text == "]":
            return items, pos + 1
        item, pos = _value(tokens, pos, tokens[pos].line)
        items.append(item)
        while pos < len(tokens) and tokens[pos].kind == "newline":
            pos += 1
        if pos < len(tokens) and tokens[pos].text == ",":
            pos += 1
        elif pos < len(tokens) and tokens[pos].text != "]":
            raise HclError(tokens[pos].line, "expected ',' or ']' in the list")


def _string(token: Token) -> str:
    body = token.text[1:-1]
    if re.search(r"(?<![$%])[$%]\{", body.replace("$${", "").replace("%%{", "")):
        raise HclError(token.line, "templates (${…}, %{…}) are not allowed in role data; write the value out")
    return _ESCAPES.sub(_unescape, body)


def _unescape(match: re.Match[str]) -> str:
    text = match.group()
    if text in ("$${", "%%{"):
        return text[1:]
    code = match.group(1)
    if code[0] in "uU":
        return chr(int(code[1:], 16))
    return _SIMPLE_ESCAPES.get(code, code)
