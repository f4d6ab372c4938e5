"""The proof a refresh gives before its swap: no original value of a masked column is left anywhere in
the scratch database — not in the masked columns, and not in any other text-like column of any table or
materialized view (a note quoting an email, a JSON document holding a phone number).

Rows come back as the clients print them (a row a line, tab between columns) and are searched
case-insensitively, in two ways:
- a masked column holds fakes, so an original there is a whole field: each field is looked up in the
  set of originals;
- any other text column may hold an original inside a longer text, as whole words: at every word of the
  text whose first characters begin an original, the text of each length such originals have is looked
  up in the same set (and must end a word there).
Both cost time in proportion to the text read, not to the number of originals (an Aho-Corasick automaton
of a million originals took longer to build than the whole search). A value shorter than `SHORT`
characters counts only as a whole field, anywhere. A value this refresh also made as a fake (a real name
can equal a generated one) is not counted: it is there because the fake put it there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from contrail.staging import dumpsql

if TYPE_CHECKING:
    from contrail.staging.engines import Engine

SHORT = 4
_ESCAPED = re.compile(r"[\\\t\n\r]")  # characters the clients print escaped
_NOT_WORD = " \t\n\r\f\v,;:\"'(){}[]<>|="
_WORD = re.compile(r"[^\s,;:\"'(){}\[\]<>|=]+")  # an email, a name, a number group: one word


def client_text(value: str) -> str:
    """A value as the clients print it in a row (COPY's and `mariadb -B`'s text escapes), lower-cased."""
    return value.translate(dumpsql.COPY_ESCAPES).lower()


@dataclass
class Originals:
    """Every original value of the masked columns, ready to be looked for."""

    whole: dict[str, str] = field(default_factory=dict)  # value as the client prints it → its table.column
    cores: dict[str, str] = field(default_factory=dict)  # from the first word on → table.column (index_beginnings)
    starts: dict[str, set[int]] = field(default_factory=dict)  # beginning → lengths (index_beginnings)
    short: bool = False  # some are shorter than SHORT

    def add(self, value: str, source: str) -> None:
        text = client_text(value) if _ESCAPED.search(value) else value.lower()
        if text not in self.whole:
            self.whole[text] = source
            self.short = self.short or len(text) < SHORT

    def index_beginnings(self) -> None:
        """For `inside`: each original from its first word on (a phone "(020) 7946 0958" from "020"), and
        its first SHORT characters → the lengths of the originals so begun."""
        for text, source in self.whole.items():
            core = text.lstrip(_NOT_WORD)
            if len(core) >= SHORT:
                self.cores.setdefault(core, source)
                self.starts.setdefault(core[:SHORT], set()).add(len(core))

    def inside(self, text: str) -> list[tuple[int, str]]:
        """(offset, source) of each original found in `text` as whole words: at every word whose first
        characters begin an original, the text of each length such originals have is looked up in the set
        of originals, and must end a word there."""
        found = []
        for word in _WORD.finditer(text):
            start = word.start()
            for length in self.starts.get(text[start : start + SHORT], ()):
                source = self.cores.get(text[start : start + length])
                if source and (start + length >= len(text) or not text[start + length].isalnum()):
                    found.append((start, source))
        return found


def survivors(
    engine: Engine,
    columns: dict[str, dict[str, str]],
    originals: dict[tuple[str, str], set[str]],
    fakes: set[str],
) -> list[str]:
    """table.column (holding the original of table.column) for every place an original value is found.
    `originals`: (table, column) of each masked column → its original values."""
    made = {fake.lower() for fake in fakes}
    wanted = Originals()
    for (table, column), values in originals.items():
        for value in values:
            if value.strip() and value.lower() not in made:
                wanted.add(value, f"{table}.{column}")
    if not wanted.whole:
        return []
    masked = {t: {c: k for c, k in cols.items() if (t, c) in originals} for t, cols in columns.items()}
    others = {t: {c: k for c, k in cols.items() if (t, c) not in originals} for t, cols in columns.items()}
    found: dict[str, None] = {}
    for table, [name], rows in engine.text_of(masked, each_column=True):  # a value a line: set lookups in C
        for value in wanted.whole.keys() & set(rows.lower().split("\n")):
            found[f"{table}.{name} (an original of {wanted.whole[value]})"] = None
    if any(others.values()):
        wanted.index_beginnings()
    for table, names, rows in engine.text_of(others):
        lowered = rows.lower()
        for offset, source in wanted.inside(lowered):
            found[f"{table}.{_column_at(lowered, offset, names)} (an original of {source})"] = None
        if wanted.short:
            for line in lowered.splitlines():
                for name, value in zip(names, line.split("\t"), strict=False):
                    if len(value) < SHORT and value in wanted.whole:
                        found[f"{table}.{name} (an original of {wanted.whole[value]})"] = None
    return list(found)


def _column_at(rows: str, offset: int, names: list[str]) -> str:
    """The column whose field holds `offset` in tab-separated rows."""
    line_start = rows.rfind("\n", 0, offset) + 1
    return names[min(rows.count("\t", line_start, offset), len(names) - 1)]
