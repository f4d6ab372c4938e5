"""The verification pass before a swap, over rows as the clients print them (a stand-in engine hands
out the text; the e2e tests run it on real PostgreSQL and MariaDB)."""

from contrail import leaks


class Rows:
    """Answers text_of with fixed rows per table."""

    def __init__(self, tables: dict[str, tuple[list[str], list[list[str]]]]) -> None:
        self.tables = tables

    def text_of(self, columns):
        for table, (names, rows) in self.tables.items():
            yield table, names, "".join("\t".join(leaks.client_text(v) for v in row) + "\n" for row in rows)


def _hex(*values: str) -> list[str]:
    return [v.encode().hex() for v in values]


def test_an_original_left_in_another_column_or_inside_json_is_named():
    engine = Rows(
        {
            "customers": (["email", "notes"], [["x.y.1@example.com", "call Anna at Anna.Smith@Shop.org"]]),
            "crm.leads": (["contact"], [['{"mail": "anna.smith@shop.org"}']]),
        }
    )
    found = leaks.survivors(engine, {}, {("customers", "email"): _hex("anna.smith@shop.org")}, set())  # type: ignore[arg-type]
    assert found == [
        "customers.notes (an original of customers.email)",
        "crm.leads.contact (an original of customers.email)",
    ]


def test_no_original_left_is_an_empty_list_and_parts_of_words_or_made_fakes_do_not_count():
    engine = Rows({"customers": (["full_name", "city"], [["Joann Leeds", "Graz"], ["Mary Jones", "Li"]])})
    originals = {("customers", "full_name"): _hex("Ann Lee", "Mary Jones", "Li")}
    # "Ann Lee" is inside longer words; "Mary Jones" is a fake this refresh made; "Li" (short) only as a
    # whole field — and city "Li" is one.
    assert leaks.survivors(engine, {}, originals, {"Mary Jones"}) == [  # type: ignore[arg-type]
        "customers.city (an original of customers.full_name)"
    ]
    assert leaks.survivors(engine, {}, {("customers", "full_name"): _hex("Zed Q")}, set()) == []  # type: ignore[arg-type]


def test_values_with_tabs_and_newlines_are_found_as_the_client_escapes_them():
    value = "line one\nline\ttwo"
    engine = Rows({"t": (["a"], [[f"prefix {value} suffix"]])})
    assert leaks.survivors(engine, {}, {("u", "b"): _hex(value)}, set()) == ["t.a (an original of u.b)"]  # type: ignore[arg-type]
