"""The verification pass before a swap, over rows as the clients print them (a stand-in engine hands
out the text; the e2e tests run it on real PostgreSQL and MariaDB)."""

from contrail.staging import leaks


class Rows:
    """Answers text_of with fixed rows per table, for the columns asked."""

    def __init__(self, tables: dict[str, tuple[list[str], list[list[str]]]]) -> None:
        self.tables = tables
        self.columns = {table: dict.fromkeys(names, "text") for table, (names, _) in tables.items()}

    def text_of(self, columns, each_column=False):
        for table, (names, rows) in self.tables.items():
            asked = [i for i, name in enumerate(names) if name in columns.get(table, {})]
            for group in [[i] for i in asked] if each_column else [asked] if asked else []:
                text = "".join("\t".join(leaks.client_text(row[i]) for i in group) + "\n" for row in rows)
                yield table, [names[i] for i in group], text


def _values(*values: str) -> set[str]:
    return set(values)


def survivors(engine: Rows, columns: dict, originals: dict[tuple[str, str], set[str]], fakes: set[str]) -> list[str]:
    return leaks.survivors(engine, columns, originals.keys(), lambda: leaks.Originals.read(originals, fakes))  # type: ignore[arg-type]


def test_an_original_left_in_another_column_or_inside_json_is_named():
    engine = Rows(
        {
            "customers": (["email", "notes"], [["x.y.1@example.com", "call Anna at Anna.Smith@Shop.org"]]),
            "crm.leads": (["contact"], [['{"mail": "anna.smith@shop.org"}']]),
        }
    )
    found = survivors(engine, engine.columns, {("customers", "email"): _values("anna.smith@shop.org")}, set())
    assert found == [
        "customers.notes (an original of customers.email)",
        "crm.leads.contact (an original of customers.email)",
    ]


def test_no_original_left_is_an_empty_list_and_parts_of_words_or_made_fakes_do_not_count():
    engine = Rows({"customers": (["full_name", "city"], [["Joann Leeds", "Graz"], ["Mary Jones", "Li"]])})
    originals = {("customers", "full_name"): _values("Ann Lee", "Mary Jones", "Li")}
    # "Ann Lee" is inside longer words; "Mary Jones" is a fake this refresh made; "Li" (short) only as a
    # whole field — and city "Li" is one.
    assert survivors(engine, engine.columns, originals, {"Mary Jones"}) == [
        "customers.city (an original of customers.full_name)"
    ]
    assert survivors(engine, engine.columns, {("customers", "full_name"): _values("Zed Q")}, set()) == []


def test_values_with_tabs_and_newlines_are_found_as_the_client_escapes_them():
    value = "line one\nline\ttwo"
    engine = Rows({"t": (["a"], [[f"prefix {value} suffix"]])})
    assert survivors(engine, engine.columns, {("u", "b"): _values(value)}, set()) == ["t.a (an original of u.b)"]


def test_an_original_the_masking_missed_is_found_in_its_own_column():
    engine = Rows({"customers": (["email"], [["a.b.1@example.com"], ["Left.Over@Shop.org"]])})
    originals = {("customers", "email"): _values("left.over@shop.org", "gone@shop.org")}
    assert survivors(engine, engine.columns, originals, set()) == ["customers.email (an original of customers.email)"]


def test_an_original_that_begins_with_punctuation_is_found_from_its_first_word():
    engine = Rows({"tickets": (["notes"], [["call (020) 7946 0958 after six"]])})
    originals = {("customers", "phone"): _values("(020) 7946 0958")}
    assert survivors(engine, {"tickets": {"notes": "text"}}, originals, set()) == [
        "tickets.notes (an original of customers.phone)"
    ]
