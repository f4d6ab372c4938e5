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
of a million originals took longer to build than the whole search), and as much of it as can be runs as
set operations and regular expressions over whole texts, in C: the words whose first characters begin
no original at all, most of them, never reach a Python loop. The rows are read while the originals are
made ready. A value shorter than `SHORT`
characters counts only as a whole field, anywhere. A value this refresh also made as a fake (a real name
can equal a generated one) is not counted: it is there because the fake put it there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING

from contrail.staging import dumpsql

if TYPE_CHECKING:
    from contrail.staging.engines import Engine

SHORT = 4
_ESCAPED = re.compile(r"[\\\t\n\r]")  # characters the clients print escaped
_WORD = r"[^\s,;:\"'(){}\[\]<>|=]"  # a word: an email, a name, a number group
# At each word's start, its first SHORT characters (what follows it included, as `inside` looks them up),
# in a text that begins with a separator. The separator comes first in the pattern: found in C.
_BEGINNING = re.compile(rf"[\s,;:\"'(){{}}\[\]<>|=](?={_WORD})(?=(.{{1,{SHORT}}}))", re.S)
_LEADING = re.compile(rf"^(?:(?!{_WORD}).)+", re.S)  # a value's characters before its first word
# Over values each between NULs (`client_texts`): the first SHORT characters of each; the values shorter
# than SHORT or only blanks; the values not beginning with a word. Each begins with the literal NUL: found in C.
_FIRST = re.compile(rf"\0([^\0]{{{SHORT}}})")
_SHORT_OR_BLANK = re.compile(rf"\0([^\0]{{1,{SHORT - 1}}}|\s+)(?=\0)")
_ODD = re.compile(rf"\0((?!{_WORD})[^\0]+)")


def client_text(value: str) -> str:
    """A value as the clients print it in a row (COPY's and `mariadb -B`'s text escapes), lower-cased."""
    return value.translate(dumpsql.COPY_ESCAPES).lower()


def client_texts(values: Iterable[str]) -> str:
    """`client_text` of each value, each between NULs ("\\0a\\0b\\0"): joined and lower-cased in C when
    none needs escaping (nor holds NUL), else one by one. Whole-list questions are then regular
    expressions over one string."""
    listed = list(values)
    joined = "\0".join(listed)
    if joined.count("\0") != max(len(listed) - 1, 0) or any(char in joined for char in "\\\t\n\r"):
        joined = "\0".join(client_text(value).replace("\0", " ") for value in listed)
    return f"\0{joined.lower()}\0" if listed else ""


