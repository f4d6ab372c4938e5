"""A dump is data until it is loaded: a plain SQL dump is read statement by statement on the host, before
any of it reaches a database client on the staging node.

What may reach the loader is only what creates and fills objects in the scratch database. Statements that
switch, create or drop *databases* (`CREATE DATABASE`, `USE`, `\\connect`, `DROP DATABASE` …) are dropped
when the dump holds exactly one database (so `pg_dump -C` and `mysqldump --databases` dumps load into the
scratch database); a dump of several databases is refused, naming them. Client commands that reach the
shell or other files (`\\!`, `\\copy`, `\\o`, `\\i`, `system`, `source`, `tee` …), server-side programs and
files (`COPY … PROGRAM`, `COPY … FROM 'file'`, `LOAD DATA`, `INTO OUTFILE`) and role or system changes
(`SET ROLE`, `SET SESSION AUTHORIZATION`, `ALTER SYSTEM`, `CREATE ROLE`, MySQL `GRANT` …) are refused,
naming file:line. Ownership and privileges (`ALTER … OWNER TO`, PostgreSQL `GRANT`/`REVOKE`, MySQL
`DEFINER=`) are removed, as `pg_restore --no-owner --no-acl` does.

This is the first of two walls: the loader also runs as an unprivileged system user, connected as a role
with rights on the scratch database only (`contrail.staging`), so whatever this reading misses, the server
and the operating system refuse.

Dropped text is replaced by its own line breaks, so line numbers stay those of the user's file and the
client's own errors point into it. The dump is read as Latin-1 (one character per byte, lossless): SQL's
syntax is ASCII, and the bytes go out unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from contrail.errors import ConfigError

# How COPY's text format (and `mariadb -B`) write a backslash, tab, newline and carriage return in a field.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
HINT = "a staging refresh loads one database's tables and data; re-create the dump with the engine's dump tool"


@dataclass(frozen=True)
class Piece:
    """One unit of a script as its client reads it: a statement with its delimiter, a client command line,
    or the data lines of a COPY."""

    kind: str  # "sql" | "command" | "data" (and "gap": what lies between them)
    start: int
    end: int


@dataclass(frozen=True)
class Filtered:
    """What the loader receives, as (kind, text) pieces — a statement ("sql"), COPY data ("data"), or
    anything else ("gap": blank lines, comments, dropped text kept as its line breaks) — so that masking
    in transit reads the script without parsing it again."""

    pieces: list[tuple[str, str]]
    databases: tuple[str, ...]  # the database the dump named (none when it names none)
    removed: int  # statements and clauses taken out

    @property
    def data(self) -> bytes:
        return "".join(text for _, text in self.pieces).encode("latin-1")


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _blank(text: str) -> str:
    """Text replaced by its own line breaks, so the lines after it keep their numbers."""
    return "\n" * text.count("\n")


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end + 1


def _backslash_command(text: str, start: int, i: int, pending: bool) -> Iterator[Piece]:
    """A client's backslash command at i, to the end of its line; the statement text before it (`pending`)
    as the client would send it."""
    if pending:
        yield Piece("sql", start, i)
    yield Piece("command", i, _line_end(text, i))


def _closing(text: str, i: int, quote: str, backslash: bool = False) -> int:
    """The offset after the string or quoted identifier opening at i (a doubled quote stays inside; with
    `backslash`, so does an escaped one). An unterminated one runs to the end: the server rejects it."""
    j = i + 1
    while True:
        k = text.find(quote, j)
        if backslash:
            b = text.find("\\", j)
            if 0 <= b < k or (k < 0 <= b):
                j = b + 2
                continue
        if k < 0:
            return len(text)
        if text.startswith(quote, k + 1):
            j = k + 2
            continue
        return k + 1


def tiled(pieces: Iterator[Piece], end: int) -> Iterator[Piece]:
    """The pieces with the text between them (blank lines, comments) as pieces of kind "gap": together
    they cover the whole text, so nothing is lost on the way out."""
    at = 0
    for piece in pieces:
        if piece.start > at:
            yield Piece("gap", at, piece.start)
        yield piece
        at = piece.end
    if end > at:
        yield Piece("gap", at, end)


def unquote(raw: str) -> str:
    """An identifier as written in SQL ("quoted", `quoted` or bare) → the name."""
    raw = raw.strip()
    for quote in ('"', "`"):
        if len(raw) >= 2 and raw[0] == quote and raw[-1] == quote:
            return raw[1:-1].replace(quote * 2, quote)
    return raw


class _Refusal:
    """Collects a refusal's parts: where, what, the fix."""

    def __init__(self, label: str, text: str) -> None:
        self.label, self.text = label, text

    def __call__(self, offset: int, what: str, fix: str = HINT) -> ConfigError:
        return ConfigError(f"{self.label}:{line_of(self.text, offset)}: {what}", fix)


