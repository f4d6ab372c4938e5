"""The proof a refresh gives before its swap: no original value of a masked column is left anywhere in
the scratch database — not in the masked column, and not in any other text-like column of any table or
materialized view (a note quoting an email, a JSON document holding a phone number).

Every original value is searched for in the text of every row in one pass per table: an Aho-Corasick
automaton (pyahocorasick) over the client's output, case-insensitively. A value shorter than
`SHORT` characters would be found inside unrelated words, so it counts only as a whole field. A value
that this refresh also made as a fake (a real name can equal a generated one) is not counted: it is
there because the fake put it there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ahocorasick

if TYPE_CHECKING:
    from contrail.staging import Engine

SHORT = 4


def client_text(value: str) -> str:
    """A value as the clients print it in a row (COPY's and `mariadb -B`'s text escapes), lower-cased."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r").lower()


def survivors(
    engine: Engine,
    columns: dict[str, dict[str, str]],
    originals: dict[tuple[str, str], list[str]],
    fakes: set[str],
) -> list[str]:
    """table.column (holding the original of table.column) for every place an original value is found.
    `originals`: (table, column) of each masked column → its original values' UTF-8 hex."""
    whole: dict[str, str] = {}
    automaton = ahocorasick.Automaton()
    made = {fake.lower() for fake in fakes}
    for (table, column), values in originals.items():
        for value_hex in values:
            value = bytes.fromhex(value_hex).decode("utf-8", errors="replace")
            if value.lower() in made or not value.strip():
                continue
            text = client_text(value)
            if len(value) < SHORT:
                whole[text] = f"{table}.{column}"
            elif text not in automaton:
                automaton.add_word(text, (f"{table}.{column}", len(text)))
    if not whole and not len(automaton):
        return []
    if len(automaton):
        automaton.make_automaton()
    found: dict[str, None] = {}
    for table, names, rows in engine.text_of(columns):
        lowered = rows.lower()
        if len(automaton):
            for end, (source, length) in automaton.iter(lowered):
                if _whole_words(lowered, end - length + 1, end):
                    found[f"{table}.{_column_at(lowered, end, names)} (an original of {source})"] = None
        if whole:
            for line in lowered.splitlines():
                for name, field in zip(names, line.split("\t"), strict=False):
                    if field in whole:
                        found[f"{table}.{name} (an original of {whole[field]})"] = None
    return list(found)


def _whole_words(text: str, first: int, last: int) -> bool:
    """The match text[first:last + 1] is not part of a longer word ("Ann Lee" inside "Joann Leeds")."""
    before = text[first - 1] if first > 0 else " "
    after = text[last + 1] if last + 1 < len(text) else " "
    return not (before.isalnum() or after.isalnum())


def _column_at(rows: str, offset: int, names: list[str]) -> str:
    """The column whose field holds `offset` in tab-separated rows."""
    line_start = rows.rfind("\n", 0, offset) + 1
    return names[min(rows.count("\t", line_start, offset), len(names) - 1)]
