"""The anonymising SQL of a refresh, as each engine is sent it (a recording stand-in for the SSH remote;
the e2e tests run the same statements on real PostgreSQL and MariaDB)."""

import pytest

from contrail import staging
from contrail.tools.ssh import Output


class Recorder:
    """Answers each `run` with the next canned output and keeps the SQL it was given."""

    def __init__(self, answers: list[str]) -> None:
        self.answers, self.scripts = answers, []

    def run(self, command: str, *, stdin: str | None = None, **_: object) -> Output:
        self.scripts.append(stdin or "")
        return Output(True, self.answers.pop(0), "")


@pytest.mark.parametrize(
    ("engine", "answer", "stored"),
    [
        (staging.PostgreSQL, "0|616c696365\n1|5a6fc3ab\n", "5a6fc3ab"),
        (staging.MariaDB, "0\t616C696365\t616C696365\n1\t5A6FEB\t5A6FC3AB\n", "5A6FEB"),  # latin1 bytes, UTF-8
    ],
)
def test_every_columns_values_come_back_from_one_query(engine, answer, stored):
    remote = Recorder([answer])
    found = engine(remote, "app", "app").distinct_values([("users", "email"), ("users", "name")])  # type: ignore[arg-type]
    assert found[("users", "name")] == [(stored, "Zoë")] and found[("users", "email")][0][1] == "alice"
    assert len(remote.scripts) == 1 and remote.scripts[0].count("SELECT DISTINCT") == 2


@pytest.mark.parametrize("engine", [staging.PostgreSQL, staging.MariaDB])
def test_every_change_goes_in_one_transaction(engine):
    remote = Recorder([""])
    mapping = {"616c696365": "Zoë", "626f62": "Yann"}
    engine(remote, "app", "app").anonymise(  # type: ignore[arg-type]
        [("users", "email", mapping), ("users", "born", None), ("orders", "email", mapping)]
    )
    [script] = remote.scripts
    lines = script.splitlines()
    assert "BEGIN;" in lines and lines[-1] == "COMMIT;"
    assert script.count("CREATE TEMPORARY TABLE") == 2 and "contrail_map0" in script and "contrail_map2" in script
    assert script.count("UPDATE ") == 2  # one per table: each row written once
    assert engine(remote, "app", "app").quote("born") + " = NULL" in script


def test_values_travel_as_data_quoted_by_each_engines_rules():
    """A fake (or an original) holding quotes, backslashes, tabs or newlines cannot end the SQL around it."""
    nasty = "O'Brien\\\t');DROP TABLE users;--\n"
    for engine, expected in [
        (staging.PostgreSQL, "O'Brien\\\\\\t');DROP TABLE users;--\\n"),  # a COPY row's escapes
        (staging.MariaDB, "'O''Brien\\\\\t'');DROP TABLE users;--\n'"),  # a quoted literal
    ]:
        remote = Recorder([""])
        engine(remote, "app", "app").anonymise([("users", "name", {"61": nasty})])  # type: ignore[arg-type]
        [script] = remote.scripts
        assert expected in script, script


def test_an_empty_rule_list_sends_no_query():
    remote = Recorder([])
    assert staging.PostgreSQL(remote, "app", "app").distinct_values([]) == {}  # type: ignore[arg-type]
    assert remote.scripts == []


def test_names_from_a_dump_are_quoted_by_each_engines_rules():
    assert staging.pg_ident('Leads "x"') == '"Leads ""x"""' and staging.pg_literal("O'Brien") == "'O''Brien'"
    assert staging.my_ident("we`ird") == "`we``ird`" and staging.my_literal("a\\'b") == "'a\\\\''b'"
    assert staging.my_grant_pattern("app__incoming") == "`app\\_\\_incoming`"  # `_` is a wildcard in GRANT
