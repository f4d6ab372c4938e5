"""Masking in transit: the rows of a dump rewritten on this host, on their way to the loader, so that the
original values of masked columns never reach a database at all — not even the scratch one.

A dump's rows are where its tools put them: `COPY … FROM stdin` data (pg_dump, and `pg_restore -f -` of a
custom-format dump) and extended `INSERT INTO … VALUES (…),(…)` (mysqldump / mariadb-dump, whose columns
are those of the `CREATE TABLE` before it). Each masked field is decoded by the client's rules, replaced
by its fake (or NULL) and encoded again; everything else passes byte for byte. The originals are kept
(in memory, for the verification pass). A rule whose column this reading does not find (rows written in
another form, e.g. `pg_dump --inserts`) is left to the masking in the scratch database.

The same reading counts the rows the dump holds per table (COPY lines, INSERT tuples), for the check
after the load. The masked script comes out in chunks, as it is made, so that the node loads one chunk
while this host masks the next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cached_property

from contrail.staging import dumpsql
from contrail.staging.anonymise import Fakes, Rule
from contrail.staging.dumpsql import Filtered

COPY_HEADER = re.compile(
    r"^\s*COPY\s+((?:\"(?:[^\"]|\"\")*\"|[\w$]+)(?:\.(?:\"(?:[^\"]|\"\")*\"|[\w$]+))?)\s*(?:\(([^)]*)\)\s*)?FROM\s+stdin",
    re.I,
)
_COPY_UNESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_COPY_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_CREATE_TABLE = re.compile(r"\s*CREATE\s+TABLE\s+(?:IF NOT EXISTS\s+)?(`(?:[^`]|``)*`|\w+)\s*\((.*)\)", re.I | re.S)
_LEADING = re.compile(r"^(?:\s+|--[^\n]*\n|#[^\n]*\n|/\*(?!M?!).*?\*/)*", re.S)  # blank lines, comments
_MY_INSERT = re.compile(
    r"\s*(?:INSERT(?P<ignore>\s+IGNORE)?|(?P<replace>REPLACE))\s+INTO\s+(?P<table>`(?:[^`]|``)*`|\w+)\s*(?:\((?P<columns>[^)]*)\)\s*)?VALUES\s*",
    re.I,
)
_MY_STRING = r"'(?:[^'\\]++|\\.|'')*+'"
_MY_TUPLE = re.compile(rf"\(((?:{_MY_STRING}|[^'()]++)*+)\)", re.S)
_MY_FIELD = re.compile(rf"(?:{_MY_STRING}|[^,']++)++", re.S)
_MY_TOKEN = re.compile(r"""'(?:[^'\\]++|\\.|'')*+'|[(),]|[^'(),]+""", re.S)
_MY_UNESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


# The encodings a dump declares (`SET NAMES …`, `SET client_encoding = …`) that masking in transit reads, by
# each engine's names for them; rows written in any other (`SET NAMES binary`, SQL_ASCII, a national code
# page) are left to the masking in the scratch database, which reads values through the server's own
# conversion. MariaDB's latin1 is Windows-1252; PostgreSQL's LATIN1 is ISO 8859-1.
MY_CODECS = {"utf8": "utf-8", "utf8mb3": "utf-8", "utf8mb4": "utf-8", "latin1": "cp1252", "ascii": "ascii"}
PG_CODECS = {"utf8": "utf-8", "unicode": "utf-8", "latin1": "latin-1", "win1252": "cp1252"}
_MY_CHARSET = re.compile(r"\s*(?:/\*!\d*\s*)?SET\s+(NAMES|character_set_client)\b\s*=?\s*'?(@?\w+)", re.I)
_PG_CHARSET = re.compile(r"\s*SET\s+client_encoding\s*(?:=|TO)\s*'?(\w+)", re.I)


# A masked field: its index in the row, its column, its fakes as they go in the script (original → fake,
# shared by the columns of one rule kind), its fake maker (None: NULL), where its originals go.
Step = tuple[int, str, dict[str, str], Callable[[str], str] | None, set[str]]
CHUNK = 1 << 20  # characters of COPY data masked and sent at a time
_MY_ESCAPED = re.compile(r"\\.", re.S)
_NAME = r'(?:"(?:[^"]|"")*"|`(?:[^`]|``)*`|[\w$]+)'
_PG_INSERT = re.compile(rf"INSERT\s+INTO\s+({_NAME}(?:\.{_NAME})?)\s*(?:\([^)]*\)\s*)?VALUES\s", re.I)


class Masking:
    """A filtered dump's script with its masked columns rewritten, as chunks of bytes (`chunks()`, read
    once). Once they are all read: the originals it replaced, the masked columns whose rows it met
    (`applied`) and the rows the dump holds per table (`rows`, by the names `Engine.columns` gives)."""

    def __init__(self, engine: str, filtered: Filtered, rules: list[Rule], fakes: Fakes | None = None) -> None:
        self.engine, self.pieces = engine, filtered.pieces
        self.by_table: dict[str, dict[str, str]] = {}
        for rule in rules:
            if rule.kind != "keep":
                self.by_table.setdefault(rule.table, {})[rule.column] = rule.kind
        self.fakes = fakes
        # (encoding, rule kind) → original → its fake as written in the script
        self.made: dict[tuple[str | None, str], dict[str, str]] = {}
        self.codec: str | None = "utf-8"  # None: an encoding this reading does not decode
        self.names = "utf8mb4"  # MariaDB: the last SET NAMES, what `SET character_set_client = @saved` restores
        self.originals: dict[tuple[str, str], set[str]] = {}
        self.rows: dict[str, int] = {}
        self._applied: set[tuple[str, str]] = set()
        # Masked columns left to the database: met in an encoding this reading does not decode, or also
        # filled by INSERTs (PostgreSQL; the masking there maps every value, these fakes to themselves).
        self.left: set[tuple[str, str]] = set()
        self.uncounted: set[str] = set()  # tables with rows that may not all be kept (REPLACE, INSERT IGNORE)

    @property
    def applied(self) -> set[tuple[str, str]]:
        return self._applied - self.left

    @cached_property
    def data(self) -> bytes:
        """The whole masked script at once (instead of `chunks()`)."""
        return b"".join(self.chunks())

    def expected_rows(self) -> dict[str, int]:
        """Rows per table the loaded database must hold (tables whose rows it cannot know left out)."""
        return {table: n for table, n in self.rows.items() if table not in self.uncounted}

    def fakes_made(self) -> set[str]:
        """Every fake this masking wrote (as written: the fakes of ASCII text are the fakes themselves)."""
        return {fake for made in self.made.values() for fake in made.values()}

    def chunks(self) -> Iterator[bytes]:
        pending: list[str] = []
        size = 0
        for text in self._texts():
            pending.append(text)
            size += len(text)
            if size >= CHUNK:
                yield "".join(pending).encode("latin-1")
                pending, size = [], 0
        if pending:
            yield "".join(pending).encode("latin-1")

    def _texts(self) -> Iterator[str]:
        if self.engine == "postgresql":
            yield from self._postgresql()
        else:
            yield from self._mysql()

    def declare(self, name: str, codecs: dict[str, str]) -> None:
        self.codec = codecs.get(name.lower())

    def plan(self, table: str, columns: list[str]) -> dict[int, tuple[str, str]]:
        """Field index → (column, rule kind) of the masked columns among `columns`."""
        kinds = self.by_table.get(table, {})
        found = {i: (c, kinds[c]) for i, c in enumerate(columns) if c in kinds}
        if self.codec is None:
            self.left |= {(table, c) for c, _ in found.values()}
            return {}
        self._applied |= {(table, c) for c, _ in found.values()}
        return found

    def decode(self, table: str, column: str, view: str) -> str | None:
        """A field's text from the Latin-1 view of its bytes, by the dump's encoding (None, and the column
        left to the database, where its bytes are not text in that encoding)."""
        try:
            return view.encode("latin-1").decode(self.codec or "")
        except (UnicodeDecodeError, LookupError):
            self.left.add((table, column))
            return None

    def encode(self, text: str) -> str:
        """Text as the Latin-1 view of its bytes in the dump's encoding (a fake it cannot hold: `?`)."""
        return text if text.isascii() else text.encode(self.codec or "utf-8", errors="replace").decode("latin-1")

    def steps(self, table: str, plan: dict[int, tuple[str, str]]) -> list[Step]:
        """Per masked field: its index, column, fakes made, fake maker (None: NULL) and the set its originals
        go to."""
        return [
            (
                index,
                column,
                self.made.setdefault((self.codec, kind), {}),
                None if kind == "null" or self.fakes is None else self.fakes.maker(kind),
                self.originals.setdefault((table, column), set()),
            )
            for index, (column, kind) in sorted(plan.items())
        ]

    def name(self, view: str) -> str:
        """A table's or column's name, unquoted, from the Latin-1 view of its bytes (as the engine lists it)."""
        name = dumpsql.unquote(view)
        return name if name.isascii() else name.encode("latin-1").decode(self.codec or "utf-8", errors="replace")

    def display(self, qualified: str) -> str:
        """`schema.name` (quoted or not) → the name for public, else schema.name (as `Engine.columns` names it)."""
        parts = [self.name(part) for part in re.findall(_NAME, qualified)]
        return parts[-1] if len(parts) == 1 or parts[0] == "public" else f"{parts[0]}.{parts[1]}"

    def count(self, table: str, rows: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows

    # --- PostgreSQL: COPY data -----------------------------------------------------------------------

    def _postgresql(self) -> Iterator[str]:
        table, plan = "", {}
        for kind, chunk in self.pieces:
            if kind == "sql":
                code = chunk[_skip(chunk, dumpsql.PG_BLANK) :]
                head = code[:12].upper()
                if head.startswith("SET"):
                    declared = _PG_CHARSET.match(dumpsql.pg_code(chunk))
                    if declared:
                        self.declare(declared.group(1), PG_CODECS)
                table, plan = "", {}
                if head.startswith("COPY"):
                    header = COPY_HEADER.match(dumpsql.pg_code(chunk))
                    if header:
                        table, plan = self._copy_plan(header)
                elif head.startswith("INSERT"):
                    insert = _PG_INSERT.match(code)
                    if insert:
                        values, inserted = code[insert.end() :], self.display(insert.group(1))
                        self.count(inserted, _tuples(values, backslash=False))
                        self.left |= {(inserted, column) for column in self.by_table.get(inserted, {})}
                yield chunk
            elif kind == "data" and table:
                yield from self._copy_data(chunk, table, plan)
            else:
                yield chunk

    def _copy_plan(self, header: re.Match[str]) -> tuple[str, dict[int, tuple[str, str]]]:
        table = self.display(header.group(1))
        if header.group(2) is None:  # no column list: rows counted, the columns left to the database
            return table, {}
        return table, self.plan(table, [self.name(c) for c in header.group(2).split(",")])

    def _copy_data(self, chunk: str, table: str, plan: dict[int, tuple[str, str]]) -> Iterator[str]:
        """The data piece after a COPY header (the rest of the header's line, the rows, the `\\.` line),
        counted and, with a plan, masked a block of lines at a time."""
        first = chunk.find("\n") + 1
        if not first:
            yield chunk
            return
        yield chunk[:first]
        steps = self.steps(table, plan)
        terminator = chunk.find("\n\\.", first - 1)
        rows_end = terminator + 1 if terminator >= 0 else len(chunk)
        at = first
        while at < rows_end:
            stop = chunk.find("\n", min(at + CHUNK, rows_end - 1))
            stop = rows_end if stop < 0 else stop + 1
            block = chunk[at:stop]
            rows = block.count("\n") + (not block.endswith("\n"))
            if steps:
                masked = self._mask_copy_columns(block, rows, steps) if block.endswith("\n") else None
                if masked is None:
                    lines = block.split("\n")
                    self._mask_copy_lines(lines, rows, table, steps)
                    masked = "\n".join(lines)
                block = masked
            self.count(table, rows)
            yield block
            at = stop
        yield chunk[rows_end:]

    def _mask_copy_columns(self, block: str, rows: int, steps: list[Step]) -> str | None:
        """`rows` lines of COPY data (each ending in a newline) with their masked fields replaced, a column at
        a time: the rows split into one list of fields, each masked column a slice of it, its new values
        made for the values not met before, the rows joined again — C loops but for each new value's fake.
        None (for `_mask_copy_lines`) when a row has another width, or a masked column holds an escaped
        value or bytes its encoding does not decode."""
        width = block.count("\t", 0, block.find("\n")) + 1
        fields = block[:-1].replace("\n", "\t").split("\t")
        if len(fields) != rows * width:
            return None
        columns = []
        for index, _, made, fake, seen in steps:
            values = fields[index::width] if index < width else []
            joined = "\t".join(values)  # a raw tab is never inside a field
            if not values or joined.count("\\") != values.count("\\N"):
                return None
            if not joined.isascii():
                try:
                    values = joined.encode("latin-1").decode(self.codec or "").split("\t")
                except (UnicodeDecodeError, LookupError):
                    return None
            columns.append((index, values, made, fake, seen))
        for index, values, made, fake, seen in columns:
            present = set(values)
            present.discard("\\N")  # here always the NULL marker (a text "\\N" is escaped: the row path's)
            seen.update(present)
            if fake is None:
                fields[index::width] = ["\\N"] * rows
                continue
            fresh = present.difference(made)
            if fresh:
                new = list(map(fake, fresh))
                together = "".join(new)
                if not (together.isprintable() and together.isascii() and "\\" not in together):
                    new = [self.encode(text.translate(dumpsql.COPY_ESCAPES)) for text in new]
                made.update(zip(fresh, new, strict=True))
            fields[index::width] = list(map(made.get, values, values))  # NULL (\\N, not in made) stays
        return "\n".join(map("\t".join, zip(*(fields[k::width] for k in range(width)), strict=True))) + "\n"

    def _mask_copy_lines(self, lines: list[str], rows: int, table: str, steps: list[Step]) -> None:
        """The first `rows` lines' masked fields replaced by their fakes, in place. Kept tight: it runs once
        per row of every masked table."""
        escape, unescape = dumpsql.COPY_ESCAPES, _COPY_ESCAPE.sub
        for n in range(rows):
            fields = lines[n].split("\t")
            width = len(fields)
            for index, column, made, fake, seen in steps:
                if index >= width:
                    continue
                value = fields[index]
                if value == "\\N":
                    continue
                if "\\" in value:
                    value = unescape(_copy_unescape, value)
                if not value.isascii():
                    decoded = self.decode(table, column, value)
                    if decoded is None:
                        continue
                    value = decoded
                seen.add(value)
                if fake is None:
                    fields[index] = "\\N"
                    continue
                written = made.get(value)
                if written is None:
                    written = fake(value)
                    if not (written.isascii() and written.isprintable() and "\\" not in written):
                        written = self.encode(written.translate(escape))
                    made[value] = written
                fields[index] = written
            lines[n] = "\t".join(fields)

    # --- MySQL / MariaDB: extended INSERTs -----------------------------------------------------------

    def _mysql(self) -> Iterator[str]:
        columns_of: dict[str, list[str]] = {}
        for kind, chunk in self.pieces:
            yield self._my_statement(chunk, columns_of) if kind == "sql" else chunk

    def _my_statement(self, chunk: str, columns_of: dict[str, list[str]]) -> str:
        code = _skip(chunk, _LEADING)
        declared = _MY_CHARSET.match(chunk, code) if "SET" in chunk[code : code + 24].upper() else None
        if declared:
            kind, name = declared.groups()
            if kind.upper() == "NAMES":
                self.names = name
            self.declare(self.names if name.startswith("@") else name, MY_CODECS)  # `= @saved`: back to NAMES
            return chunk
        insert = _MY_INSERT.match(chunk, code)
        if not insert:
            create = _CREATE_TABLE.match(chunk, code) if "CREATE" in chunk[code : code + 12].upper() else None
            if create:
                columns_of[self.name(create.group(1))] = [self.name(c) for c in _my_columns(create.group(2))]
            return chunk
        table = self.name(insert.group("table"))
        if insert.group("ignore") or insert.group("replace"):
            self.uncounted.add(table)  # REPLACE, INSERT IGNORE: rows may replace or skip others
        named = insert.group("columns")
        columns = [self.name(c) for c in named.split(",")] if named else columns_of.get(table, [])
        plan = self.plan(table, columns)
        values = chunk[insert.end() :]
        if not plan:
            self.count(table, _tuples(values, backslash=True))
            return chunk
        steps = self.steps(table, plan)
        rewritten, rows = _MY_TUPLE.subn(lambda match: self._my_tuple(match, table, steps), values)
        self.count(table, rows)
        return chunk[: insert.end()] + rewritten

    def _my_tuple(self, match: re.Match[str], table: str, steps: list[Step]) -> str:
        fields = _MY_FIELD.findall(match.group(1))
        for index, column, made, fake, seen in steps:
            if index < len(fields):
                fields[index] = self._my_field(table, column, made, fake, seen, fields[index].strip())
        return "(" + ",".join(fields) + ")"

    def _my_field(
        self,
        table: str,
        column: str,
        made: dict[str, str],
        fake: Callable[[str], str] | None,
        seen: set[str],
        token: str,
    ) -> str:
        if not token.startswith("'"):
            return token  # NULL, a number
        value = token[1:-1]
        if "\\" in value or "''" in value:
            value = re.sub(r"\\(.)|''", _my_unescape, value, flags=re.S)
        if not value.isascii():
            decoded = self.decode(table, column, value)
            if decoded is None:
                return token
            value = decoded
        seen.add(value)
        if fake is None:
            return "NULL"
        written = made.get(value)
        if written is None:
            written = made[value] = _my_string(self.encode(fake(value)))
        return written


def _my_string(text: str) -> str:
    """A MySQL string literal, as mysqldump writes one."""
    if "\\" not in text and "'" not in text:
        return f"'{text}'"
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _skip(chunk: str, blank: re.Pattern[str]) -> int:
    """Where a statement's code begins, after the blank lines and comments before it."""
    return blank.match(chunk).end()  # type: ignore[union-attr]


def _tuples(values: str, backslash: bool) -> int:
    """Row tuples in a VALUES list: its opening parentheses outside quoted strings (a dumped value is a
    literal, never a call). With `backslash` (MySQL), a backslash escapes the character after it."""
    if "'" not in values:
        return values.count("(")
    if backslash and "\\" in values:
        values = _MY_ESCAPED.sub("", values)
    return sum(part.count("(") for part in values.split("'")[::2])  # '' inside a string: an empty part between


def _copy_unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] == "x" and len(code) > 1:
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    return _COPY_UNESCAPES.get(code, code)


_FIRST_NAME = re.compile(r"`(?:[^`]|``)*`|\S+")
_NOT_A_COLUMN = re.compile(r"(PRIMARY|KEY|UNIQUE|CONSTRAINT|INDEX|FULLTEXT|SPATIAL|FOREIGN|CHECK|PERIOD)\b", re.I)


def _my_columns(body: str) -> list[str]:
    """The column names of a CREATE TABLE's body as written (quoted or not), in order (its definitions
    split at top-level commas)."""
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
    return [name.group() for name in names if name]


def _my_unescape(match: re.Match[str]) -> str:
    if match.group(1) is None:
        return "'"
    char = match.group(1)
    return _MY_UNESCAPES.get(char, char)