@dataclass
class Originals:
    """Every original value of the masked columns, ready to be looked for: as the clients print them,
    lower-cased, by the column they come from."""

    of: dict[str, str]  # table.column → its originals (`client_texts`)
    fakes: Iterable[str]  # every fake this refresh made (read only when an original is found)
    every: set[str] = field(default_factory=set)
    short: set[str] = field(default_factory=set)  # those shorter than SHORT characters
    # the first SHORT characters of each from its first word on (a phone "(020) 7946 0958" from "020")
    beginnings: set[str] = field(default_factory=set)
    cores: dict[str, str] = field(default_factory=dict)  # from the first word on → the original (`begin`)
    starts: dict[str, set[int]] = field(default_factory=dict)  # beginning → lengths of the cores so begun

    def __post_init__(self) -> None:
        self.every = set(chain.from_iterable(texts.split("\0") for texts in self.of.values()))
        self.every.discard("")
        odd = {value for texts in self.of.values() for value in _SHORT_OR_BLANK.findall(texts)}
        self.every -= {value for value in odd if value.isspace()}
        self.short = {value for value in odd if len(value) < SHORT} & self.every
        for texts in self.of.values():
            self.beginnings.update(_FIRST.findall(texts))
            self.beginnings.update(core[:SHORT] for core in map(_core, _ODD.findall(texts)) if len(core) >= SHORT)

    @classmethod
    def read(cls, originals: dict[tuple[str, str], set[str]], fakes: Iterable[str]) -> Originals:
        return cls({f"{table}.{column}": client_texts(values) for (table, column), values in originals.items()}, fakes)

    @cached_property
    def made(self) -> set[str]:
        return set(client_texts(self.fakes).split("\0"))

    def source(self, text: str) -> str | None:
        """The column `text` is an original of; None when this refresh also made it as a fake (a real name
        can equal a generated one: it is there because the fake put it there)."""
        if text in self.made:
            return None
        return next(column for column, texts in self.of.items() if f"\0{text}\0" in texts)

    def begin(self, beginnings: set[str]) -> None:
        """`cores` and `starts` for the originals that begin with one of `beginnings` (those met in the text)."""
        for text in self.every:
            core = _core(text)
            if len(core) >= SHORT and core[:SHORT] in beginnings:
                self.cores.setdefault(core, text)
                self.starts.setdefault(core[:SHORT], set()).add(len(core))

    def inside(self, text: str) -> list[tuple[int, str]]:
        """(offset, original) of each original found in `text` as whole words: at every word whose first
        characters begin an original, the text of each length such originals have is looked up in the set
        of originals, and must end a word there."""
        found = []
        for word in _BEGINNING.finditer(text):
            lengths = self.starts.get(word.group(1))
            if not lengths:
                continue
            start = word.start(1)
            for length in lengths:
                original = self.cores.get(text[start : start + length])
                if original and (start + length >= len(text) or not text[start + length].isalnum()):
                    found.append((start, original))
        return found


def _core(text: str) -> str:
    """An original from its first word on."""
    return _LEADING.sub("", text)


def survivors(
    engine: Engine,
    columns: dict[str, dict[str, str]],
    masked_columns: Collection[tuple[str, str]],
    originals: Callable[[], Originals],
) -> list[str]:
    """table.column (holding the original of table.column) for every place an original value is found.
    `masked_columns`: (table, column) of each masked column; `originals()`, called while the rows are
    read: their original values, ready to be looked for."""
    masked = {t: {c: k for c, k in cols.items() if (t, c) in masked_columns} for t, cols in columns.items()}
    others = {t: {c: k for c, k in cols.items() if (t, c) not in masked_columns} for t, cols in columns.items()}
    found: dict[str, None] = {}

    def report(table: str, column: str, original: str) -> None:
        source = wanted.source(original)
        if source:
            found[f"{table}.{column} (an original of {source})"] = None

    with ThreadPoolExecutor(2) as reading:  # the rows come while the originals are made ready
        own_rows = reading.submit(lambda: list(engine.text_of(masked, each_column=True)))
        other_rows = reading.submit(lambda: list(engine.text_of(others)) if any(others.values()) else [])
        wanted = originals()
        for table, [name], rows in own_rows.result():  # a value a line: set operations in C
            for original in wanted.every & set(rows.lower().split("\n")):
                report(table, name, original)
        texts = [(table, names, "\n" + rows.lower()) for table, names, rows in other_rows.result()]
    met = set().union(*(_BEGINNING.findall(text) for _, _, text in texts)) & wanted.beginnings if texts else set()
    if met:
        wanted.begin(met)
    for table, names, text in texts:
        for offset, original in wanted.inside(text) if met else ():
            report(table, _column_at(text, offset, names), original)
        if wanted.short and wanted.short & set(re.split("[\t\n]", text)):
            for line in text.splitlines():
                for name, value in zip(names, line.split("\t"), strict=False):
                    if value in wanted.short:
                        report(table, name, value)
    return list(found)


def _column_at(rows: str, offset: int, names: list[str]) -> str:
    """The column whose field holds `offset` in tab-separated rows."""
    line_start = rows.rfind("\n", 0, offset) + 1
    return names[min(rows.count("\t", line_start, offset), len(names) - 1)]
