"""Masking in transit: a dump's rows rewritten before they reach any database (recorded real dumps and
rows with the clients' escapes)."""

from pathlib import Path

from contrail import dumpsql, transit
from contrail.anonymise import Fakes, Rule

DUMPS = Path(__file__).resolve().parent.parent / "fixtures" / "dumps"
FAKES = Fakes("salt")


def rules(**kinds: str) -> list[Rule]:
    return [Rule(*key.split("__"), kind, "team.toml:9") for key, kind in kinds.items()]


def test_copy_rows_lose_their_originals_and_keep_everything_else():
    script = (
        "COPY public.customers (id, email, note, born) FROM stdin;\n"
        "1\tann@shop.org\tcalls\\tat\\nnight\t1980-01-02\n"
        "2\t\\N\tO'Brien \\\\ x\t\\N\n"
        "3\tann@shop.org\tcaf\\303\\251\t1990-03-04\n"
        "\\.\n"
        "COPY public.other (id, email) FROM stdin;\n7\tkept@shop.org\n\\.\n"
    )
    masked = transit.mask_postgresql(script.encode(), rules(customers__email="email", customers__note="hash"), FAKES)
    out = masked.data.decode()
    fake = FAKES.fake("email", "ann@shop.org")
    assert out.count(fake) == 2 and "ann@shop.org" not in out  # the same original, the same fake
    assert "\n2\t\\N\t" in out  # NULL stays NULL
    assert FAKES.fake("hash", "calls\tat\nnight") in out and FAKES.fake("hash", "café") in out  # decoded first
    assert "7\tkept@shop.org" in out  # another table, no rule: byte for byte
    assert masked.originals[("customers", "note")] == {"calls\tat\nnight", "O'Brien \\ x", "café"}
    assert masked.applied == {("customers", "email"), ("customers", "note")}
    assert out.count("\n") == script.count("\n")


def test_a_real_pg_dump_with_quoted_names_is_masked_and_a_null_rule_writes_null():
    raw = (DUMPS / "pg_dump-C-clean-if-exists.sql").read_bytes()
    filtered = dumpsql.filter_postgresql(raw, "prod.sql").data
    leads = Rule('crm.Leads "x"', "contact", "null", "t:1")
    masked = transit.mask_postgresql(filtered, [leads, *rules(customers__email="email")], FAKES)
    out = masked.data.decode()
    assert "a@b.org" not in out and "1\t\\N\n" in out
    assert masked.applied == {('crm.Leads "x"', "contact"), ("customers", "email")}


def test_mysqldump_extended_inserts_are_masked_by_the_columns_of_their_table():
    raw = (DUMPS / "mariadb-dump-databases-routines-triggers.sql").read_bytes()
    filtered = dumpsql.filter_mysql(raw, "prod.sql").data
    masked = transit.mask_mysql(filtered, [Rule("customers", "Full Name", "name", "t:1")], FAKES)
    out = masked.data.decode()
    assert masked.originals == {("customers", "Full Name"): {"Ann Ox27Brien"}}
    assert f"(1,'a@b.org','{FAKES.fake('name', 'Ann Ox27Brien')}')" in out


def test_mysql_strings_are_decoded_and_encoded_by_the_clients_rules():
    script = (
        "CREATE TABLE `t` (`id` int, `note` text DEFAULT 'a,(b)', PRIMARY KEY (`id`), KEY `k` (`note`(10)));\n"
        "INSERT INTO `t` VALUES (1,'it\\'s, (odd)\\nnew'),(2,NULL),(3,'x''y');\n"
    )
    masked = transit.mask_mysql(script.encode(), rules(t__note="hash"), FAKES)
    out = masked.data.decode()
    assert masked.originals[("t", "note")] == {"it's, (odd)\nnew", "x'y"}
    assert ",(2,NULL)," in out and FAKES.fake("hash", "x'y") in out
