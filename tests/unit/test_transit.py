"""Masking in transit: a dump's rows rewritten before they reach any database (recorded real dumps and
rows with the clients' escapes)."""

import gzip
from pathlib import Path

from contrail.staging import dumpsql, transit
from contrail.staging.anonymise import Fakes, Rule
from tests import dumps

DUMPS = Path(__file__).resolve().parent.parent / "fixtures" / "dumps"
FAKES = Fakes("salt")


def rules(**kinds: str) -> list[Rule]:
    return [Rule(*key.split("__"), kind, "team.toml:9") for key, kind in kinds.items()]


def mask(engine: str, script: bytes, rules: list[Rule]) -> transit.Masking:
    """`script` as the loader reads it: filtered, then masked (its `data` read whole)."""
    masking = transit.Masking(engine, dumpsql.FILTERS[engine](script, "prod.sql"), rules, FAKES)
    assert masking.data is not None
    return masking


def test_copy_rows_lose_their_originals_and_keep_everything_else():
    script = (
        "COPY public.customers (id, email, note, born) FROM stdin;\n"
        "1\tann@shop.org\tcalls\\tat\\nnight\t1980-01-02\n"
        "2\t\\N\tO'Brien \\\\ x\t\\N\n"
        "3\tann@shop.org\tcaf\\303\\251\t1990-03-04\n"
        "\\.\n"
        "COPY public.other (id, email) FROM stdin;\n7\tkept@shop.org\n\\.\n"
    )
    masked = mask("postgresql", script.encode(), rules(customers__email="email", customers__note="hash"))
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
    masked = mask("postgresql", filtered, [leads, *rules(customers__email="email")])
    out = masked.data.decode()
    assert "a@b.org" not in out and "1\t\\N\n" in out
    assert masked.applied == {('crm.Leads "x"', "contact"), ("customers", "email")}


def test_mysqldump_extended_inserts_are_masked_by_the_columns_of_their_table():
    raw = (DUMPS / "mariadb-dump-databases-routines-triggers.sql").read_bytes()
    filtered = dumpsql.filter_mysql(raw, "prod.sql").data
    masked = mask("mysql", filtered, [Rule("customers", "Full Name", "name", "t:1")])
    out = masked.data.decode()
    assert masked.originals == {("customers", "Full Name"): {"Ann Ox27Brien"}}
    assert f"(1,'a@b.org','{FAKES.fake('name', 'Ann Ox27Brien')}')" in out


def test_mysql_strings_are_decoded_and_encoded_by_the_clients_rules():
    script = (
        "CREATE TABLE `t` (`id` int, `note` text DEFAULT 'a,(b)', PRIMARY KEY (`id`), KEY `k` (`note`(10)));\n"
        "INSERT INTO `t` VALUES (1,'it\\'s, (odd)\\nnew'),(2,NULL),(3,'x''y');\n"
    )
    masked = mask("mysql", script.encode(), rules(t__note="hash"))
    out = masked.data.decode()
    assert masked.originals[("t", "note")] == {"it's, (odd)\nnew", "x'y"}
    assert ",(2,NULL)," in out and FAKES.fake("hash", "x'y") in out


def test_a_latin1_dump_is_read_by_its_declared_encoding_and_unknown_ones_are_left_to_the_database():
    create = "CREATE TABLE `order lines|2024` (`id` int, `buyer` varchar(100));\n"
    rows = "INSERT INTO `order lines|2024` VALUES (1,'Zoë Müller'),(2,'Ann');\n"
    script = (
        "/*!40101 SET NAMES latin1 */;\n" + create + "/*!40101 SET character_set_client = utf8 */;\n"
        "/*!40101 SET character_set_client = @saved_cs_client */;\n" + rows
    ).encode("cp1252")
    masked = mask("mysql", script, rules(**{"order lines|2024__buyer": "name"}))
    assert masked.originals[("order lines|2024", "buyer")] == {"Zoë Müller", "Ann"}
    assert FAKES.fake("name", "Zoë Müller").encode("cp1252") in masked.data and b"M\xfcller" not in masked.data
    assert masked.applied == {("order lines|2024", "buyer")}

    raw = ("/*!40101 SET NAMES binary */;\n" + create + rows).encode("cp1252")
    left = mask("mysql", raw, rules(**{"order lines|2024__buyer": "name"}))
    assert left.data == raw and left.applied == set() and left.originals == {}


def test_bytes_not_in_the_declared_encoding_leave_the_column_to_the_database():
    table = b"CREATE TABLE `t` (`id` int, `note` text);\n"
    script = table + b"INSERT INTO `t` VALUES (1,'ann@x.org'),(2,'caf\xe9');\n"  # declared nothing: UTF-8
    assert mask("mysql", script, rules(t__note="hash")).applied == set()
    assert mask("mysql", script.replace(b"\xe9", b"e"), rules(t__note="hash")).applied == {("t", "note")}
    pg = b"SET client_encoding = 'SQL_ASCII';\nCOPY public.t (id, note) FROM stdin;\n1\tcaf\xe9\n\\.\n"
    assert mask("postgresql", pg, rules(t__note="hash")).applied == set()
    latin = pg.replace(b"SQL_ASCII", b"LATIN1")
    assert mask("postgresql", latin, rules(t__note="hash")).originals == {("t", "note"): {"café"}}


