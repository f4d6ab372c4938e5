"""Masking in transit: the rows of a dump rewritten on this host, on their way to the loader, so that the
original values of masked columns never reach a database at all — not even the scratch one.

A dump's rows are where its tools put them: `COPY … FROM stdin` data (pg_dump, and `pg_restore -f -` of a
custom-format dump) and extended `INSERT INTO … VALUES (…),(…)` (mysqldump / mariadb-dump, whose columns
are those of the `CREATE TABLE` before it). Each masked field is decoded by the client's rules, replaced
by its fake (or NULL) and encoded again; everything else passes byte for byte. The originals are kept
(in memory, for the verification pass). A rule whose column this reading does not find (rows written in
another form, e.g. `pg_dump --inserts`) is left to the masking in the scratch database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from contrail.staging import dumpsql
from contrail.staging.anonymise import Fakes, Rule

COPY_HEADER = re.compile(
    r"^\s*COPY\s+((?:\"(?:[^\"]|\"\")*\"|[\w$]+)(?:\.(?:\"(?:[^\"]|\"\")*\"|[\w$]+))?)\s*\(([^)]*)\)\s+FROM\s+stdin",
    re.I,
)
_COPY_UNESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_COPY_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF NOT EXISTS\s+)?(`(?:[^`]|``)*`|\w+)\s*\((.*)\)", re.I | re.S)
_LEADING = re.compile(r"^(?:\s+|--[^\n]*\n|#[^\n]*\n|/\*(?!M?!).*?\*/)*", re.S)  # blank lines, comments
_MY_INSERT = re.compile(
    r"\s*(?:INSERT(?:\s+IGNORE)?|REPLACE)\s+INTO\s+(`(?:[^`]|``)*`|\w+)\s*(?:\(([^)]*)\)\s*)?VALUES\s*", re.I
)
_MY_STRING = r"'(?:[^'\\]++|\\.|'')*+'"
_MY_TUPLE = re.compile(rf"\(((?:{_MY_STRING}|[^'()]++)*+)\)", re.S)
_MY_FIELD = re.compile(rf"(?:{_MY_STRING}|[^,']++)++", re.S)
_MY_TOKEN = re.compile(r"""'(?:[^'\\]++|\\.|'')*+'|[(),]|[^'(),]+""", re.S)
_MY_UNESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


@dataclass
class Masked:
    """What masking in transit did: the rewritten dump and the originals it replaced."""

    data: bytes
    originals: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (table, column) → values
    applied: set[tuple[str, str]] = field(default_factory=set)  # the masked columns whose rows it met


# The encodings a dump declares (`SET NAMES …`, `SET client_encoding = …`) that masking in transit reads, by
# each engine's names for them; rows written in any other (`SET NAMES binary`, SQL_ASCII, a national code
# page) are left to the masking in the scratch database, which reads values through the server's own
# conversion. MariaDB's latin1 is Windows-1252; PostgreSQL's LATIN1 is ISO 8859-1.
MY_CODECS = {"utf8": "utf-8", "utf8mb3": "utf-8", "utf8mb4": "utf-8", "latin1": "cp1252", "ascii": "ascii"}
PG_CODECS = {"utf8": "utf-8", "unicode": "utf-8", "latin1": "latin-1", "win1252": "cp1252"}
_MY_CHARSET = re.compile(r"\s*(?:/\*!\d*\s*)?SET\s+(NAMES|character_set_client)\b\s*=?\s*'?(@?\w+)", re.I)
_PG_CHARSET = re.compile(r"\s*SET\s+client_encoding\s*(?:=|TO)\s*'?(\w+)", re.I)


class _Masker:
    """The rules by table, the fakes, the dump's encoding as declared so far, and the originals met."""

    def __init__(self, rules: list[Rule], fakes: Fakes) -> None:
        self.by_table: dict[str, dict[str, str]] = {}
        for rule in rules:
            if rule.kind != "keep":
                self.by_table.setdefault(rule.table, {})[rule.column] = rule.kind
        self.fakes = fakes
        self.codec: str | None = "utf-8"  # None: an encoding this reading does not decode
        self.names = "utf8mb4"  # MariaDB: the last SET NAMES, what `SET character_set_client = @saved` restores
        self.originals: dict[tuple[str, str], set[str]] = {}
        self.applied: set[tuple[str, str]] = set()
        self.unreadable: set[tuple[str, str]] = set()  # met in an encoding it could not decode: left to the database

    def declare(self, name: str, codecs: dict[str, str]) -> None:
        self.codec = codecs.get(name.lower())

    def plan(self, table: str, columns: list[str]) -> dict[int, tuple[str, str]]:
        """Field index → (column, rule kind) of the masked columns among `columns`."""
        kinds = self.by_table.get(table, {})
        found = {i: (c, kinds[c]) for i, c in enumerate(columns) if c in kinds}
        if self.codec is None:
            self.unreadable |= {(table, c) for c, _ in found.values()}
            return {}
        self.applied |= {(table, c) for c, _ in found.values()}
        return found

    def result(self, text: list[str]) -> Masked:
        return Masked("".join(text).encode("latin-1"), self.originals, self.applied - self.unreadable)

    def decode(self, table: str, column: str, view: str) -> str | None:
        """A field's text from the Latin-1 view of its bytes, by the dump's encoding (None, and the column
        left to the database, where its bytes are not text in that encoding)."""
        if view.isascii():
            return view
        try:
            return view.encode("latin-1").decode(self.codec or "")
        except (UnicodeDecodeError, LookupError):
            self.unreadable.add((table, column))
            return None

    def encode(self, text: str) -> str:
        """Text as the Latin-1 view of its bytes in the dump's encoding (a fake it cannot hold: `?`)."""
        return text if text.isascii() else text.encode(self.codec or "utf-8", errors="replace").decode("latin-1")

    def replace(self, table: str, column: str, kind: str, value: str) -> str | None:
        """The fake for an original value (None: the column becomes NULL)."""
        self.originals.setdefault((table, column), set()).add(value)
        return None if kind == "null" else self.fakes.fake(kind, value)


