"""Anonymisation rules for staging data: which column gets what, and the fake values themselves.

Rules come from `[anonymise]` in contrail-team.toml, one per column: `"users.email" = "email"`.
Every fake is a function of the original value and the team's secret salt only, so the same value
becomes the same fake in every table and every refresh (joins on it survive), and the original cannot
be recovered by hashing guesses without the salt.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contrail.errors import ConfigError
from contrail.staging import namelists
from contrail.staging.pii import name_looks_personal

KINDS = ("name", "email", "phone", "address", "hash", "null", "keep")
TEXT_TYPES = ("text", "character varying", "character", "varchar", "char", "tinytext", "mediumtext", "longtext")


@dataclass(frozen=True)
class Rule:
    table: str
    column: str
    kind: str
    where: str  # file:line of the rule

    @property
    def key(self) -> str:
        return f"{self.table}.{self.column}"


def parse_rules(file: Path, text: str, raw: object) -> list[Rule]:
    """[anonymise] → rules; a malformed key or an unknown kind is one line with file:line."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}:{_line(text, '[anonymise]')}: [anonymise] must be a table")
    rules = []
    for key, kind in raw.items():
        where = f"{file}:{_line(text, key)}"
        table, dot, column = key.rpartition(".")
        if not dot or not table or not column:
            raise ConfigError(f'{where}: anonymise key "{key}" must be "table.column" (or "schema.table.column")')
        if kind not in KINDS:
            raise ConfigError(f"{where}: anonymise.{key} = {kind!r} is not a rule (one of: {', '.join(KINDS)})")
        rules.append(Rule(table, column, kind, where))
    return rules


def _line(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith((f'"{key}"', f"'{key}'", f"{key} ", f"{key}=")):
            return number
    return 1


def check_rules(rules: list[Rule], columns: dict[str, dict[str, str]]) -> None:
    """Every rule names an existing column, of a text type unless the rule is null or keep."""
    for rule in rules:
        table = columns.get(rule.table)
        if table is None:
            known = ", ".join(sorted(columns)) or "none"
            raise ConfigError(f"{rule.where}: anonymise rule for table {rule.table!r}: not in the dump (has: {known})")
        if rule.column not in table:
            raise ConfigError(
                f"{rule.where}: anonymise rule for {rule.key}: no such column (columns of {rule.table}: "
                f"{', '.join(table)})"
            )
        kind = table[rule.column]
        if rule.kind not in ("null", "keep") and kind.lower() not in TEXT_TYPES:
            raise ConfigError(f"{rule.where}: anonymise.{rule.key} = {rule.kind!r} needs a text column ({kind})")


def unmasked(rules: list[Rule], columns: dict[str, dict[str, str]]) -> list[str]:
    """table.column of every personal-looking column no rule covers."""
    ruled = {r.key for r in rules}
    return [
        f"{table}.{column}"
        for table, cols in sorted(columns.items())
        for column in cols
        if name_looks_personal(column) and f"{table}.{column}" not in ruled
    ]


class Fakes:
    """Deterministic fakes from (salt, value): names, emails and addresses drawn by the value's digest from
    lists frozen in the project (contrail/data/fakes-v1.json, taken from Faker's en_US data), phone numbers
    in the fictional 555-01xx range. Nothing depends on the installed Faker, so an upgrade never changes a
    fake, and joins across refreshes and pulls stay stable.

    Masking calls this once per field of a dump (a million times for a million rows): `maker(kind)` gives
    the function for one rule kind, its digest prefix bound once (callers cache what repeats)."""

    def __init__(self, salt: str) -> None:
        self.salt = salt.encode()
        data = namelists.lists()
        self.first, self.last = data["first_names"], data["last_names"]
        self.first_lower, self.last_lower = [n.lower() for n in self.first], [n.lower() for n in self.last]
        self.street_suffixes, self.city_suffixes = data["street_suffixes"], data["city_suffixes"]
        self.states = data["states_abbr"]
        self._makers: dict[str, Callable[[str], str]] = {}

    def fake(self, kind: str, value: str) -> str:
        return self.maker(kind)(value)

    def maker(self, kind: str) -> Callable[[str], str]:
        """value → its fake for rule `kind`."""
        if kind not in self._makers:
            self._makers[kind] = self._make_for(kind)
        return self._makers[kind]

    def _make_for(self, kind: str) -> Callable[[str], str]:
        """The maker of `kind`'s fakes (the digest's prefix is "hash" for hashes, "fake" otherwise)."""
        prefix = self.salt + b"\0" + (b"hash" if kind == "hash" else b"fake") + b"\0"
        sha256, unpack = hashlib.sha256, struct.Struct(">8I").unpack
        first, last, first_lower, last_lower = self.first, self.last, self.first_lower, self.last_lower
        if kind == "hash":
            return lambda value: sha256(prefix + value.encode()).hexdigest()
        if kind == "name":

            def name(value: str) -> str:
                words = unpack(sha256(prefix + value.encode()).digest())
                return f"{first[words[2] % len(first)]} {last[words[3] % len(last)]}"

            return name
        if kind == "email":  # the digest keeps it unique per original, so unique constraints hold

            def email(value: str) -> str:
                digest = sha256(prefix + value.encode()).digest()
                words = unpack(digest)
                a, b = first_lower[words[2] % len(first)], last_lower[words[3] % len(last)]
                return f"{a}.{b}.{digest[:4].hex()}@example.com"

            return email
        if kind == "address":
            streets, cities, states = self.street_suffixes, self.city_suffixes, self.states

            def address(value: str) -> str:
                words = unpack(sha256(prefix + value.encode()).digest())
                number, street, city, state = words[4:]
                suffix, town = streets[street % len(streets)], first[words[2] % len(first)] + cities[city % len(cities)]
                place = f"{town}, {states[state % len(states)]} {10000 + number // 9900 % 90000}"
                return f"{100 + number % 9900} {last[words[3] % len(last)]} {suffix}, {place}"

            return address
        if kind == "phone":

            def phone(value: str) -> str:
                words = unpack(sha256(prefix + value.encode()).digest())
                return f"+1-{200 + words[0] % 800}-555-{100 + words[1] % 100:04d}"

            return phone
        raise ValueError(f"no fake for rule {kind!r}")
