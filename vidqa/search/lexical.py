"""Exact strings found exactly: a trigram FTS5 table beside the vectors, and one ranking of both.

    meta.sqlite  lexical   FTS5, trigram tokenizer, contentless: rowid = the entry's id,
                           text = `normal(entry.text)`

Sentence vectors do not rank exact strings: "CAM 03 2024-12-05 12:01:29" and "... 12:01:30" are
nearly the same vector, and so are "AB-1234" and "AB-1243". A query is read for what it asks
literally (`Query.parse`):

    needles  its quoted phrases ("\"Natalya\"", straight or curly quotes), else the whole query
    words    its words of 3 characters or more, stop words left out, when it has two or more
    marks    its words with a digit or a joining mark inside ("12:01:30", "KX-482-BT", "4.2M")

Both sides read text through `normal` (NFKC, case folded, one kind of dash and quote, single
spaces); a needle also matches with every space taken out of both ("2024-12-0512:01:30", an OCR
reading that lost its space). FTS5's trigram tokenizer matches any substring of 3 characters or
more, so each of the three is one MATCH of quoted strings (every character literal: operators,
`*`, `:`, `-` and brackets mean nothing there; a needle of more than `PHRASE_WORDS` words or
`PHRASE_CHARS` characters is found through the words' MATCH, or among the vectors' hits),
reading at most `MATCH_LIMIT` entries. Candidates are the vector side's `k` nearest and, of each MATCH,
the `max(k, POOL)` entries nearest the query's vector; each is ranked by

    (class, cosine + (1 - cosine) * BOOST[class])

class 6 / 5: every needle is in the text, at word boundaries / anywhere (inside a word, or
without spaces); 4 / 3: every word; 2 / 1: every mark; 0: none (the vectors alone). A score
never exceeds the one ranked before it, so scores fall with rank and stay a cosine, raised
toward 1 by a literal match. A query with nothing of 3 characters or more to match goes through
the vectors alone.

Ranking by bm25() was tried and left out. As a boost for entries sharing the query's rarer
trigrams (OCR misreadings) it put no misread line first that the vectors had missed: trigram
overlap favours the wrong line as often ("12:01:28" shares more trigrams with "12:01:30" than
the misreading "12:0l:30" does). Within a class the cosine orders better, and ordering a MATCH
by bm25() scores every matching entry (`pipelines/bench_lexical.py`: ~4 ms for a string in
5,500 of 10,000 entries, against 1.5 ms for the bare MATCH, which stops at `MATCH_LIMIT`).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

TABLE = "lexical"
POOL = 20  # entries of each MATCH considered (or k, if more): the nearest by vector
MATCH_LIMIT = 2_000  # entries a MATCH reads at most (a string in more is no needle)
MIN_CHARS = 3  # a trigram: FTS5 matches nothing shorter
MAX_WORDS = 32  # words of a query used for matching (a pasted paragraph stays cheap)
PHRASE_WORDS = 3  # needles of up to this many words are matched whole (and with no spaces),
PHRASE_CHARS = 64  # and of up to this many characters ("the " * 16: 3.5 ms at 10,000 entries)
# Words too common to match on (nor to pin a speech hit on), when the query has others.
STOPWORDS = frozenset("""a an and are as at be but by did do does for from had has have he her his
how i in is it its me my of on or our she so that the their them then there they this to
was we were what when where which who why will with you your""".split())  # noqa: SIM905
BOOST = {6: 0.6, 5: 0.55, 4: 0.5, 3: 0.45, 2: 0.4, 1: 0.35, 0: 0.0}

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"), "-")
_QUOTES = {**dict.fromkeys(map(ord, "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033"), '"'),
           **dict.fromkeys(map(ord, "\u2018\u2019\u201a\u201b\u2032"), "'")}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
_QUOTED = re.compile(r'"([^"]*)"')
_EDGES = " \"'`?!.,;:()[]{}<>"
_MARKED = re.compile(r"\d|\w[-_/.:#@+&']\w")


def normal(text: str) -> str:
    """`text` as both sides compare it: NFKC, case folded, one dash and one pair of quotes,
    no control characters, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES)
    return _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip().casefold()


def write(conn: sqlite3.Connection, entries: Iterable[tuple[int, str]]) -> None:
    """The lexical table of an index being written: (entry id, text) pairs."""
    conn.execute(f"CREATE VIRTUAL TABLE {TABLE} USING fts5(text, content='', "
                 "tokenize='trigram')")
    conn.executemany(f"INSERT INTO {TABLE}(rowid, text) VALUES (?, ?)",
                     ((i, normal(text)) for i, text in entries))
    conn.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")