def mask_postgresql(data: bytes, rules: list[Rule], fakes: Fakes) -> Masked:
    """COPY data of a (filtered) plain PostgreSQL script with its masked columns rewritten."""
    masker = _Masker(rules, fakes)
    if not masker.by_table:
        return Masked(data)
    text = data.decode("latin-1")
    out: list[str] = []
    plan: dict[int, tuple[str, str]] = {}
    table = ""
    for piece in dumpsql.tiled(dumpsql.pg_pieces(text), len(text)):
        chunk = text[piece.start : piece.end]
        if piece.kind == "sql":
            code = dumpsql.pg_code(chunk)
            declared = _PG_CHARSET.match(code) if "ENCODING" in code.upper() else None
            if declared:
                masker.declare(declared.group(1), PG_CODECS)
            header = COPY_HEADER.match(code) if "COPY" in chunk.upper() else None
            table, plan = _copy_plan(header, masker) if header else ("", {})
        elif piece.kind == "data" and plan:
            chunk = "".join(_copy_row(line, table, plan, masker) for line in chunk.splitlines(keepends=True))
        out.append(chunk)
    return masker.result(out)


def _copy_plan(header: re.Match[str], masker: _Masker) -> tuple[str, dict[int, tuple[str, str]]]:
    parts = [dumpsql.unquote(p) for p in re.findall(r'"(?:[^"]|"")*"|[\w$]+', header.group(1))]
    table = parts[-1] if len(parts) == 1 or parts[0] == "public" else f"{parts[0]}.{parts[1]}"
    columns = [dumpsql.unquote(c.strip()) for c in header.group(2).split(",")]
    return table, masker.plan(table, columns)


def _copy_row(line: str, table: str, plan: dict[int, tuple[str, str]], masker: _Masker) -> str:
    if line.startswith("\\."):
        return line
    body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
    fields = body.split("\t")
    for index, (column, kind) in plan.items():
        if index < len(fields) and fields[index] != "\\N":
            field = fields[index]
            if "\\" in field:
                field = _COPY_ESCAPE.sub(_copy_unescape, field)
            original = masker.decode(table, column, field)
            if original is not None:
                fake = masker.replace(table, column, kind, original)
                fields[index] = "\\N" if fake is None else _copy_text(fake, masker)
    return "\t".join(fields) + newline


def _copy_text(value: str, masker: _Masker) -> str:
    """A value as a COPY row field, in the Latin-1 view (the common case, plain ASCII, as it is)."""
    if value.isascii() and value.isprintable() and "\\" not in value:
        return value
    return masker.encode(value.translate(dumpsql.COPY_ESCAPES))


def _copy_unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] == "x" and len(code) > 1:
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    return _COPY_UNESCAPES.get(code, code)


