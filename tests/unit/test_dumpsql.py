"""Reading dumps before they reach a client: dumps written by the real tools (pg_dump 15, mariadb-dump
10.11, recorded under tests/fixtures/dumps) load unchanged but for what names a database, ownership
and definers; anything that reaches beyond the scratch database is refused with file:line."""

from pathlib import Path

import pytest

from contrail.errors import ConfigError
from contrail.staging.dumpsql import filter_mysql, filter_postgresql, my_pieces, pg_pieces

DUMPS = Path(__file__).resolve().parent.parent / "fixtures" / "dumps"


def _lines_kept(before: bytes, after: bytes) -> None:
    assert before.count(b"\n") == after.count(b"\n")


def test_pg_dump_with_create_and_clean_maps_onto_the_scratch_database():
    raw = (DUMPS / "pg_dump-C-clean-if-exists.sql").read_bytes()
    out = filter_postgresql(raw, "prod.sql")
    text = out.data.decode()
    _lines_kept(raw, out.data)
    assert out.databases == ("shop",)
    for gone in ("CREATE DATABASE", "DROP DATABASE", "ALTER DATABASE", "\\connect", "\\restrict", "OWNER TO"):
        assert gone not in text, gone
    assert "COPY public.customers" in text and 'CREATE TABLE crm."Leads ""x"""' in text
    assert "REFRESH MATERIALIZED VIEW public.mv;" in text and "CREATE TRIGGER t" in text


def test_mariadb_dump_of_one_database_with_routines_and_triggers_maps_onto_the_scratch_database():
    raw = (DUMPS / "mariadb-dump-databases-routines-triggers.sql").read_bytes()
    out = filter_mysql(raw, "prod.sql")
    text = out.data.decode()
    _lines_kept(raw, out.data)
    assert out.databases == ("shop",)
    assert "CREATE DATABASE" not in text and "USE `shop`" not in text and "DEFINER=" not in text
    assert "sandbox mode" not in text
    assert "DELIMITER ;;" in text and "TRIGGER trg AFTER INSERT" in text and "PROCEDURE `p`()" in text
    assert "INSERT INTO `customers` VALUES" in text


@pytest.mark.parametrize(
    ("name", "reader", "message"),
    [
        (
            "mariadb-dump-two-databases.sql",
            filter_mysql,
            r"two-databases\.sql:111: the dump holds 2 databases \(shop, crm\).*mysqldump",
        ),
        ("pg_dumpall.sql", filter_postgresql, r"pg_dumpall\.sql:16: `CREATE ROLE postgres` refused"),
    ],
)
def test_a_dump_of_several_databases_or_of_roles_is_refused(name, reader, message):
    with pytest.raises(ConfigError, match=message):
        reader((DUMPS / name).read_bytes(), name)


@pytest.mark.parametrize(
    ("script", "line", "what"),
    [
        ("CREATE TABLE t (a int);\n\\! touch /tmp/marker\n", 2, r"psql command \\! refused"),
        ("SELECT 1; \\o |sh\n", 1, r"psql command \\o refused"),
        ("CREATE TABLE t (a int);\n\\copy t from program 'id'\n", 2, r"psql command \\copy refused"),
        ("\\i /etc/passwd\n", 1, r"psql command \\i refused"),
        ("CREATE TABLE t (a text);\nCOPY t FROM PROGRAM 'touch /tmp/m';\n", 2, "COPY … PROGRAM"),
        ("COPY t (a) FROM '/etc/passwd';\n", 1, "reads or writes files"),
        ("\n\nSET ROLE postgres;\n", 3, "switches roles"),
        ("SET SESSION AUTHORIZATION 'postgres';\n", 1, "switches roles"),
        ("ALTER SYSTEM SET archive_command = 'id';\n", 1, "ALTER SYSTEM"),
        ("-- c\n/* x */ CREATE ROLE evil SUPERUSER;\n", 2, "CREATE ROLE"),
    ],
)
def test_postgresql_statements_that_reach_beyond_the_scratch_database_are_refused_with_their_line(script, line, what):
    with pytest.raises(ConfigError, match=rf"^dump\.sql:{line}: .*{what}"):
        filter_postgresql(script.encode(), "dump.sql")


@pytest.mark.parametrize(
    ("script", "line", "what"),
    [
        ("CREATE TABLE t (a int);\n\\! touch /tmp/marker\n", 2, r"client command \\! refused"),
        ("CREATE TABLE t (a int);\nsystem touch /tmp/marker\n", 2, "client command system refused"),
        ("-- a comment\nsource /etc/passwd\n", 2, "client command source refused"),
        ("tee /tmp/out\n", 1, "client command tee"),
        ("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t;\n", 1, "LOAD DATA"),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x';\n", 1, "writes files"),
        ("/*!40101 GRANT ALL ON *.* TO x */;\n", 1, "changes privileges"),
        ("CREATE USER x IDENTIFIED BY 'y';\n", 1, "changes accounts"),
        ("INSTALL SONAME 'ha_connect';\n", 1, "loads code"),
    ],
)
def test_mysql_statements_and_client_commands_that_reach_beyond_are_refused_with_their_line(script, line, what):
    with pytest.raises(ConfigError, match=rf"^dump\.sql:{line}: .*{what}"):
        filter_mysql(script.encode(), "dump.sql")


def test_backslashes_inside_strings_comments_and_copy_data_are_data():
    script = (
        "CREATE TABLE t (a text);\n"
        "-- a comment with \\! in it\n"
        "INSERT INTO t VALUES ('\\! not a command'), (E'it\\'s \\\\! fine'), ($q$ \\! $q$);\n"
        "COPY t (a) FROM stdin;\n"
        "\\\\! a backslash in the data\n"
        "\\N\n"
        "\\.\n"
        "SELECT 1;\n"
    )
    out = filter_postgresql(script.encode(), "d.sql")
    assert out.data.decode() == script and out.removed == 0
    kinds = [p.kind for p in pg_pieces(script)]
    assert kinds == ["sql", "sql", "sql", "data", "sql"]


def test_mysql_strings_with_escapes_and_executable_comments_are_read_as_the_client_reads_them():
    script = (
        "INSERT INTO `t` VALUES ('a\\'; \\\\! b','c'';d'),(\"e\\\"f\");\n"
        "/*!40101 SET NAMES utf8mb4 */;\n"
        "# comment \\! here\n"
        "CREATE TABLE `x;y` (a int);\n"
    )
    pieces = [p for p in my_pieces(script) if p.kind != "gap"]
    assert [p.kind for p in pieces] == ["sql", "sql", "sql"]
    assert filter_mysql(script.encode(), "d.sql").data.decode() == script


def test_a_use_or_connect_naming_a_second_database_is_a_second_database():
    with pytest.raises(ConfigError, match=r"holds 2 databases \(app, other\)"):
        filter_mysql(b"CREATE DATABASE app;\nUSE app;\nCREATE TABLE t (a int);\nUSE other;\n", "d.sql")
    with pytest.raises(ConfigError, match=r"holds 2 databases \(app, postgres\)"):
        script = b"CREATE DATABASE app;\n\\connect app\nCREATE TABLE t (a int);\n\\connect postgres\n"
        filter_postgresql(script, "d.sql")
