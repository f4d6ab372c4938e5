"""Anonymisation rules, fakes, personal-column detection, and reading dumps — without a database."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from contrail import staging
from contrail.errors import ConfigError
from contrail.staging.anonymise import Fakes, Rule, check_rules, parse_rules, unmasked

COLUMNS = {
    "customers": {"id": "integer", "full_name": "character varying", "email": "character varying", "age": "integer"},
    "orders": {"id": "integer", "customer_email": "text", "note": "text"},
}


def rules(**kinds: str) -> list[Rule]:
    return [Rule(*key.split("__"), kind, "team.toml:9") for key, kind in kinds.items()]


def test_fakes_are_deterministic_per_salt_and_unique_per_value():
    one, again, other = Fakes("s1"), Fakes("s1"), Fakes("s2")
    assert one.fake("email", "ann@corp.test") == again.fake("email", "ann@corp.test")
    assert one.fake("email", "ann@corp.test") != other.fake("email", "ann@corp.test")
    emails = {one.fake("email", f"user{i}@corp.test") for i in range(5000)}
    assert len(emails) == 5000 and all(e.endswith("@example.com") for e in emails)
    assert one.fake("hash", "x") == one.fake("hash", "x") and len(one.fake("hash", "x")) == 64
    assert one.fake("name", "Ann Smith") != "Ann Smith" and " " in one.fake("name", "Ann Smith")
    assert one.fake("address", "1 Main St") == again.fake("address", "1 Main St")


@pytest.mark.parametrize(
    ("kind", "value", "fake"),
    [
        ("name", "Ann Smith", "Mitchell Patel"),
        ("email", "ann@corp.test", "alexis.tate.c94762d4@example.com"),
        ("phone", "+44 20 7946 0000", "+1-459-555-0129"),
        ("address", "1 Main St", "3711 Chang Fords, Judithfurt, NV 54672"),
    ],
)
def test_fakes_never_change_between_versions(kind, value, fake):
    """Pinned: the data they are drawn from is frozen in the project, not read from the installed Faker,
    so a refresh after an upgrade still maps each value where the last one did (joins across pulls)."""
    assert Fakes("team-salt").fake(kind, value) == fake


def test_rules_parse_with_their_line_and_refuse_unknown_kinds(tmp_path):
    text = '[team]\nname = "t"\n\n[anonymise]\n"users.email" = "email"\n"users.bio" = "scramble"\n'
    file = tmp_path / "contrail-team.toml"
    with pytest.raises(ConfigError, match=r"contrail-team\.toml:6: anonymise\.users\.bio = 'scramble' is not a rule"):
        parse_rules(file, text, {"users.email": "email", "users.bio": "scramble"})
    with pytest.raises(ConfigError, match=r'anonymise key "email" must be "table.column"'):
        parse_rules(file, text, {"email": "email"})
    assert parse_rules(file, text, {"users.email": "email"})[0].where.endswith("contrail-team.toml:5")


def test_rules_must_name_real_text_columns():
    check_rules(rules(customers__email="email", customers__age="null"), COLUMNS)
    with pytest.raises(ConfigError, match=r"team\.toml:9: anonymise rule for customers\.emial: no such column"):
        check_rules(rules(customers__emial="email"), COLUMNS)
    with pytest.raises(ConfigError, match=r"anonymise rule for table 'users': not in the dump"):
        check_rules(rules(users__email="email"), COLUMNS)
    with pytest.raises(ConfigError, match=r"customers\.age = 'hash' needs a text column \(integer\)"):
        check_rules(rules(customers__age="hash"), COLUMNS)


def test_personal_looking_columns_without_a_rule_are_named():
    assert unmasked([], COLUMNS) == ["customers.full_name", "customers.email", "orders.customer_email"]
    covered = rules(customers__full_name="name", customers__email="keep", orders__customer_email="email")
    assert unmasked(covered, COLUMNS) == []


def test_a_dump_is_read_by_content_and_a_truncated_gzip_is_bad_input(tmp_path):
    plain = tmp_path / "d.sql.gz"  # named .gz, but plain
    plain.write_bytes(b"SELECT 1;\n")
    assert staging.open_dump(plain) == b"SELECT 1;\n"
    cut = tmp_path / "cut.sql.gz"
    cut.write_bytes(gzip.compress(b"SELECT 1;\n" * 1000)[:50])
    with pytest.raises(ConfigError, match="not a complete gzip file"):
        staging.open_dump(cut)
    with pytest.raises(ConfigError, match="does not exist"):
        staging.open_dump(Path(tmp_path / "none.sql"))


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('psql:<stdin>:3: ERROR:  syntax error at or near ";"', 'prod.sql:3: syntax error at or near ";"'),
        (
            "ERROR 1064 (42000) at line 17: You have an error in your SQL syntax",
            "prod.sql:17: You have an error in your SQL syntax",
        ),
        (
            "ERROR 1062 (23000) at line 40: Duplicate entry 'anna@shop.org' for key 'email'",
            "prod.sql:40: Duplicate entry '…' for key '…'",  # a value in an error never reaches the terminal
        ),
        (
            'psql:<stdin>:9: ERROR:  duplicate key value violates unique constraint "c_email_key"\n'
            "DETAIL:  Key (email)=(anna@shop.org) already exists.",
            'prod.sql:9: duplicate key value violates unique constraint "c_email_key"',
        ),
        ("pg_restore: error: input file is too short", "prod.sql: pg_restore: error: input file"),
    ],
)
def test_loader_errors_point_at_the_dump_and_hide_the_values_they_quote(output, expected):
    message = staging.dump_error("prod.sql", output)
    assert message.startswith(expected) and "anna" not in message