def mask_mysql(data: bytes, rules: list[Rule], fakes: Fakes) -> Masked:
    """Extended INSERTs of a (filtered) mysqldump script with their masked columns rewritten."""
    masker = _Masker(rules, fakes)
    if not masker.by_table:
        return Masked(data)
    text = data.decode("latin-1")
    columns_of: dict[str, list[str]] = {}
    out: list[str] = []
    for piece in dumpsql.tiled(dumpsql.my_pieces(text), len(text)):
        chunk = text[piece.start : piece.end]
        if piece.kind == "sql":
            chunk = _my_statement(chunk, columns_of, masker)
        out.append(chunk)
    return masker.result(out)


def _my_statement(chunk: str, columns_of: dict[str, list[str]], masker: _Masker) -> str:
    declared = _MY_CHARSET.match(chunk) if "SET" in chunk[:24].upper() else None
    if declared:
        kind, name = declared.groups()
        if kind.upper() == "NAMES":
            masker.names = name
        masker.declare(masker.names if name.startswith("@") else name, MY_CODECS)  # `= @saved`: back to NAMES
        return chunk
    insert = _MY_INSERT.match(chunk)
    if not insert:
        create = _CREATE_TABLE.match(_LEADING.sub("", chunk)) if "CREATE" in chunk.upper() else None
        if create:
            columns_of[dumpsql.unquote(create.group(1))] = _my_columns(create.group(2))
        return chunk
    table = dumpsql.unquote(insert.group(1))
    named = insert.group(2)
    columns = [dumpsql.unquote(c.strip()) for c in named.split(",")] if named else columns_of.get(table, [])
    plan = masker.plan(table, columns)
    if not plan:
        return chunk
    rewrite = lambda i, v: _my_field(table, plan, masker, i, v)  # noqa: E731
    return chunk[: insert.end()] + _my_tuples(chunk[insert.end() :], set(plan), rewrite)


_FIRST_NAME = re.compile(r"`(?:[^`]|``)*`|\S+")
_NOT_A_COLUMN = re.compile(r"(PRIMARY|KEY|UNIQUE|CONSTRAINT|INDEX|FULLTEXT|SPATIAL|FOREIGN|CHECK|PERIOD)\b", re.I)


def _my_columns(body: str) -> list[str]:
    """The column names of a CREATE TABLE's body, in order (its definitions split at top-level commas)."""
    parts, depth, current = [], 0, []
    for token in _MY_TOKEN.findall(body):
        if token == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += token == "("
        depth -= token == ")"
        current.append(token)
    parts.append("".join(current))
    names = [_FIRST_NAME.match(part) for part in (p.strip() for p in parts) if not _NOT_A_COLUMN.match(part)]
    return [dumpsql.unquote(name.group()) for name in names if name]


def _my_tuples(values: str, indexes: set[int], rewrite: Callable[[int, str], str]) -> str:
    """`(…),(…);` with the fields at `indexes` of each tuple passed through `rewrite(index, field)`."""

    def one(match: re.Match[str]) -> str:
        fields = _MY_FIELD.findall(match.group(1))
        for index in indexes:
            if index < len(fields):
                fields[index] = rewrite(index, fields[index].strip())
        return "(" + ",".join(fields) + ")"

    return _MY_TUPLE.sub(one, values)


def _my_field(table: str, plan: dict[int, tuple[str, str]], masker: _Masker, index: int, token: str) -> str:
    if index not in plan or not token.startswith("'"):
        return token  # unmasked, NULL, a number
    column, kind = plan[index]
    body = token[1:-1]
    if "\\" in body or "''" in body:
        body = re.sub(r"\\(.)|''", _my_unescape, body, flags=re.S)
    original = masker.decode(table, column, body)
    if original is None:
        return token
    fake = masker.replace(table, column, kind, original)
    if fake is None:
        return "NULL"
    if fake.isascii() and "\\" not in fake and "'" not in fake:
        return f"'{fake}'"
    return "'" + masker.encode(fake).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _my_unescape(match: re.Match[str]) -> str:
    if match.group(1) is None:
        return "'"
    char = match.group(1)
    return _MY_UNESCAPES.get(char, char)


MASKERS: dict[str, Callable[[bytes, list[Rule], Fakes], Masked]] = {
    "postgresql": mask_postgresql,
    "mysql": mask_mysql,
}
