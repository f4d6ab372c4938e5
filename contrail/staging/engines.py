"""`contrail staging refresh | rollback | pull`: production-shaped, anonymised data for staging.

A refresh never touches the data staging serves until the very end. The dump is read on this host
(`contrail.dumpsql`: statements that reach beyond one database are refused or mapped onto the scratch
database) and streamed through ssh into a scratch database (`<db>__incoming`) by a loader that has rights
on that database alone — never into a file on the node. There it is checked (personal-looking columns
without a rule stop it, every rule must name a real column), counted against the dump, anonymised as the
loader, and searched for any original value of a masked column left anywhere (`contrail.leaks`); only
then is it handed to the app's role and swapped in atomically — PostgreSQL: database renames in one
transaction; MariaDB: one RENAME TABLE of every table — keeping the replaced data as `<db>__previous`
for `staging rollback`. A refresh that fails or is killed leaves `<db>` as it was, and its scratch data
readable by no role but the loader's; the next refresh drops its leftovers first.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import secrets
import shlex
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from contrail.errors import ConfigError, ToolFailed
from contrail.staging import dumpsql, leaks, pii
from contrail.staging.anonymise import Fakes, Rule, check_rules, unmasked
from contrail.staging.dumpsql import Filtered
from contrail.staging.transit import Masking
from contrail.tools.ssh import Remote, error_line, redact

INCOMING, PREVIOUS, SWAP = "__incoming", "__previous", "__swap"
DISCARDED = (
    "__discarded"  # PostgreSQL: the data before the previous, dropped by the next refresh while it reads its dump
)
BATCH = 5000  # mapping rows per INSERT (MariaDB)


@dataclass(frozen=True)
class Refreshed:
    engine: str
    database: str
    tables: dict[str, int]  # table → rows
    anonymised: list[str]  # table.column (rule)
    seconds: float
    unmasked: list[str]  # table.column let through by --allow-unmasked (recorded with the data)
    phases: dict[str, float]  # seconds per phase: load, check, mask, verify, swap

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def must_exist(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"dump {path} does not exist", "pass --from a PostgreSQL or MySQL dump (.sql, .sql.gz, -Fc)")


def open_dump(path: Path) -> bytes:
    """The dump's bytes, gunzipped when it is gzip (by content, not by name)."""
    must_exist(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ConfigError(f"{path}: not a complete gzip file ({err})", "copy the dump again") from None
    return raw


T = TypeVar("T")


LOADER = "contrail_loader"  # the system user and database role a dump is loaded (and masked) as


def pg_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted by its rules."""
    return '"' + name.replace('"', '""') + '"'


def pg_literal(text: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings, as every supported server has it)."""
    return "'" + text.replace("'", "''") + "'"


def my_ident(name: str) -> str:
    """A MySQL/MariaDB identifier, quoted by its rules."""
    return "`" + name.replace("`", "``") + "`"


def my_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def my_grant_pattern(database: str) -> str:
    """A database name in GRANT … ON `db`.*, where `_` and `%` are wildcards unless escaped."""
    return my_ident(database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%"))


def _unhex(value: str) -> str:
    return bytes.fromhex(value).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Relation:
    """A table (or materialized view) that holds rows: its schema, name and kind."""

    schema: str
    name: str
    kind: str  # "table" | "materialized view"


@dataclass(frozen=True)
class StoredObject:
    """A MariaDB trigger, view or routine: what SHOW CREATE gives, to create it elsewhere."""

    kind: str  # TRIGGER | VIEW | PROCEDURE | FUNCTION
    name: str
    create: str
    sql_mode: str
    charset: str


def _unescape(field: str) -> str:
    """A field of `mariadb -B` output, its escapes (\\n, \\t, \\0, \\\\) undone."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0"}.get(m.group(1), m.group(1)), field)


NOTE = "contrail: unmasked by --allow-unmasked: "


def _note(columns: list[str]) -> str:
    return NOTE + json.dumps(columns) if columns else ""


def _read_note(text: str) -> list[str]:
    text = text.strip()
    return list(json.loads(text[len(NOTE) :])) if text.startswith(NOTE) else []


def _creation_order(objects: list[StoredObject]) -> list[StoredObject]:
    """Views after the views their definition names; then routines and triggers (checked when they run)."""
    views = {o.name: o for o in objects if o.kind == "VIEW"}
    ordered: list[StoredObject] = []

    def add(view: StoredObject, seen: frozenset[str]) -> None:
        for other in views.values():
            if (
                other.name not in seen
                and other not in ordered
                and my_ident(other.name) in view.create.split(" AS ", 1)[-1]
            ):
                add(other, seen | {view.name})
        if view not in ordered:
            ordered.append(view)

    for view in views.values():
        add(view, frozenset({view.name}))
    return ordered + [o for o in objects if o.kind != "VIEW"]


class Engine:
    """One staging database server, reached over SSH; subclasses speak its SQL and tools.

    Everything that reads or changes the scratch database runs as the loader: a system user with no
    rights on the node, connected (by peer/unix-socket authentication, no password) as a database role
    with rights on the scratch database only. The dump's own code (triggers, functions, index
    expressions) therefore never runs with more than that, even while Contrail masks or counts. Only the
    steps that create and remove the loader, and the swap itself, run as the server's administrator."""

    name = ""
    separator = "\t"  # between the columns of the client's unaligned output
    map_table = ""  # CREATE TEMPORARY TABLE {} (old …, new …): original → fake
    session: tuple[str, ...] = ()  # settings for the masking session

    def __init__(self, remote: Remote, database: str, user: str) -> None:
        self.remote, self.database, self.user = remote, database, user
        self.incoming = database + INCOMING
        self.relations: dict[str, Relation] = {}  # display name → relation, from columns()
        self._aside: list[StoredObject] = []  # see set_aside

    def admin(self, statements: str, database: str | None = None) -> str:
        """As the server's administrator (no data goes in or out this way)."""
        raise NotImplementedError

    def sql(self, statements: str) -> str:
        """As the loader, in the scratch database; the output (it holds rows) is never logged."""
        raise NotImplementedError

    @property
    def _as_loader(self) -> str:
        """The shell command of the loader's client, in the scratch database."""
        raise NotImplementedError

    def rows(self, statements: str) -> str:
        """`sql` for output of any size (the rows of whole tables), through `Remote.transfer`."""
        status, out, errors = self.remote.transfer(self._as_loader, statements.encode())
        if status:
            raise ToolFailed(f"{self.remote.name}: reading the loaded rows failed: {redact(error_line(errors))}")
        return out.decode("utf-8", errors="replace")

    def confine(self) -> None:
        """A fresh, empty scratch database and a loader with rights on it alone."""
        raise NotImplementedError

    def load(
        self,
        data: bytes,
        label: str,
        rules: list[Rule] | None = None,
        fakes: Fakes | None = None,
        on_masked: Callable[[Masking], object] = lambda masking: None,
    ) -> Masking:
        """The dump's (uncompressed) bytes, read and made safe on this host, its rows counted (and, with
        `rules`, masked) on the way, into the scratch database as the loader; errors name `label` and its
        line. The masking in transit it did, once the load is over (and to `on_masked` as soon as the last
        row is masked, while the database may still be busy with the rest of the load).

        The filtered dump, masked and counted as it goes, goes into the loader's client on the node through
        ssh's stdin: no dump file is ever written there."""
        command, filtered, label = self._loading(data, label)
        masking = Masking(self.name, filtered, rules or [], fakes)

        def chunks() -> Iterator[bytes]:
            yield from masking.chunks()
            on_masked(masking)

        status, errors = self.remote.feed(command, chunks())
        if status:
            raise ConfigError(dump_error(label, errors), "fix or re-create the dump")
        return masking

    def _loading(self, data: bytes, label: str) -> tuple[str, Filtered, str]:
        """The loader's command, the dump filtered for it, and the label its errors name."""
        raise NotImplementedError

    def columns(self) -> dict[str, dict[str, str]]:
        """display name → column → type of every relation that holds rows, in every schema."""
        raise NotImplementedError

    def set_aside(self) -> None:
        """What must not run while Contrail masks (the dump's triggers) put aside until the swap."""

    def display(self, relation: Relation) -> str:
        return relation.name

    def qualified(self, table: str) -> str:
        raise NotImplementedError

    def count(self, tables: list[str]) -> dict[str, int]:
        if not tables:
            return {}
        query = " UNION ALL ".join(f"SELECT {i}, count(*) FROM {self.qualified(t)}" for i, t in enumerate(tables))
        rows = (line.split(self.separator) for line in self.sql(query + ";").splitlines())
        return {tables[int(i)]: int(n) for i, n in rows}

    def distinct_values(self, columns: list[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """(table, column) → (key, text) for each of its distinct non-null values, every column in one query:
        the key (hex) is what `anonymise`'s mappings match the column's stored values by, the text is the
        value as UTF-8 (whatever the column's character set)."""
        return self._per_column(columns, self._distinct_hex, self._keyed)

    def samples(self, columns: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """(table, column) → up to pii.SAMPLE of its non-null values as text, every column in one query."""
        return self._per_column(columns, self._sample, _unhex)

    def _per_column(
        self,
        columns: list[tuple[str, str]],
        select: Callable[[int, str, str], str],
        decode: Callable[[str], T],
    ) -> dict[tuple[str, str], list[T]]:
        """One query of `select(index, table, column)`s joined by UNION ALL; each row's fields after the
        index decoded."""
        found: dict[tuple[str, str], list[T]] = {key: [] for key in columns}
        if columns:
            query = " UNION ALL ".join(select(i, t, c) for i, (t, c) in enumerate(columns))
            for line in self.sql(query + ";").splitlines():
                index, value = line.split(self.separator, 1)
                found[columns[int(index)]].append(decode(value))
        return found

    def _keyed(self, fields: str) -> tuple[str, str]:
        """(key, text) from a `_distinct_hex` row's fields: one UTF-8 hex, both key and text."""
        return fields.lower(), _unhex(fields)

    def datey(self, kind: str) -> bool:
        return kind.lower().startswith(("date", "timestamp"))

    def anonymise(self, changes: list[tuple[str, str, dict[str, str] | None]]) -> None:
        """In one script (one round trip): each (table, column)'s values replaced by its mapping (keys: the
        original values' UTF-8 hex), or set to NULL where the mapping is None; then every materialized
        view is refreshed from the masked tables. Values travel as data (COPY rows, or hex and string
        literals quoted by the engine's rules), never pasted into SQL."""
        tables = sorted({table for table, _, _ in changes})
        script = [*self.session, "BEGIN;", *self._triggers(tables, "DISABLE")]
        for table in tables:  # one UPDATE per table: each row is written once, however many columns change
            columns: list[tuple[str, str | None]] = []
            for number, (of, column, mapping) in enumerate(changes):
                if of == table and mapping is None:
                    columns.append((column, None))
                elif of == table:
                    mapped = f"contrail_map{number}"  # temporary: gone with the session
                    script += [self.map_table.format(mapped), *self._fill(mapped, mapping)]
                    columns.append((column, mapped))
            script.append(self._update_table(table, columns))
        script += [*self._triggers(tables, "ENABLE"), *self._refresh_views(), "COMMIT;"]
        self.sql("\n".join(script))

    def text_of(
        self, columns: dict[str, dict[str, str]], each_column: bool = False
    ) -> Iterator[tuple[str, list[str], str]]:
        """(table, its text-like columns, their values as the client prints them: a row a line, tab between
        columns) for every relation with such columns (or, with `each_column`, for every such column alone),
        in one round trip."""
        chosen = [(t, [c for c, kind in cols.items() if self.texty(kind)]) for t, cols in columns.items()]
        if each_column:
            chosen = [(t, [c]) for t, cols in chosen for c in cols]
        chosen = [(t, cols) for t, cols in chosen if cols]
        if not chosen:
            return
        marker = f"contrail-{secrets.token_hex(8)}"
        script = "\n".join(self._select_text(marker, i, t, cols) for i, (t, cols) in enumerate(chosen))
        parts = self.rows(script).split(marker + " ")[1:]
        for part in parts:
            index, _, values = part.partition("\n")
            table, cols = chosen[int(index)]
            yield table, cols, values

    def texty(self, kind: str) -> bool:
        raise NotImplementedError

    def _select_text(self, marker: str, index: int, table: str, columns: list[str]) -> str:
        raise NotImplementedError

    def _refresh_views(self) -> list[str]:
        return []

    def _triggers(self, tables: list[str], switch: str) -> list[str]:
        """Statements that DISABLE or ENABLE the dump's triggers on `tables` around masking."""
        return []

    def _distinct_hex(self, index: int, table: str, column: str) -> str:
        raise NotImplementedError

    def _sample(self, index: int, table: str, column: str) -> str:
        raise NotImplementedError

    def _fill(self, mapped: str, mapping: dict[str, str]) -> list[str]:
        """Script lines that fill the temporary table `mapped` with (original, fake) pairs."""
        raise NotImplementedError

    def _update_table(self, table: str, columns: list[tuple[str, str | None]]) -> str:
        """One UPDATE of `table`: each (column, its mapping table) set to the fake of its value, or to NULL
        where there is no mapping table. A value the mapping lacks stays (and the verification stops it)."""
        raise NotImplementedError

    def quote(self, name: str) -> str:
        raise NotImplementedError

    def swap_in(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def record_unmasked(self, columns: list[str]) -> None:
        """Note on the scratch database which columns `--allow-unmasked` let through; the note travels with
        the data through the swap and a rollback, so `staging pull` can say what it copies."""
        raise NotImplementedError

    def unmasked(self) -> list[str]:
        """The columns the data staging serves holds unmasked (by `--allow-unmasked`)."""
        raise NotImplementedError

    def dump(self) -> bytes:
        """The whole database, in a form `load` takes (what `staging pull` copies)."""
        raise NotImplementedError

    def _ensure_loader_user(self) -> str:
        """The shell that creates the loader's system user when the node lacks it (no home, no shell)."""
        return (
            f"id -u {LOADER} >/dev/null 2>&1 || sudo useradd --system --no-create-home --home-dir /nonexistent "
            f"--shell /usr/sbin/nologin {LOADER}"
        )

    def _dump(self, command: str) -> bytes:
        status, out, errors = self.remote.transfer(command)
        if status:
            raise ToolFailed(f"{self.remote.name}: dumping the staging database failed: {redact(errors.strip())}")
        return out


class PostgreSQL(Engine):
    name = "postgresql"
    separator = "|"
    map_table = "CREATE TEMPORARY TABLE {} (old text, new text);"
    # Mapping tables are joined by hash: memory for the hashes and the temporary tables, no fsync wait.
    session = ("SET work_mem = '256MB';", "SET temp_buffers = '512MB';", "SET synchronous_commit = off;")
    _psql = "psql -X -q -At -v ON_ERROR_STOP=1"

    def admin(self, statements: str, database: str | None = None) -> str:
        db = shlex.quote(database or "postgres")
        return self.remote.run(f"cd / && sudo -u postgres {self._psql} -d {db}", stdin=statements).stdout

    @property
    def _as_loader(self) -> str:
        return f"cd / && sudo -u {LOADER} {self._psql} -d {shlex.quote(self.incoming)}"

    def sql(self, statements: str) -> str:
        return self.remote.run(self._as_loader, stdin=statements, private=True, what="psql as the loader").stdout

    def confine(self) -> None:
        incoming = pg_ident(self.incoming)
        self.remote.run(self._ensure_loader_user(), what="creating the loader's system user")
        script = [
            f"DROP DATABASE IF EXISTS {incoming} WITH (FORCE);",
            f"DROP DATABASE IF EXISTS {pg_ident(self.database + DISCARDED)} WITH (FORCE);",
            f"DROP ROLE IF EXISTS {LOADER};",
            f"CREATE ROLE {LOADER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;",
            f"CREATE DATABASE {incoming} OWNER {LOADER};",
            # No other database takes the loader's connections (nor anyone's but its owner's and the app's).
            "DO $$DECLARE d text; BEGIN FOR d IN SELECT datname FROM pg_database WHERE datname <> 'template0' "
            "LOOP EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', d); END LOOP; END$$;",
        ]
        if self._exists(self.database):
            script.append(f"GRANT CONNECT ON DATABASE {pg_ident(self.database)} TO {pg_ident(self.user)};")
        self.admin("\n".join(script))

    def _loading(self, data: bytes, label: str) -> tuple[str, Filtered, str]:
        if data[:5] == b"PGDMP":  # -Fc: pg_restore prints it as the script it stands for, then it is read alike
            restore = f"cd / && sudo -u {LOADER} pg_restore --no-owner --no-acl -f -"
            status, printed, errors = self.remote.transfer(restore, data)
            if status:
                raise ConfigError(dump_error(label, errors), "fix or re-create the dump")
            data, label = printed, f"{label} (as `pg_restore -f -` prints it)"
        load = f"cd / && sudo -u {LOADER} psql -X -q -v ON_ERROR_STOP=1 -d {shlex.quote(self.incoming)} -f -"
        return load, dumpsql.filter_postgresql(data, label), label

    def columns(self) -> dict[str, dict[str, str]]:
        hexed = "encode(convert_to({}, 'UTF8'), 'hex')"
        out = self.sql(
            f"SELECT {hexed.format('n.nspname')}, {hexed.format('c.relname')}, c.relkind, "
            f"{hexed.format('a.attname')}, {hexed.format('format_type(a.atttypid, NULL)')} "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
            "ORDER BY n.nspname, c.relname, a.attnum;"
        )
        columns: dict[str, dict[str, str]] = {}
        for line in out.splitlines():
            schema, table, kind, column, kind_name = line.split("|")
            relation = Relation(_unhex(schema), _unhex(table), "materialized view" if kind == "m" else "table")
            name = self.display(relation)
            self.relations[name] = relation
            columns.setdefault(name, {})[_unhex(column)] = _unhex(kind_name)
        return columns

    def display(self, relation: Relation) -> str:
        return relation.name if relation.schema == "public" else f"{relation.schema}.{relation.name}"

    def qualified(self, table: str) -> str:
        relation = self.relations.get(table) or Relation("public", table, "table")
        return f"{pg_ident(relation.schema)}.{pg_ident(relation.name)}"

    def texty(self, kind: str) -> bool:
        numeric = ("smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean", "bytea")
        return kind not in numeric and not kind.startswith(("timestamp", "date", "time", "interval", "bit"))

    def _select_text(self, marker: str, index: int, table: str, columns: list[str]) -> str:
        values = ", ".join(f"{pg_ident(c)}::text" for c in columns)
        return f"\\echo {marker} {index}\nCOPY (SELECT {values} FROM {self.qualified(table)}) TO STDOUT;"

    def _triggers(self, tables: list[str], switch: str) -> list[str]:
        return [f"ALTER TABLE {self.qualified(t)} {switch} TRIGGER USER;" for t in tables]

    def _refresh_views(self) -> list[str]:
        return [
            f"REFRESH MATERIALIZED VIEW {self.qualified(name)};"
            for name, relation in self.relations.items()
            if relation.kind == "materialized view"
        ]

    def _distinct_hex(self, index: int, table: str, column: str) -> str:
        value = f"encode(convert_to({pg_ident(column)}::text, 'UTF8'), 'hex')"
        return f"SELECT DISTINCT {index}, {value} FROM {self.qualified(table)} WHERE {pg_ident(column)} IS NOT NULL"

    def _sample(self, index: int, table: str, column: str) -> str:
        value = "encode(convert_to(c::text, 'UTF8'), 'hex')"
        col = pg_ident(column)
        return (
            f"(SELECT {index}, {value} FROM (SELECT {col} AS c FROM {self.qualified(table)} "
            f"WHERE {col} IS NOT NULL LIMIT {pii.SAMPLE}) s)"
        )

    def _fill(self, mapped: str, mapping: dict[str, str]) -> list[str]:
        rows = "".join(
            f"{bytes.fromhex(old).decode().translate(dumpsql.COPY_ESCAPES)}\t{new.translate(dumpsql.COPY_ESCAPES)}\n"
            for old, new in mapping.items()
        )
        return [f"COPY {mapped} (old, new) FROM STDIN;", rows + "\\.", f"ANALYZE {mapped};"]

    def _update_table(self, table: str, columns: list[tuple[str, str | None]]) -> str:
        target = self.qualified(table)
        sets = ", ".join(
            f"{pg_ident(c)} = s.n{i}" if m else f"{pg_ident(c)} = NULL" for i, (c, m) in enumerate(columns)
        )
        mapped = [(i, c, m) for i, (c, m) in enumerate(columns) if m]
        if not mapped:
            return f"UPDATE {target} SET {sets};"
        fakes = ", ".join(f"coalesce({m}.new, x.{pg_ident(c)}::text) AS n{i}" for i, c, m in mapped)
        joins = " ".join(f"LEFT JOIN {m} ON x.{pg_ident(c)}::text = {m}.old" for _, c, m in mapped)
        return (
            f"UPDATE {target} AS t SET {sets} FROM (SELECT x.ctid AS row_id, {fakes} FROM {target} AS x {joins}) s "
            "WHERE t.ctid = s.row_id;"
        )

    def quote(self, name: str) -> str:
        return pg_ident(name)

    def record_unmasked(self, columns: list[str]) -> None:
        self.admin(f"COMMENT ON DATABASE {pg_ident(self.incoming)} IS {pg_literal(_note(columns))};")

    def unmasked(self) -> list[str]:
        named = pg_literal(self.database)
        return _read_note(
            self.admin(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = {named};")
        )

    def _terminate(self, *databases: str) -> str:
        names = ", ".join(pg_literal(d) for d in databases)
        return (
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ({names}) "
            "AND pid <> pg_backend_pid();"
        )

    def _exists(self, database: str) -> bool:
        return self.admin(f"SELECT 1 FROM pg_database WHERE datname = {pg_literal(database)};").strip() == "1"

    def swap_in(self) -> None:
        """The scratch database and everything in it handed to the app's role, the loader removed, then the
        renames in one transaction (of the databases that exist): two round trips. The data before the
        previous is not dropped here — that takes as long as its files — but renamed aside, and dropped by
        the next refresh's `confine` while that one reads its dump."""
        db, incoming, previous, discarded = (
            pg_ident(self.database + suffix) for suffix in ("", INCOMING, PREVIOUS, DISCARDED)
        )
        user = pg_ident(self.user)
        self.admin(f"REASSIGN OWNED BY {LOADER} TO {user};\nDROP OWNED BY {LOADER};", self.incoming)

        def rename(name: str, old: str, new: str) -> str:
            exists = f"EXISTS (SELECT 1 FROM pg_database WHERE datname = {pg_literal(name)})"
            return f"IF {exists} THEN EXECUTE {pg_literal(f'ALTER DATABASE {old} RENAME TO {new}')}; END IF; "

        renames = (
            "BEGIN "
            + rename(self.database + PREVIOUS, previous, discarded)
            + rename(self.database, db, previous)
            + f"EXECUTE {pg_literal(f'ALTER DATABASE {incoming} RENAME TO {db}')}; END"
        )
        # Sessions on either database would make the renames fail: end them, then swap in one transaction.
        self.admin(
            f"{self._terminate(self.incoming)}\nALTER DATABASE {incoming} OWNER TO {user};\n"
            f"DROP ROLE {LOADER};\nDROP DATABASE IF EXISTS {discarded} WITH (FORCE);\n"
            f"{self._terminate(self.database, self.database + PREVIOUS, self.incoming)}\nDO {pg_literal(renames)};"
        )

    def rollback(self) -> None:
        db, previous, swap = (pg_ident(self.database + s) for s in ("", PREVIOUS, SWAP))
        if not self._exists(self.database + PREVIOUS):
            raise ConfigError(f"no previous staging data to go back to ({self.database + PREVIOUS} does not exist)")
        self.admin(
            f"{self._terminate(self.database, self.database + PREVIOUS)}\nBEGIN; "
            f"ALTER DATABASE {db} RENAME TO {swap}; ALTER DATABASE {previous} RENAME TO {db}; "
            f"ALTER DATABASE {swap} RENAME TO {previous}; COMMIT;"
        )

    def dump(self) -> bytes:
        """The staging database as pg_dump's custom format (what `staging pull` copies), through ssh's stdout."""
        command = f"cd / && sudo -u postgres pg_dump -Fc --no-owner --no-acl -d {shlex.quote(self.database)}"
        return self._dump(command)


class MariaDB(Engine):
    name = "mysql"
    map_table = "CREATE TEMPORARY TABLE {} (old VARBINARY(3072) PRIMARY KEY, new TEXT);"
    # utf8mb4: what a dump that declares no SET NAMES is read as (as masking in transit reads it), and how
    # values come back (the client's own default here is latin1, which prints `?` for what it cannot hold).
    _client = "mariadb --binary-mode --local-infile=0 --default-character-set=utf8mb4 -N -B"

    def admin(self, statements: str, database: str | None = None) -> str:
        db = shlex.quote(database) if database else ""
        return self.remote.run(f"sudo mariadb -N -B {db}", stdin=statements, what="mariadb").stdout

    @property
    def _as_loader(self) -> str:
        return f"cd / && sudo -u {LOADER} {self._client} {shlex.quote(self.incoming)}"

    def sql(self, statements: str) -> str:
        return self.remote.run(self._as_loader, stdin=statements, private=True, what="mariadb as the loader").stdout

    def confine(self) -> None:
        account = f"{my_literal(LOADER)}@'localhost'"
        self.remote.run(self._ensure_loader_user(), what="creating the loader's system user")
        self.admin(
            f"DROP DATABASE IF EXISTS {my_ident(self.incoming)};\n"
            f"DROP USER IF EXISTS {account};\n"
            f"CREATE USER {account} IDENTIFIED VIA unix_socket;\n"
            f"CREATE DATABASE {my_ident(self.incoming)};\n"
            f"GRANT ALL ON {my_grant_pattern(self.incoming)}.* TO {account};\n"
        )

    def set_aside(self) -> None:
        """The dump's triggers, views and routines, taken out of the scratch database before masking (its
        triggers would fire on the masking UPDATEs) and created again in the served database at the swap,
        with the app's account as their definer: RENAME TABLE cannot move a table that has triggers, nor a
        view, to another database, and routines do not move at all."""
        self._aside = self._objects(self.incoming)
        self._drop(self.incoming, self._aside)

    def _loading(self, data: bytes, label: str) -> tuple[str, Filtered, str]:
        return self._as_loader, dumpsql.filter_mysql(data, label), label

    def columns(self) -> dict[str, dict[str, str]]:
        out = self.sql(
            "SELECT HEX(c.table_name), HEX(c.column_name), HEX(c.data_type) FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position;"
        )
        columns: dict[str, dict[str, str]] = {}
        for line in out.splitlines():
            table, column, kind = (_unhex(v) for v in line.split("\t"))
            self.relations[table] = Relation(self.incoming, table, "table")
            columns.setdefault(table, {})[column] = kind
        return columns

    def qualified(self, table: str) -> str:
        return my_ident(table)

    def texty(self, kind: str) -> bool:
        return kind.lower() in ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json", "enum", "set")

    def _select_text(self, marker: str, index: int, table: str, columns: list[str]) -> str:
        values = ", ".join(my_ident(c) for c in columns)
        return f"SELECT '{marker} {index}';\nSELECT {values} FROM {my_ident(table)};"

    def _distinct_hex(self, index: int, table: str, column: str) -> str:
        """The stored bytes (what the masking UPDATE matches, in any character set) and their UTF-8 text."""
        col = my_ident(column)
        return (
            f"SELECT DISTINCT {index}, HEX({col}), HEX(CONVERT({col} USING utf8mb4)) "
            f"FROM {my_ident(table)} WHERE {col} IS NOT NULL"
        )

    def _keyed(self, fields: str) -> tuple[str, str]:
        stored, text = fields.split("\t")
        return stored, _unhex(text)

    def _sample(self, index: int, table: str, column: str) -> str:
        col = my_ident(column)
        return (
            f"(SELECT {index}, HEX(CONVERT(c USING utf8mb4)) FROM (SELECT {col} AS c FROM {my_ident(table)} "
            f"WHERE {col} IS NOT NULL LIMIT {pii.SAMPLE}) s{index})"
        )

    def _fill(self, mapped: str, mapping: dict[str, str]) -> list[str]:
        rows = [f"(UNHEX('{old}'),{my_literal(new)})" for old, new in mapping.items()]
        return [f"INSERT INTO {mapped} VALUES {','.join(rows[i : i + BATCH])};" for i in range(0, len(rows), BATCH)]

    def _update_table(self, table: str, columns: list[tuple[str, str | None]]) -> str:
        joins = " ".join(f"LEFT JOIN {m} ON BINARY t.{my_ident(c)} = {m}.old" for c, m in columns if m)
        sets = ", ".join(
            f"t.{my_ident(c)} = coalesce({m}.new, t.{my_ident(c)})" if m else f"t.{my_ident(c)} = NULL"
            for c, m in columns
        )
        return f"UPDATE {my_ident(table)} t {joins} SET {sets};"

    def quote(self, name: str) -> str:
        return my_ident(name)

    def dump(self) -> bytes:
        command = f"sudo mariadb-dump --single-transaction --routines {shlex.quote(self.database)}"
        return self._dump(command)

    def _tables(self, database: str) -> list[str]:
        out = self.admin(
            f"SELECT HEX(table_name) FROM information_schema.tables WHERE table_schema = {my_literal(database)};"
        )
        return [_unhex(v) for v in out.split()]

    def swap_in(self) -> None:
        account = f"{my_literal(LOADER)}@'localhost'"
        self.admin(f"DROP USER IF EXISTS {account};")  # its sessions are over: the load and masking have ended
        previous = self.database + PREVIOUS
        served, notes = self._objects(self.database), (self._note_of(self.incoming), self._note_of(self.database))
        self._drop(self.database, served)
        self._rename_all(self.database, previous, self.incoming)
        self._create(self.database, self._aside, definer=self._app_account)
        self._create(previous, served)
        self._set_note(self.database, notes[0])
        self._set_note(previous, notes[1])
        self.admin(f"DROP DATABASE {my_ident(self.incoming)};")

    def rollback(self) -> None:
        previous = self.database + PREVIOUS
        if not self._tables(previous):
            raise ConfigError(f"no previous staging data to go back to ({previous} has no tables)")
        served, kept = self._objects(self.database), self._objects(previous)
        notes = (self._note_of(self.database), self._note_of(previous))
        self._drop(self.database, served)
        self._drop(previous, kept)
        self._rename_all(self.database, previous, previous, swap=True)
        self._create(self.database, kept)
        self._create(previous, served)
        self._set_note(self.database, notes[1])
        self._set_note(previous, notes[0])

    def record_unmasked(self, columns: list[str]) -> None:
        self._set_note(self.incoming, _note(columns))

    def unmasked(self) -> list[str]:
        return _read_note(self._note_of(self.database))

    def _note_of(self, database: str) -> str:
        """A database's comment (MariaDB keeps it with the database, so the swap moves it by hand)."""
        query = f"SELECT schema_comment FROM information_schema.schemata WHERE schema_name = {my_literal(database)};"
        return self.admin(query).strip()

    def _set_note(self, database: str, note: str) -> None:
        self.admin(f"ALTER DATABASE {my_ident(database)} COMMENT = {my_literal(note)};")

    def _objects(self, database: str) -> list[StoredObject]:
        """The triggers, views and routines of `database` as SHOW CREATE gives them (names unqualified),
        in an order they can be created in."""
        lit = my_literal(database)
        listed = self.admin(
            f"SELECT 'TRIGGER', HEX(trigger_name) FROM information_schema.triggers WHERE trigger_schema = {lit} "
            "ORDER BY event_object_table, action_timing, event_manipulation, action_order;\n"
            f"SELECT 'VIEW', HEX(table_name) FROM information_schema.views WHERE table_schema = {lit};\n"
            f"SELECT routine_type, HEX(routine_name) FROM information_schema.routines WHERE routine_schema = {lit};"
        )
        names = [(kind, _unhex(name)) for kind, name in (line.split("\t") for line in listed.splitlines())]
        if not names:
            return []
        shows = "".join(f"SHOW CREATE {kind} {my_ident(name)};\n" for kind, name in names)
        rows = self.admin(f"USE {my_ident(database)};\n{shows}").splitlines()
        found = []
        for (kind, name), row in zip(names, rows, strict=True):
            fields = [_unescape(field) for field in row.split("\t")]
            mode, create, charset = ("", fields[1], fields[2]) if kind == "VIEW" else (fields[1], fields[2], fields[3])
            found.append(StoredObject(kind, name, create, mode, charset))
        return _creation_order(found)

    def _drop(self, database: str, objects: list[StoredObject]) -> None:
        if objects:
            self.admin("".join(f"DROP {o.kind} IF EXISTS {my_ident(database)}.{my_ident(o.name)};\n" for o in objects))

    @property
    def _app_account(self) -> str:
        return f"{my_ident(self.user)}@'%'"

    def _create(self, database: str, objects: list[StoredObject], definer: str | None = None) -> None:
        """`objects` created in `database` (with `definer`, else their own: the app's account, which has
        rights on the served and the previous data, both anonymised, so that a view there can be created
        and rolled back). The script goes through the client in binary mode (no client commands but
        DELIMITER), one object per delimiter."""
        if not objects:
            return
        self.admin(f"GRANT ALL ON {my_grant_pattern(database)}.* TO {self._app_account};")
        end = ";;"  # as mysqldump writes routines and triggers: the client keeps it whole inside strings
        script = [f"USE {my_ident(database)};", f"DELIMITER {end}"]
        for o in objects:
            create = dumpsql.DEFINER.sub(f"DEFINER={definer}", o.create, count=1) if definer else o.create
            script += [
                f"SET sql_mode = {my_literal(o.sql_mode)}, character_set_client = {my_literal(o.charset)}{end}",
                f"{create}{end}",
            ]
        command = "sudo mariadb --binary-mode -N -B"
        self.remote.run(command, stdin="\n".join([*script, "DELIMITER ;", ""]), what="moving triggers, views, routines")

    def _rename_all(self, db: str, previous: str, incoming: str, swap: bool = False) -> None:
        """In ONE RENAME TABLE statement (all or nothing): db's tables → previous (or a swap schema),
        incoming's tables → db (and with swap, the swap schema's → previous)."""
        parking = db + SWAP if swap else previous
        self.admin(
            f"DROP DATABASE IF EXISTS {my_ident(parking)}; CREATE DATABASE {my_ident(parking)}; "
            f"CREATE DATABASE IF NOT EXISTS {my_ident(db)};"
        )
        current, fresh = self._tables(db), self._tables(incoming)
        moves = [f"{my_ident(db)}.{my_ident(t)} TO {my_ident(parking)}.{my_ident(t)}" for t in current]
        moves += [f"{my_ident(incoming)}.{my_ident(t)} TO {my_ident(db)}.{my_ident(t)}" for t in fresh]
        if swap:
            moves += [f"{my_ident(parking)}.{my_ident(t)} TO {my_ident(previous)}.{my_ident(t)}" for t in current]
        self.admin(f"RENAME TABLE {', '.join(moves)};")
        if swap:
            self.admin(f"DROP DATABASE {my_ident(parking)};")


ENGINES: dict[str, type[Engine]] = {kind.name: kind for kind in (PostgreSQL, MariaDB)}  # by --engine name


def _columns(out: str, sep: str = "|") -> dict[str, dict[str, str]]:
    columns: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        table, column, kind = line.split(sep)
        columns.setdefault(table, {})[column] = kind
    return columns


def dump_error(label: str, output: str) -> str:
    """The loader's first error, pointing at the dump's own name and line, with the values it quotes masked."""
    first = error_line(output)
    psql = re.search(r"^psql:[^:]+:(\d+): (?:ERROR:\s*)?(.*)$", first)
    if psql:
        return f"{label}:{psql.group(1)}: {redact(psql.group(2))}"
    maria = re.search(r"ERROR \d+ \(\w+\) at line (\d+): (.*)$", first)
    if maria:
        return f"{label}:{maria.group(1)}: {redact(maria.group(2))}"
    return f"{label}: {redact(first)}"


class Stopwatch:
    """Phases of a refresh, each announced through `on_step` and timed: where the time goes."""

    def __init__(self, on_step: Callable[[str], None]) -> None:
        self.on_step, self.phases = on_step, {}

    @contextlib.contextmanager
    def phase(self, name: str, text: str) -> Iterator[None]:
        self.on_step(text)
        started = time.monotonic()
        yield
        self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - started


def refresh(
    engine: Engine,
    dump: Path,
    rules: list[Rule],
    salt: str,
    *,
    allow_unmasked: bool,
    on_step: Callable[[str], None] = lambda text: None,
) -> Refreshed:
    started, watch, fakes = time.monotonic(), Stopwatch(on_step), Fakes(salt)
    changing = [rule for rule in rules if rule.kind != "keep"]
    kinds = {(rule.table, rule.column): rule.kind for rule in changing if rule.kind != "null"}

    def made(originals: dict[tuple[str, str], set[str]]) -> Iterator[str]:
        """The fakes of `originals` (read only when an original is found: see leaks.Originals)."""
        return (fakes.fake(kinds[key], value) for key, values in originals.items() if key in kinds for value in values)

    # The originals masked in transit are made ready to be looked for while the database finishes the load
    # and the check runs (a thread: the database's work and the check's are waits on the node).
    with ThreadPoolExecutor(1) as node, ThreadPoolExecutor(1) as background:
        prepared: list[Future[leaks.Originals]] = []

        def ready(masking: Masking) -> None:
            prepared.append(background.submit(leaks.Originals.read, masking.originals, made(masking.originals)))

        with watch.phase("load", f"loading {dump.name}, masked on the way, into {engine.incoming} as {LOADER}"):
            must_exist(dump)
            confined = node.submit(engine.confine)  # while the dump is read
            data = open_dump(dump)  # read and uncompressed once: filtered, masked, loaded, counted
            confined.result()
            masked = engine.load(data, str(dump), rules, fakes, on_masked=ready)
            engine.set_aside()
        with watch.phase("check", "looking for personal data in columns without a rule, counting rows"):
            columns = engine.columns()
            check_rules(rules, columns)
            personal = personal_columns(engine, rules, columns)
            if personal and not allow_unmasked:
                raise ConfigError(
                    f"columns that look personal have no anonymise rule: {', '.join(personal.values())}",
                    'add rules to [anonymise] in contrail-team.toml (e.g. "users.email" = "email", or "keep"), '
                    "or pass --allow-unmasked",
                )
            tables = sorted(t for t in columns if engine.relations[t].kind == "table")
            loaded = engine.count(tables)
            _same_counts(loaded, masked.expected_rows())
        rest = [rule for rule in changing if (rule.table, rule.column) not in masked.applied]
        with watch.phase(
            "mask", f"anonymising {len(rest)} columns in the database ({len(changing) - len(rest)} in transit)"
        ):
            originals, after, in_database = masked.originals, loaded, {}
            # Nothing to do there when every rule was applied in transit and no materialized view needs refreshing.
            if rest or len(tables) < len(columns):
                in_database = _mask(engine, rest, fakes, masked.fakes_made())
                if any(in_database.values()):  # a new dict: the one masked in transit may be being made ready
                    # (a column left to the database has both, rows masked in transit and the rest)
                    both = {*originals, *in_database}
                    originals = {key: originals.get(key, set()) | in_database.get(key, set()) for key in both}
                after = engine.count(tables)
                if after != loaded:
                    raise ToolFailed(f"row counts changed while anonymising: {loaded} → {after}")
        with watch.phase("verify", "checking that no original value of a masked column is left anywhere"):
            if prepared and originals is masked.originals:
                wanted = prepared[0].result
            else:
                wanted = partial(leaks.Originals.read, originals, made(originals))
            found = leaks.survivors(engine, columns, {*originals, *in_database}, wanted)
            if found:
                raise ToolFailed(
                    f"original values of masked columns are still in the loaded data: {', '.join(found)}",
                    "add anonymise rules for those columns (e.g. null or hash); staging still serves its current data",
                )
    with watch.phase("swap", f"swapping {engine.incoming} in for {engine.database}"):
        engine.record_unmasked(list(personal))
        engine.swap_in()
    done = [f"{rule.key} ({rule.kind})" for rule in changing]
    seconds = time.monotonic() - started
    return Refreshed(engine.name, engine.database, after, done, seconds, list(personal), watch.phases)


def _same_counts(loaded: dict[str, int], expected: dict[str, int]) -> None:
    wrong = {t: (loaded.get(t), n) for t, n in expected.items() if loaded.get(t) != n}
    if wrong:
        detail = ", ".join(f"{t}: {got} loaded, {n} in the dump" for t, (got, n) in wrong.items())
        raise ToolFailed(f"row counts differ from the dump ({detail})", "staging still serves its current data")


def _mask(engine: Engine, rules: list[Rule], fakes: Fakes, made: set[str]) -> dict[tuple[str, str], set[str]]:
    """The rules masking in transit could not apply, applied in the scratch database (as the loader, one
    script that also refreshes materialized views); each such column's original values. A value masking
    in transit `made` is a fake already and stays as it is (so joins on it hold)."""
    values = engine.distinct_values([(rule.table, rule.column) for rule in rules])
    originals = {
        (rule.table, rule.column): {text for _, text in values[rule.table, rule.column]} - made for rule in rules
    }
    changes = [
        (
            rule.table,
            rule.column,
            None
            if rule.kind == "null"
            else {
                key: text if text in made else fakes.fake(rule.kind, text)
                for key, text in values[rule.table, rule.column]
            },
        )
        for rule in rules
    ]
    engine.anonymise(changes)
    return originals


def personal_columns(engine: Engine, rules: list[Rule], columns: dict[str, dict[str, str]]) -> dict[str, str]:
    """table.column → why, for every column without a rule that looks personal: by its name, or by a sample
    of its values (a note holding emails, a JSON document with phone numbers, dates in a birth range)."""
    tables = {t: cols for t, cols in columns.items() if engine.relations[t].kind == "table"}
    found = {key: key for key in unmasked(rules, tables)}
    known = {rule.key for rule in rules} | set(found)
    candidates = [
        (table, column)
        for table, cols in tables.items()
        for column, kind in cols.items()
        if f"{table}.{column}" not in known and (engine.texty(kind) or engine.datey(kind))
    ]
    for (table, column), values in engine.samples(candidates).items():
        kind = pii.values_look_personal(values)
        if kind:
            found[f"{table}.{column}"] = f"{table}.{column} (its values look like: {kind})"
    return found


def pull(source: Engine, target: Engine) -> tuple[dict[str, int], list[str]]:
    """The staging database (already anonymised) into a developer's database node: dumped, loaded into a
    scratch database there by the same confined loader, swapped in like a refresh. Rows per table, and the
    columns staging holds unmasked (let through by `--allow-unmasked`)."""
    unmasked = source.unmasked()
    target.confine()
    target.load(source.dump(), f"staging {source.database}")
    target.set_aside()
    columns = target.columns()
    tables = target.count(sorted(t for t in columns if target.relations[t].kind == "table"))
    target.record_unmasked(unmasked)
    target.swap_in()
    return tables, unmasked