def _string(text: str) -> str:
    """An FTS5 string: every character in it literal."""
    return '"' + text.replace('"', '""') + '"'


def _bare(text: str) -> str:
    return text.replace(" ", "")


def _words(text: str) -> list[str]:
    return [w for w in (w.strip(_EDGES) for w in text.split(" ")) if w][:MAX_WORDS]


def _contains(part: str, text: str, spaceless: str) -> int:
    """2: `part` is in `text` at word boundaries; 1: inside a word, or with no spaces; 0: not."""
    at = text.find(part)
    while at >= 0:
        end = at + len(part)
        if not ((part[0].isalnum() and at and text[at - 1].isalnum()) or
                (part[-1].isalnum() and end < len(text) and text[end].isalnum())):
            return 2
        at = text.find(part, at + 1)
    return 1 if part in text or _bare(part) in spaceless else 0


@dataclass(frozen=True)
class Query:
    """What a search asks literally, as `normal` writes it (see the module's docstring)."""

    needles: tuple[str, ...]
    words: tuple[str, ...]
    marks: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        text = normal(text)
        quoted = [p.strip(_EDGES) for p in _QUOTED.findall(text)]
        needles = [p for p in quoted if p] if quoted else [text.strip(_EDGES)]
        needles = list(dict.fromkeys(n for n in needles if n))
        words = list(dict.fromkeys(w for w in _words(text.replace('"', " "))
                                   if len(w) >= MIN_CHARS and w not in STOPWORDS))
        marks = [w for w in dict.fromkeys(_words(_QUOTED.sub(" ", text)))
                 if len(w) >= 2 and _MARKED.search(w)]
        return cls(tuple(needles), tuple(words) if len(words) > 1 else (), tuple(marks))

    def __bool__(self) -> bool:
        return any(len(p) >= MIN_CHARS for p in (*self.needles, *self.words, *self.marks))

    def match_class(self, text: str) -> int:
        """How `text` (as `normal` writes it) matches: 6 / 5 every needle, at word boundaries /
        anywhere; 4 / 3 every word; 2 / 1 every mark; 0 none."""
        spaceless = _bare(text)
        for parts, top in ((self.needles, 6), (self.words, 4), (self.marks, 2)):
            if parts:
                found = min(_contains(p, text, spaceless) for p in parts)
                if found:
                    return top - 2 + found
        return 0

    def matches(self) -> list[str]:
        """FTS5 queries for entries holding every needle (as written or with no spaces; a longer
        one through the words MATCH), every word, every mark: supersets, as parts shorter than
        a trigram are left out; `match_class` decides."""
        needles = []
        for needle in self.needles:
            if len(needle) > PHRASE_CHARS or (needle.count(" ") >= PHRASE_WORDS and self.words):
                continue  # found through its words, or not by FTS5: a long phrase is slow
            ways = sorted(w for w in {needle, _bare(needle)} if len(w) >= MIN_CHARS)
            if len(ways) > 1:
                needles.append("(" + " OR ".join(map(_string, ways)) + ")")
            elif ways:
                needles.append(_string(ways[0]))
        out = [" AND ".join(needles)]
        for parts in (self.words, self.marks):
            out.append(" AND ".join(_string(p) for p in parts if len(p) >= MIN_CHARS))
        return [m for m in dict.fromkeys(out) if m]


def literal_ids(conn: sqlite3.Connection, query: Query,
                kinds: list[str] | None = None) -> list[list[int]]:
    """For each of `query.matches()`, the entries (of `kinds`, None: all) that hold it, at most
    MATCH_LIMIT, in no particular order."""
    join = where = ""
    if kinds is not None:
        join = " JOIN entries e ON e.id = l.rowid"
        where = f" AND e.kind IN ({','.join('?' * len(kinds))})"
    sql = f"SELECT l.rowid FROM {TABLE} l{join} WHERE {TABLE} MATCH ?{where} LIMIT ?"
    return [[r[0] for r in conn.execute(sql, [expr, *(kinds or ()), MATCH_LIMIT])]
            for expr in query.matches()]


def rank(query: Query, candidates: dict[int, tuple[str, float]],
         k: int) -> list[tuple[int, float]]:
    """The best `k` of `candidates` (id -> (text, cosine)) as (id, score), best first."""
    scored = []
    for i, (text, cosine) in candidates.items():
        found = query.match_class(normal(text))
        scored.append((found, cosine + (1.0 - cosine) * BOOST[found], i))
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    out, ceiling = [], 1.0
    for _, score, i in scored[:k]:
        ceiling = min(ceiling, score)
        out.append((i, ceiling))
    return out