def _opening(code: str) -> str:
    """A statement's first words, to name it in a message."""
    words = code.rstrip("; ").split()
    return " ".join(words[:3]) + (" …" if len(words) > 3 else "")


def _several(refuse: _Refusal, databases: dict[str, int], example: str) -> ConfigError:
    """Refused at the line that names the second database."""
    names = list(databases)
    return refuse(
        databases[names[1]],
        f"the dump holds {len(names)} databases ({', '.join(names)}); a refresh loads one",
        f"dump just the one staging serves ({example})",
    )


# --- PostgreSQL (psql) --------------------------------------------------------------------------------

# A run of ordinary SQL and complete standard strings and quoted identifiers, consumed in one regex call
# (most of a dump); everything else is one step of the loop below.
_PG_RUN = re.compile(r"""(?:[^'"$;\\/\-]++|(?<![eE])'(?:[^']++|'')*+'|"(?:[^"]++|"")*+"|/(?!\*)|-(?!-))++""")
_PG_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\xff][\w\x80-\xff]*)?\$")
_PG_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/""", re.S)
PG_BLANK = re.compile(r"(?:\s++|--[^\n]*|/\*.*?\*/)*", re.S)
_PG_COPY_STDIN = re.compile(r"^COPY\s.*\bFROM\s+STDIN\b", re.I | re.S)


def _ident_char(char: str) -> bool:
    return char.isalnum() or char in "_$" or char >= "\x80"


def pg_pieces(text: str) -> Iterator[Piece]:
    """psql's reading of a script: statements up to `;`, backslash commands (to the end of their line) and
    the data lines after `COPY … FROM stdin;` up to `\\.`."""
    i, start, n = 0, 0, len(text)
    while i < n:
        run = _PG_RUN.match(text, i)
        if run:
            i = run.end()
            continue
        char = text[i]
        if char == ";":
            yield Piece("sql", start, i + 1)
            statement, i = text[start : i + 1], i + 1
            start = i
            if _COPY_WORD.search(statement) and _PG_COPY_STDIN.match(pg_code(statement)):
                i = _copy_data_end(text, _line_end(text, start))  # the data begins on the next line
                yield Piece("data", start, i)
                start = i
            continue
        if char == "'":
            e_string = i > 0 and text[i - 1] in "eE" and not (i > 1 and _ident_char(text[i - 2]))
            i = _closing(text, i, "'", backslash=e_string)
        elif char == '"':
            i = _closing(text, i, '"')
        elif char == "$":
            dollar = _PG_DOLLAR.match(text, i)
            if dollar and not (i > 0 and _ident_char(text[i - 1])):
                end = text.find(dollar.group(), dollar.end())
                i = n if end < 0 else end + len(dollar.group())
            else:
                i += 1
        elif text.startswith("--", i):
            i = _line_end(text, i)
        elif text.startswith("/*", i):
            i = _pg_block_comment(text, i)
        elif char == "\\":
            yield from _backslash_command(text, start, i, pending=bool(text[start:i].strip()))
            start = i = _line_end(text, i)
        else:
            i += 1
    if text[start:].strip():
        yield Piece("sql", start, n)


_COPY_WORD = re.compile(r"\bCOPY\b", re.I)


def _copy_data_end(text: str, data: int) -> int:
    """The offset after the `\\.` line that ends COPY data starting at `data` (the end when there is none)."""
    if text.startswith("\\.", data):
        return _line_end(text, data)
    end = text.find("\n\\.", data - 1)
    return len(text) if end < 0 else _line_end(text, end + 1)


def _pg_block_comment(text: str, i: int) -> int:
    """The offset after a /* */ comment; PostgreSQL's nest."""
    depth, j = 0, i
    while j < len(text):
        if text.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("*/", j):
            depth, j = depth - 1, j + 2
            if depth == 0:
                return j
        else:
            j += 1
    return len(text)


def pg_code(statement: str) -> str:
    """A statement without its comments (strings and quoted names kept), whitespace collapsed."""
    code = _PG_TOKENS.sub(lambda m: " " if m.group().startswith(("--", "/*")) else m.group(), statement)
    return " ".join(code.split())


