"""`contrail staging refresh | rollback | pull`: production-shaped, anonymised data for staging.

A refresh never touches the data staging serves until the very end: the dump is loaded into a
scratch database (`<db>__incoming`), checked (personal-looking columns without a rule stop it, every
rule must name a real column), anonymised, its row counts compared with the dump's, and only then
swapped in atomically — PostgreSQL: database renames in one transaction; MariaDB: one RENAME TABLE of
every table — keeping the replaced data as `<db>__previous` for `staging rollback`. A refresh that
fails or is killed leaves `<db>` as it was; the next refresh drops its leftovers first.
"""

from __future__ import annotations

import gzip
import re
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contrail.anonymise import Fakes, Rule, check_rules, unmasked
from contrail.errors import ConfigError, ToolFailed
from contrail.remote import Remote

INCOMING, PREVIOUS, SWAP = "__incoming", "__previous", "__swap"
BATCH = 1000  # mapping rows per INSERT


@dataclass(frozen=True)
class Refreshed:
    engine: str
    database: str
    tables: dict[str, int]  # table → rows
    anonymised: list[str]  # table.column (rule)
    seconds: float

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def open_dump(path: Path) -> bytes:
    """The dump's bytes, gunzipped when it is gzip (by content, not by name)."""
    if not path.is_file():
        raise ConfigError(f"dump {path} does not exist", "pass --from a PostgreSQL or MySQL dump (.sql, .sql.gz, -Fc)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ConfigError(f"{path}: not a complete gzip file ({err})", "copy the dump again") from None
    return raw


def expected_rows(sql: bytes) -> dict[str, int]:
    """Rows per table that a plain dump holds, from its COPY blocks (pg_dump) or INSERT statements
    (mysqldump's extended inserts count their row tuples). Tables it cannot count are left out."""
    counts: dict[str, int] = {}
    text = sql.decode("utf-8", errors="replace")
    for match in re.finditer(r"^COPY (?:\w+\.)?\"?(\w+)\"? .*?FROM stdin;\n(.*?)^\\\.$", text, re.M | re.S):
        counts[match.group(1)] = counts.get(match.group(1), 0) + match.group(2).count("\n")
    for match in re.finditer(r"^INSERT INTO [`\"]?(\w+)[`\"]?(?: \([^)]*\))? VALUES (.*?);$", text, re.M | re.S):
        counts[match.group(1)] = counts.get(match.group(1), 0) + _tuples(match.group(2))
    return counts


def _tuples(values: str) -> int:
    """Row tuples in a VALUES list, outside quoted strings."""
    count, depth, quoted, escaped = 0, 0, False, False
    for char in values:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
            if depth == 1:
                count += 1
        elif char == ")":
            depth -= 1
    return count


class Engine:
    """One staging database server, reached over SSH; subclasses speak its SQL and tools."""

    name = ""
    separator = "\t"  # between the columns of the client's unaligned output
    map_table = ""  # CREATE TEMPORARY TABLE {} (old …, new …): original → fake

    def __init__(self, remote: Remote, database: str, user: str) -> None:
        self.remote, self.database, self.user = remote, database, user

    def sql(self, statements: str, database: str | None = None) -> str:
        raise NotImplementedError

    def load(self, data: bytes, label: str) -> None:
        """The dump's (uncompressed) bytes into the scratch database; errors name `label` and its line."""
        raise NotImplementedError

    def columns(self, database: str) -> dict[str, dict[str, str]]:
        raise NotImplementedError

    def count(self, database: str, tables: list[str]) -> dict[str, int]:
        raise NotImplementedError

    def distinct_hex(self, database: str, columns: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """(table, column) → the UTF-8 hex of its distinct non-null values, every column in one query."""
        found: dict[tuple[str, str], list[str]] = {key: [] for key in columns}
        if columns:
            query = " UNION ALL ".join(self._distinct_hex(i, t, c) for i, (t, c) in enumerate(columns))
            for line in self.sql(query + ";", database).splitlines():
                index, value = line.split(self.separator)
                found[columns[int(index)]].append(value.lower())
        return found

    def anonymise(self, database: str, changes: list[tuple[str, str, dict[str, str] | None]]) -> None:
        """In one script (one round trip): each (table, column)'s values replaced by its mapping (keys: the
        original values' UTF-8 hex), or set to NULL where the mapping is None."""
        script = ["BEGIN;"]
        for number, (table, column, mapping) in enumerate(changes):
            if mapping is None:
                script.append(f"UPDATE {self.quote(table)} SET {self.quote(column)} = NULL;")
                continue
            mapped = f"contrail_map{number}"  # temporary: gone with the session
            script.append(self.map_table.format(mapped))
            rows = [self._map_row(old, new.encode().hex()) for old, new in mapping.items()]
            for start in range(0, len(rows), BATCH):
                script.append(f"INSERT INTO {mapped} VALUES {', '.join(rows[start : start + BATCH])};")
            script.append(self._update_from_map(table, column, mapped))
        self.sql("\n".join([*script, "COMMIT;"]), database)

    def _distinct_hex(self, index: int, table: str, column: str) -> str:
        raise NotImplementedError

    def _map_row(self, old_hex: str, new_hex: str) -> str:
        raise NotImplementedError

    def _update_from_map(self, table: str, column: str, mapped: str) -> str:
        raise NotImplementedError

    def quote(self, name: str) -> str:
        raise NotImplementedError

    def swap_in(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def dump(self) -> bytes:
        """The whole database, in a form `load` takes (what `staging pull` copies)."""
        raise NotImplementedError

    def fetch(self, write: Callable[[str], str]) -> bytes:
        """The bytes of a file that the command `write(path)` writes on the database node (then removed)."""
        path = f"/tmp/contrail-pull-{time.time_ns()}"
        self.remote.run(write(path), what="dumping the staging database")
        with tempfile.TemporaryDirectory(prefix="contrail-pull-") as tmp:
            self.remote.rsync([path], f"{tmp}/dump", pull=True)
            self.remote.run(f"sudo rm -f {path}")
            return Path(tmp, "dump").read_bytes()

    def upload(self, data: bytes) -> str:
        path = f"/tmp/contrail-dump-{time.time_ns()}"
        with tempfile.NamedTemporaryFile(prefix="contrail-dump-") as tmp:
            tmp.write(data)
            tmp.flush()
            self.remote.rsync([tmp.name], path, options=["--chmod=F644"])
        return path


class PostgreSQL(Engine):
    name = "postgresql"
    separator = "|"
    map_table = "CREATE TEMPORARY TABLE {} (old text PRIMARY KEY, new text);"

    def sql(self, statements: str, database: str | None = None) -> str:
        db = shlex.quote(database or "postgres")
        command = f"sudo -u postgres psql -X -q -At -v ON_ERROR_STOP=1 -d {db}"
        return self.remote.run(command, stdin=statements, what=f"psql on {db}").stdout

    def load(self, data: bytes, label: str) -> None:
        incoming = self.database + INCOMING
        self.sql(f'DROP DATABASE IF EXISTS "{incoming}" WITH (FORCE);')
        self.sql(f'CREATE DATABASE "{incoming}" OWNER "{self.user}";')
        path = self.upload(data)
        if data[:5] == b"PGDMP":
            tool = f"sudo -u postgres pg_restore --no-owner --no-acl --exit-on-error -d {incoming} {path}"
        else:
            tool = f"sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -d {incoming} -f {path}"
        done = self.remote.run(f"{tool}; status=$?; rm -f {path}; exit $status", check=False)
        if not done.ok:
            raise ConfigError(dump_error(label, path, done.stdout + done.stderr), "fix or re-create the dump")
        grant = f'"{self.user}"'
        self.sql(
            f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {grant}; "
            f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {grant};",
            incoming,
        )

    def columns(self, database: str) -> dict[str, dict[str, str]]:
        out = self.sql(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position;",
            database,
        )
        return _columns(out)

    def count(self, database: str, tables: list[str]) -> dict[str, int]:
        if not tables:
            return {}
        query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
        return {t: int(n) for t, n in (line.split("|") for line in self.sql(query + ";", database).split())}

    def _distinct_hex(self, index: int, table: str, column: str) -> str:
        value = f"encode(convert_to(\"{column}\"::text, 'UTF8'), 'hex')"
        return f'SELECT DISTINCT {index}, {value} FROM "{table}" WHERE "{column}" IS NOT NULL'

    def _map_row(self, old_hex: str, new_hex: str) -> str:
        return f"(convert_from(decode('{old_hex}', 'hex'), 'UTF8'), convert_from(decode('{new_hex}', 'hex'), 'UTF8'))"

    def _update_from_map(self, table: str, column: str, mapped: str) -> str:
        return f'UPDATE "{table}" AS t SET "{column}" = m.new FROM {mapped} m WHERE t."{column}"::text = m.old;'

    def quote(self, name: str) -> str:
        return f'"{name}"'

    def _terminate(self, *databases: str) -> str:
        names = ", ".join(f"'{d}'" for d in databases)
        return (
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ({names}) "
            "AND pid <> pg_backend_pid();"
        )

    def _exists(self, database: str) -> bool:
        return self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';").strip() == "1"

    def swap_in(self) -> None:
        db, incoming, previous = self.database, self.database + INCOMING, self.database + PREVIOUS
        self.sql(f'DROP DATABASE IF EXISTS "{previous}" WITH (FORCE);')
        renames = f'ALTER DATABASE "{incoming}" RENAME TO "{db}";'
        if self._exists(db):
            renames = f'ALTER DATABASE "{db}" RENAME TO "{previous}"; ' + renames
        # Sessions on either database would make the renames fail: end them, then swap in one transaction.
        self.sql(f"{self._terminate(db, incoming)}\nBEGIN; {renames} COMMIT;")

    def rollback(self) -> None:
        db, previous, swap = self.database, self.database + PREVIOUS, self.database + SWAP
        if not self._exists(previous):
            raise ConfigError(f"no previous staging data to go back to ({previous} does not exist)")
        self.sql(
            f"{self._terminate(db, previous)}\nBEGIN; "
            f'ALTER DATABASE "{db}" RENAME TO "{swap}"; ALTER DATABASE "{previous}" RENAME TO "{db}"; '
            f'ALTER DATABASE "{swap}" RENAME TO "{previous}"; COMMIT;'
        )

    def dump(self) -> bytes:
        """The staging database as pg_dump's custom format (what `staging pull` copies)."""
        return self.fetch(lambda path: f"sudo -u postgres pg_dump -Fc --no-owner --no-acl -f {path} {self.database}")


class MariaDB(Engine):
    name = "mysql"
    map_table = "CREATE TEMPORARY TABLE {} (old VARBINARY(3072) PRIMARY KEY, new TEXT);"

    def sql(self, statements: str, database: str | None = None) -> str:
        db = shlex.quote(database) if database else ""
        return self.remote.run(f"sudo mariadb -N -B {db}", stdin=statements, what="mariadb").stdout

    def load(self, data: bytes, label: str) -> None:
        incoming = self.database + INCOMING
        self.sql(f"DROP DATABASE IF EXISTS `{incoming}`; CREATE DATABASE `{incoming}`;")
        path = self.upload(data)
        done = self.remote.run(f"sudo mariadb {incoming} < {path}; status=$?; rm -f {path}; exit $status", check=False)
        if not done.ok:
            raise ConfigError(dump_error(label, path, done.stdout + done.stderr), "fix or re-create the dump")

    def columns(self, database: str) -> dict[str, dict[str, str]]:
        out = self.sql(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{database}' ORDER BY table_name, ordinal_position;"
        )
        return _columns(out, sep="\t")

    def count(self, database: str, tables: list[str]) -> dict[str, int]:
        if not tables:
            return {}
        query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM `{t}`" for t in tables)
        return {t: int(n) for t, n in (line.split("\t") for line in self.sql(query + ";", database).splitlines())}

    def _distinct_hex(self, index: int, table: str, column: str) -> str:
        return f"SELECT DISTINCT {index}, HEX(`{column}`) FROM `{table}` WHERE `{column}` IS NOT NULL"

    def _map_row(self, old_hex: str, new_hex: str) -> str:
        return f"(UNHEX('{old_hex}'), CONVERT(UNHEX('{new_hex}') USING utf8mb4))"

    def _update_from_map(self, table: str, column: str, mapped: str) -> str:
        return f"UPDATE `{table}` t JOIN {mapped} m ON BINARY t.`{column}` = m.old SET t.`{column}` = m.new;"

    def quote(self, name: str) -> str:
        return f"`{name}`"

    def dump(self) -> bytes:
        database = shlex.quote(self.database)
        return self.fetch(lambda path: f"sudo sh -c 'mariadb-dump --single-transaction {database} > {path}'")

    def _tables(self, database: str) -> list[str]:
        out = self.sql(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{database}';")
        return out.split()

    def swap_in(self) -> None:
        self._rename_all(self.database, self.database + PREVIOUS, self.database + INCOMING)
        self.sql(f"DROP DATABASE `{self.database + INCOMING}`;")

    def rollback(self) -> None:
        previous = self.database + PREVIOUS
        if not self._tables(previous):
            raise ConfigError(f"no previous staging data to go back to ({previous} has no tables)")
        self._rename_all(self.database, previous, previous, swap=True)

    def _rename_all(self, db: str, previous: str, incoming: str, swap: bool = False) -> None:
        """In ONE RENAME TABLE statement (all or nothing): db's tables → previous (or a swap schema),
        incoming's tables → db (and with swap, the swap schema's → previous)."""
        parking = db + SWAP if swap else previous
        self.sql(
            f"DROP DATABASE IF EXISTS `{parking}`; CREATE DATABASE `{parking}`; CREATE DATABASE IF NOT EXISTS `{db}`;"
        )
        current, fresh = self._tables(db), self._tables(incoming)
        moves = [f"`{db}`.`{t}` TO `{parking}`.`{t}`" for t in current]
        moves += [f"`{incoming}`.`{t}` TO `{db}`.`{t}`" for t in fresh]
        if swap:
            moves += [f"`{parking}`.`{t}` TO `{previous}`.`{t}`" for t in current]
        self.sql(f"RENAME TABLE {', '.join(moves)};")
        if swap:
            self.sql(f"DROP DATABASE `{parking}`;")


ENGINES: dict[str, type[Engine]] = {kind.name: kind for kind in (PostgreSQL, MariaDB)}  # by --engine name


def _columns(out: str, sep: str = "|") -> dict[str, dict[str, str]]:
    columns: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        table, column, kind = line.split(sep)
        columns.setdefault(table, {})[column] = kind
    return columns


def dump_error(label: str, uploaded: str, output: str) -> str:
    """The loader's first error, pointing at the dump's own name and line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    first = next((ln for ln in lines if "ERROR" in ln or "error" in ln), lines[-1] if lines else "(no output)")
    psql = re.search(r"^psql:[^:]+:(\d+): (?:ERROR:\s*)?(.*)$", first)
    if psql:
        return f"{label}:{psql.group(1)}: {psql.group(2)}"
    maria = re.search(r"ERROR \d+ \(\w+\) at line (\d+): (.*)$", first)
    if maria:
        return f"{label}:{maria.group(1)}: {maria.group(2)}"
    return f"{label}: {first.replace(uploaded, label)}"


def refresh(
    engine: Engine,
    dump: Path,
    rules: list[Rule],
    salt: str,
    *,
    allow_unmasked: bool,
    on_step: Callable[[str], None] = lambda text: None,
) -> Refreshed:
    started = time.monotonic()
    incoming = engine.database + INCOMING
    on_step(f"loading {dump.name} into {incoming}")
    data = open_dump(dump)  # read and uncompressed once: loaded, then counted
    engine.load(data, str(dump))
    columns = engine.columns(incoming)
    check_rules(rules, columns)
    personal = unmasked(rules, columns)
    if personal and not allow_unmasked:
        raise ConfigError(
            f"columns that look personal have no anonymise rule: {', '.join(personal)}",
            'add rules to [anonymise] in contrail-team.toml (e.g. "users.email" = "email", or "keep"), '
            "or pass --allow-unmasked",
        )
    tables = sorted(columns)
    loaded = engine.count(incoming, tables)
    expected = {} if data.startswith(b"PGDMP") else expected_rows(data)
    wrong = {t: (loaded.get(t), n) for t, n in expected.items() if loaded.get(t) != n}
    if wrong:
        detail = ", ".join(f"{t}: {got} loaded, {n} in the dump" for t, (got, n) in wrong.items())
        raise ToolFailed(f"row counts differ from the dump ({detail})", "staging still serves its current data")
    changing = [rule for rule in rules if rule.kind != "keep"]
    on_step(f"anonymising {len(changing)} columns")
    faked = [(rule.table, rule.column) for rule in changing if rule.kind != "null"]
    values = engine.distinct_hex(incoming, faked)
    fakes = Fakes(salt)
    changes = [
        (
            rule.table,
            rule.column,
            None
            if rule.kind == "null"
            else {old: fakes.fake(rule.kind, bytes.fromhex(old).decode()) for old in values[rule.table, rule.column]},
        )
        for rule in changing
    ]
    engine.anonymise(incoming, changes)
    done = [f"{rule.key} ({rule.kind})" for rule in changing]
    after = engine.count(incoming, tables)
    if after != loaded:
        raise ToolFailed(f"row counts changed while anonymising: {loaded} → {after}")
    on_step(f"swapping {incoming} in for {engine.database}")
    engine.swap_in()
    return Refreshed(engine.name, engine.database, after, done, time.monotonic() - started)


def pull(source: Engine, target: Engine) -> dict[str, int]:
    """The staging database (already anonymised) into a developer's database node: dumped, loaded into a
    scratch database there, swapped in like a refresh. Rows per table."""
    target.load(source.dump(), f"staging {source.database}")
    incoming = target.database + INCOMING
    tables = target.count(incoming, sorted(target.columns(incoming)))
    target.swap_in()
    return tables