def test_replace_and_insert_ignore_rows_are_masked_like_inserts():
    script = (
        "CREATE TABLE `t` (`id` int, `note` text);\n"
        "REPLACE INTO `t` VALUES (1,'a@b.org');\nINSERT IGNORE INTO `t` VALUES (2,'c@d.org');\n"
    )
    masked = mask("mysql", script.encode(), rules(t__note="email"))
    assert masked.originals == {("t", "note"): {"a@b.org", "c@d.org"}} and b"@b.org" not in masked.data


def test_rows_are_counted_by_the_names_the_engine_lists():
    pg = (
        'COPY crm."Leads ""x""" (id) FROM stdin;\n1\n2\n\\.\n'
        "COPY public.customers (id) FROM stdin;\n1\n\\.\n"
        "COPY public.bare FROM stdin;\n1\n\\.\n"
        "INSERT INTO public.orders VALUES\n(1, 'a;b'),(2, '(c)'), (3, 'it''s (');\n"
        "SET client_encoding = 'UTF8';\nCOPY public.\"Kundén\" (id) FROM stdin;\n1\n\\.\n"
    )
    counted = mask("postgresql", pg.encode(), [])
    assert counted.expected_rows() == {'crm.Leads "x"': 2, "customers": 1, "bare": 1, "orders": 3, "Kundén": 1}
    my = "INSERT INTO `orders` VALUES (1,'a;b'),(2,'(c)'),(3,'it\\'s (\\\\'),(4,'x''(y');\n"
    my += "REPLACE INTO `t` VALUES (1);\n"
    counted = mask("mysql", my.encode(), [])
    assert counted.expected_rows() == {"orders": 4}  # REPLACE may replace rows: `t` cannot be counted
    masked = mask("mysql", my.encode(), rules(orders__x="null"))
    assert masked.expected_rows() == {"orders": 4}


def test_a_generated_dump_is_counted_whole_in_both_forms(tmp_path):
    data = dumps.generate(customers=40, addresses=7, orders=1203)
    pg = gzip.decompress(dumps.postgresql_dump(data, tmp_path / "d.sql.gz").read_bytes())
    my = dumps.mysql_dump(data, tmp_path / "d.sql").read_bytes()
    for engine, script in (("postgresql", pg), ("mysql", my)):
        for rule_set in ([], rules(customers__email="email", orders__note="hash")):
            assert mask(engine, script, rule_set).expected_rows() == {"customers": 40, "addresses": 7, "orders": 1203}


def test_rows_masked_a_column_at_a_time_are_the_rows_masked_one_by_one():
    """The two ways masking in transit rewrites COPY rows agree, field for field and original for original:
    NULLs, a value met twice, non-ASCII text; and blocks the column path leaves to the row path (an
    escaped value in a masked column, a row of another width) come out the same too."""
    header = "SET client_encoding = 'UTF8';\nCOPY public.people (id, name, email, note) FROM stdin;\n"
    plain = "".join(f"{i}\tZoë Person {i % 7}\tp{i % 50}@x.org\t\\N\n" for i in range(400)) + "400\t\\N\t\\N\tn\n"
    escaped = plain + "401\ttab\\there\tq@x.org\tx\n"
    ragged = plain + "402\tshort\n"
    for rows in (plain, escaped, ragged):
        script = (header + rows + "\\.\n").encode()
        chosen = rules(people__name="name", people__email="email", people__id="null")
        by_columns = mask("postgresql", script, chosen)
        by_rows = transit.Masking("postgresql", dumpsql.filter_postgresql(script, "p.sql"), chosen, FAKES)
        by_rows._mask_copy_columns = lambda *_: None  # type: ignore[method-assign]
        assert by_columns.data == by_rows.data and by_columns.originals == by_rows.originals
        assert by_columns.expected_rows() == by_rows.expected_rows() == {"people": rows.count("\n")}
    assert "Zoë Person 3" in by_columns.originals[("people", "name")]
    lines = by_columns.data.decode().split("FROM stdin;\n")[1].splitlines()[:-1]
    assert all(line.startswith("\\N\t") for line in lines)  # the null rule: every id
    assert "Zoë" not in by_columns.data.decode() and "@x.org" not in by_columns.data.decode()


def test_a_table_that_also_takes_inserts_is_left_to_the_database():
    """pg_dump writes a table's rows one way, but a hand-joined dump may add INSERTs to COPY rows: their
    values are not read here, so the whole column is masked in the database (where this reading's fakes
    map to themselves)."""
    script = (
        "COPY public.people (id, email) FROM stdin;\n1\ta@x.org\n\\.\n"
        "INSERT INTO public.people VALUES (2, 'b@x.org');\n"
        "COPY public.other (id, email) FROM stdin;\n1\tc@x.org\n\\.\n"
    )
    masked = mask("postgresql", script.encode(), rules(people__email="email", other__email="email"))
    assert masked.applied == {("other", "email")}
    assert masked.fakes_made() == {FAKES.fake("email", "a@x.org"), FAKES.fake("email", "c@x.org")}