_PG_META_ALLOWED = re.compile(r"^\\(connect|c|restrict|unrestrict)(\s|$)")
_PG_DROP = [
    # the database object itself (pg_dump -C, --clean): the scratch database stands in for it
    (re.compile(r"^(CREATE|DROP) DATABASE (IF EXISTS )?(?P<db>\"(?:[^\"]|\"\")*\"|[\w$]+)", re.I), True),
    (re.compile(r"^(ALTER|COMMENT ON) DATABASE (?P<db>\"(?:[^\"]|\"\")*\"|[\w$]+)", re.I), True),
    # ownership and privileges (as pg_restore --no-owner --no-acl)
    (re.compile(r"^ALTER \w+(?: \w+)*? .* OWNER TO ", re.I | re.S), False),
    (re.compile(r"^(GRANT|REVOKE)\s", re.I), False),
    (re.compile(r"^ALTER DEFAULT PRIVILEGES\s", re.I), False),
    (re.compile(r"^COMMENT ON EXTENSION\s", re.I), False),
]
_PG_REFUSED = [
    (re.compile(r"^COPY\s.*\b(PROGRAM)\b", re.I | re.S), "COPY … PROGRAM runs a program on the database server"),
    (re.compile(r"^COPY\s.*\b(FROM|TO)\s+(E?'|STDOUT\b)", re.I | re.S), "COPY reads or writes files on the server"),
    (re.compile(r"^(SET|RESET)( SESSION| LOCAL)? (ROLE|SESSION AUTHORIZATION)\b", re.I), "it switches roles"),
    (re.compile(r"^ALTER SYSTEM\b", re.I), "ALTER SYSTEM changes the server's configuration"),
    (
        re.compile(r"^(CREATE|ALTER|DROP) (ROLE|USER|GROUP|TABLESPACE|SUBSCRIPTION)\b", re.I),
        "it changes roles or the server",
    ),
    (re.compile(r"^(LOAD|CHECKPOINT)\b", re.I), "it acts on the server, not a table"),
    (re.compile(r"^(CREATE|ALTER) (SERVER|USER MAPPING|FOREIGN DATA WRAPPER)\b", re.I), "it reaches other servers"),
]


def filter_postgresql(data: bytes, label: str) -> Filtered:
    """A plain pg_dump script (any of -C, --clean, --if-exists), made safe to load into the scratch database."""
    text = data.decode("latin-1")
    refuse = _Refusal(label, text)
    out: list[tuple[str, str]] = []
    databases: dict[str, int] = {}  # name → where the dump first names it
    removed = 0
    for piece in tiled(pg_pieces(text), len(text)):
        chunk = text[piece.start : piece.end]
        if piece.kind in ("data", "gap"):
            out.append((piece.kind, chunk))
            continue
        if piece.kind == "command":
            command = chunk.strip()
            allowed = _PG_META_ALLOWED.match(command)
            if not allowed:
                word = command.split()[0] if command.split() else command
                raise refuse(piece.start, f"psql command {word} refused (client commands reach files and the shell)")
            if allowed.group(1) in ("connect", "c"):
                databases.setdefault(_connect_target(command), piece.start)
            out.append(("gap", _blank(chunk)))
            removed += 1
            continue
        code = pg_code(chunk) if not _PLAIN_HEAD.match(chunk) else ""
        drop = _pg_classify(code, refuse, _code_start(text, piece, PG_BLANK), databases)
        if drop:
            out.append(("gap", _blank(chunk)))
            removed += 1
        else:
            out.append(("sql", chunk))
    names = tuple(databases)
    if len(names) > 1:
        raise _several(refuse, databases, f"pg_dump -d {names[0]} -f {names[0]}.sql")
    return Filtered(out, names, removed)


# Statements taken as they are without looking further: the common, harmless bulk of a dump.
_PLAIN_HEAD = re.compile(r"\s*(INSERT INTO|SET (statement_timeout|lock_timeout|client_encoding|default_\w+) )", re.I)


def _pg_classify(code: str, refuse: _Refusal, offset: int, databases: dict[str, int]) -> bool:
    """True when the statement is to be dropped; raises when it is refused."""
    for pattern, names_database in _PG_DROP:
        match = pattern.match(code)
        if match:
            if names_database:
                databases.setdefault(unquote(match.group("db")), offset)
            return True
    for pattern, why in _PG_REFUSED:
        if pattern.match(code):
            raise refuse(offset, f"`{_opening(code)}` refused: {why}")
    return False


def _connect_target(command: str) -> str:
    """The database a `\\connect` names (pg_dump writes `\\connect db` or `\\connect -reuse-previous=on
    "dbname='db'"`)."""
    args = command.split(None, 1)[1].strip() if len(command.split(None, 1)) > 1 else ""
    quoted = re.search(r"dbname='((?:[^'\\]|\\.)*)'", args)
    if quoted:
        return quoted.group(1).replace("\\'", "'").replace("\\\\", "\\")
    return unquote(args.split()[0]) if args else ""


