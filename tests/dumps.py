"""Generated production-shaped dumps with personal data: customers, their addresses and orders
(foreign keys, an email copied into orders to join on), as pg_dump and mysqldump would write them."""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass, field
from pathlib import Path

FIRST = ["Anna", "Ben", "Chloé", "Dmitri", "Eve", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Liam", "Maëlle"]
LAST = ["Smith", "O'Brien", "Müller", "Nakamura", "Okafor", "Papadopoulos", "Quinn", "Rossi", "Svensson", "Tan"]
CITIES = ["Lyon", "Leeds", "Osaka", "Lagos", "Porto", "Graz"]

# The rules a team would write for these tables.
RULES = {
    "customers.full_name": "name",
    "customers.email": "email",
    "customers.phone": "phone",
    "addresses.street": "address",
    "addresses.city": "keep",
    "addresses.postcode": "null",
    "orders.customer_email": "email",
}


@dataclass
class Data:
    customers: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    addresses: list[tuple[int, int, str, str, str]] = field(default_factory=list)
    orders: list[tuple[int, int, str, str, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.customers) + len(self.addresses) + len(self.orders)

    def personal(self) -> set[str]:
        """Every original email, full name, phone and street: none may be left after a refresh."""
        return (
            {c[1] for c in self.customers}
            | {c[2] for c in self.customers}
            | {c[3] for c in self.customers}
            | {a[2] for a in self.addresses}
        )


def generate(customers: int = 4000, addresses: int = 3000, orders: int = 5000, seed: int = 1) -> Data:
    rng = random.Random(seed)
    data = Data()
    for i in range(1, customers + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{first} {last} {seed}-{i}"  # unique, so a leftover is unambiguous
        email = f"{first.lower()}.{last.lower().replace(chr(39), '')}.{seed}.{i}@customers.example.org"
        phone = f"+44 20 {rng.randrange(1000, 9999)} {i:05d}"
        data.customers.append((i, name, email, phone, f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"))
    for i in range(1, addresses + 1):
        owner = rng.randrange(1, customers + 1)
        street = f"{rng.randrange(1, 300)} {rng.choice(LAST)} Street, flat {seed}-{i}"
        data.addresses.append((i, owner, street, rng.choice(CITIES), f"PC{rng.randrange(10000, 99999)}"))
    for i in range(1, orders + 1):
        owner = rng.randrange(1, customers + 1)
        data.orders.append(
            (i, owner, data.customers[owner - 1][2], f"{rng.randrange(100, 99999) / 100:.2f}", f"order {i}")
        )
    return data


SCHEMA = {
    "customers": "id integer PRIMARY KEY, full_name varchar(200) NOT NULL, email varchar(200) NOT NULL UNIQUE, "
    "phone varchar(40), created date",
    "addresses": "id integer PRIMARY KEY, customer_id integer NOT NULL, street varchar(200), city varchar(80), "
    "postcode varchar(12)",
    "orders": "id integer PRIMARY KEY, customer_id integer NOT NULL, customer_email varchar(200), "
    "total numeric(10,2), note text",
}
FOREIGN_KEYS = [("addresses", "customer_id"), ("orders", "customer_id")]


def postgresql_dump(data: Data, path: Path, extra_column: str = "", inserts: bool = False) -> Path:
    """A plain pg_dump-style dump (CREATE TABLE, COPY … FROM stdin — or, with `inserts`, INSERTs of 1,000
    rows as `pg_dump --inserts --rows-per-insert=1000` writes them — then constraints), gzipped."""
    out = ["-- PostgreSQL database dump (generated for Contrail's tests)", "SET client_encoding = 'UTF8';", ""]
    for table, columns in SCHEMA.items():
        extra = f", {extra_column} text" if extra_column and table == "customers" else ""
        out.append(f"CREATE TABLE public.{table} ({columns}{extra});")
    for table in SCHEMA if inserts else ():
        rows = getattr(data, table)
        for start in range(0, len(rows), 1000):
            tuples = ",\n\t".join("(" + ", ".join(_sql(v) for v in row) + ")" for row in rows[start : start + 1000])
            out.append(f"INSERT INTO public.{table} VALUES\n\t{tuples};")
    for table in () if inserts else SCHEMA:
        rows = getattr(data, table)
        names = _names(table) + ([extra_column] if extra_column and table == "customers" else [])
        out.append(f"COPY public.{table} ({', '.join(names)}) FROM stdin;")
        for row in rows:
            values = [*map(str, row), *(["x"] if extra_column and table == "customers" else [])]
            out.append("\t".join(values))
        out.append("\\.")
        out.append("")
    for table, column in FOREIGN_KEYS:
        out.append(
            f"ALTER TABLE ONLY public.{table} ADD CONSTRAINT {table}_{column}_fkey FOREIGN KEY ({column}) "
            "REFERENCES public.customers(id);"
        )
    path.write_bytes(gzip.compress(("\n".join(out) + "\n").encode()))
    return path


def mysql_dump(data: Data, path: Path) -> Path:
    """A mysqldump-style dump (extended INSERTs of 500 rows), plain SQL."""
    out = ["-- MariaDB dump (generated for Contrail's tests)", "SET NAMES utf8mb4;", "SET FOREIGN_KEY_CHECKS=0;"]
    for table, columns in SCHEMA.items():
        fks = "".join(
            f", CONSTRAINT `{t}_{c}_fk` FOREIGN KEY (`{c}`) REFERENCES `customers` (`id`)"
            for t, c in FOREIGN_KEYS
            if t == table
        )
        out.append(f"CREATE TABLE `{table}` ({columns}{fks}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;")
    for table in SCHEMA:
        rows = getattr(data, table)
        for start in range(0, len(rows), 500):
            tuples = ",".join("(" + ",".join(_mysql(v) for v in row) + ")" for row in rows[start : start + 500])
            out.append(f"INSERT INTO `{table}` VALUES {tuples};")
    out.append("SET FOREIGN_KEY_CHECKS=1;")
    path.write_text("\n".join(out) + "\n")
    return path


def _names(table: str) -> list[str]:
    return [part.split()[0] for part in SCHEMA[table].split(", ") if not part.startswith(("PRIMARY", "UNIQUE"))]


def _sql(value: object) -> str:
    """A value as pg_dump --inserts writes it."""
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _mysql(value: object) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