# --- MySQL / MariaDB (the mariadb client) ---------------------------------------------------------------

_MY_STRINGS = r"""'(?:[^'\\]++|\\.|'')*+'|"(?:[^"\\]++|\\.|"")*+"|`(?:[^`]++|``)*+`"""
_MY_COMMENTS = re.compile(
    rf"""{_MY_STRINGS}|/\*M?!\d*\s?|\*/|/\*.*?\*/|--\s[^\n]*|#[^\n]*""",
    re.S,
)
# Only whitespace and (non-executable) comments: a client command may follow.
_MY_BLANK = re.compile(r"(?:\s++|--\s[^\n]*|#[^\n]*|/\*(?!M?!).*?\*/)*", re.S)
# Client commands by their long names, recognised where a statement begins.
_MY_CLIENT = re.compile(
    r"\s*(system|source|tee|notee|pager|nopager|connect|charset|prompt|edit|exit|quit|rehash|status|warnings|"
    r"nowarning|print|go|ego|clear|help|delimiter)(?=[\s;]|\Z)",
    re.I,
)
_SANDBOX_LINE = re.compile(r"^/\*M!999999\\- enable the sandbox mode \*/", re.M)  # MariaDB ≥ 10.5.25 dumps' first line
DEFINER = re.compile(
    r"\bDEFINER\s*=\s*(?:CURRENT_USER(?:\s*\(\s*\))?|(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.)*'|[\w.$]+)"
    r"(?:\s*@\s*(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.)*'|[\w.%$-]+))?)",
    re.I,
)
_MY_DATABASE = r"(?P<db>`(?:[^`]|``)*`|[\w$]+)"
_MY_DROP = [
    re.compile(rf"^CREATE (DATABASE|SCHEMA) (IF NOT EXISTS )?{_MY_DATABASE}", re.I),
    re.compile(rf"^DROP (DATABASE|SCHEMA) (IF EXISTS )?{_MY_DATABASE}", re.I),
    re.compile(rf"^ALTER (DATABASE|SCHEMA) {_MY_DATABASE}", re.I),
    re.compile(rf"^USE {_MY_DATABASE}\s*;?$", re.I),
]
# Replication metadata (mysqldump --master-data, GTIDs): it means nothing to a staging copy.
_MY_REPLICATION = re.compile(
    r"^(CHANGE MASTER TO|SET @@(GLOBAL|SESSION)\.(GTID_PURGED|SQL_LOG_BIN)|SET GLOBAL gtid_slave_pos)\b", re.I
)
_MY_REFUSED = [
    (re.compile(r"^(GRANT|REVOKE)\b", re.I), "it changes privileges"),
    (re.compile(r"^(CREATE|ALTER|DROP|RENAME) (USER|ROLE)\b", re.I), "it changes accounts"),
    (re.compile(r"^SET (PASSWORD|ROLE|DEFAULT ROLE|GLOBAL|@@GLOBAL)\b", re.I), "it changes accounts or the server"),
    (re.compile(r"^(INSTALL|UNINSTALL) (PLUGIN|SONAME)\b", re.I), "it loads code into the server"),
    (re.compile(r"^LOAD (DATA|XML)\b", re.I), "LOAD DATA reads files"),
    (re.compile(r"^SELECT\b.*\bINTO\s+(OUTFILE|DUMPFILE)\b", re.I), "it writes files on the server"),
    (re.compile(r"^(SHUTDOWN|KILL|FLUSH|START SLAVE|STOP SLAVE|RESET)\b", re.I), "it acts on the server"),
    (re.compile(r"^CREATE SERVER\b", re.I), "it reaches other servers"),
]
_MY_INSERT = re.compile(r"\s*INSERT INTO `(?:[^`]|``)*` (\([^)]*\) )?VALUES\s", re.I)


def _my_run(delimiter: str) -> re.Pattern[str]:
    """Ordinary SQL and complete strings and quoted names, up to anything that needs a look (the
    delimiter's first character, a comment, a backslash)."""
    stop = re.escape(delimiter[0]) if delimiter[0] not in "'\"`#/-\\\n" else ""
    return re.compile(rf"(?:[^'\"`#/\-\\\n{stop}]++|{_MY_STRINGS}|/(?!\*)|-(?!-\s)|\n)++", re.S)


def my_pieces(text: str) -> Iterator[Piece]:
    """The mariadb client's reading of a script: statements up to the delimiter (`;` until a `DELIMITER`
    line changes it) and client commands (a backslash command, or a command's name beginning a statement)."""
    i, start, n, delimiter = 0, 0, len(text), ";"
    run_pattern = _my_run(delimiter)
    while i < n:
        if _MY_BLANK.fullmatch(text, start, i):
            client = _MY_CLIENT.match(text, i)
            if client:
                end = _line_end(text, client.start(1))
                if client.group(1).lower() == "delimiter":
                    words = text[client.end() : end].split()
                    delimiter = words[0] if words else ";"
                    run_pattern = _my_run(delimiter)
                yield Piece("command", client.start(1), end)
                i = start = end
                continue
        run = run_pattern.match(text, i)
        if run:
            i = run.end()
            continue
        if text.startswith(delimiter, i):
            i += len(delimiter)
            yield Piece("sql", start, i)
            start = i
            continue
        char = text[i]
        if char in "'\"":
            i = _closing(text, i, char, backslash=True)
        elif char == "`":
            i = _closing(text, i, "`")
        elif text.startswith("/*", i):
            i = _my_comment_end(text, i)
        elif char == "#" or (text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n")):
            i = _line_end(text, i)
        elif char == "\\":
            yield from _backslash_command(text, start, i, pending=not _MY_BLANK.fullmatch(text, start, i))
            start = i = _line_end(text, i)
        else:
            i += 1
    if not _MY_BLANK.fullmatch(text, start, n):
        yield Piece("sql", start, n)


def _my_comment_end(text: str, i: int) -> int:
    """After a /* */ comment; an executable one (`/*!…`, `/*M!…`) is code, so only its opening is skipped."""
    if re.match(r"/\*M?!", text[i : i + 4]):
        return i + 2
    end = text.find("*/", i + 2)
    return len(text) if end < 0 else end + 2


def my_code(statement: str) -> str:
    """A statement without comments, executable comments unwrapped, whitespace collapsed."""
    code = _MY_COMMENTS.sub(lambda m: m.group() if m.group()[0] in "'\"`" else " ", statement)
    return " ".join(code.split())


def filter_mysql(data: bytes, label: str) -> Filtered:
    """A mysqldump / mariadb-dump script (with or without --databases, --single-transaction, --routines,
    --triggers), made safe to load into the scratch database."""
    # The sandbox line only restricts the client (no shell, no files): dropped wherever a line begins with it
    # (a dump that was concatenated has one per part).
    text = _SANDBOX_LINE.sub(lambda m: " " * len(m.group()), data.decode("latin-1"))
    refuse = _Refusal(label, text)
    out: list[tuple[str, str]] = []
    databases: dict[str, int] = {}  # name → where the dump first names it
    removed = 0
    for piece in tiled(my_pieces(text), len(text)):
        chunk = text[piece.start : piece.end]
        if piece.kind == "gap":
            out.append(("gap", chunk))
            continue
        if piece.kind == "command":
            word = chunk.split()[0] if chunk.split() else chunk
            if word.lower() != "delimiter":
                raise refuse(piece.start, f"client command {word} refused (client commands reach files and the shell)")
            out.append(("gap", chunk))
            continue
        if _MY_INSERT.match(chunk):
            out.append(("sql", chunk))
            continue
        code = my_code(chunk)
        if _my_classify(code, refuse, _code_start(text, piece), databases):
            out.append(("gap", _blank(chunk)))
            removed += 1
            continue
        stripped, count = DEFINER.subn(lambda m: " " * len(m.group()), chunk)
        removed += count
        out.append(("sql", stripped))
    names = tuple(databases)
    if len(names) > 1:
        raise _several(refuse, databases, f"mysqldump --single-transaction {names[0]} > {names[0]}.sql")
    return Filtered(out, names, removed)


def _my_classify(code: str, refuse: _Refusal, offset: int, databases: dict[str, int]) -> bool:
    """True when the statement is to be dropped; raises when it is refused."""
    for pattern in _MY_DROP:
        match = pattern.match(code)
        if match:
            databases.setdefault(unquote(match.group("db")), offset)
            return True
    if _MY_REPLICATION.match(code):
        return True
    for pattern, why in _MY_REFUSED:
        if pattern.match(code):
            raise refuse(offset, f"`{_opening(code)}` refused: {why}")
    return False


def _code_start(text: str, piece: Piece, blank: re.Pattern[str] = _MY_BLANK) -> int:
    """Where a statement's code begins (after the blank lines and comments before it)."""
    blank = blank.match(text, piece.start, piece.end)
    return blank.end() if blank else piece.start


FILTERS: dict[str, Callable[[bytes, str], Filtered]] = {"postgresql": filter_postgresql, "mysql": filter_mysql}
