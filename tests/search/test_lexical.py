"""Exact strings found exactly: real MiniLM vectors and the FTS5 table beside them rank the line
holding a time, a code, a plate or a quoted name first among near-identical lines, keep
semantic search, take any text as a query, and do the same over a collection of videos."""

from __future__ import annotations

import random
import sqlite3
from types import SimpleNamespace

import pytest

from vidqa.search import lexical
from vidqa.search.index import META_FILE, Entry, VectorIndex

def clock(video: str, camera: str, start_s: float, minutes: range) -> list[Entry]:
    """A burned-in camera clock read once a second: one text line per second."""
    return [Entry(video, "text", start_s + i, start_s + i + 1,
                  f"{camera} 2024-12-05 12:{m:02d}:{s:02d}")
            for i, (m, s) in enumerate((m, s) for m in minutes for s in range(60))]


def filler(video: str, n: int, seed: int = 0) -> list[Entry]:
    rng = random.Random(seed)
    who = ["the chef", "a nurse", "two students", "the lecturer", "a cyclist", "the mechanic"]
    does = ["stirs", "opens", "reads", "cleans", "paints", "repairs", "weighs", "folds"]
    what = ["a pot of soup", "a textbook", "the bicycle chain", "a canvas", "the laundry",
            "a patient chart", "the engine", "a bag of flour"]
    return [Entry(video, rng.choice(("event", "summary")), 5000.0 + i * 10, 5004.0 + i * 10,
                  f"{rng.choice(who)} {rng.choice(does)} {rng.choice(what)}")
            for i in range(n)]


def lines(video: str, kind: str, start_s: float, texts: list[str]) -> list[Entry]:
    return [Entry(video, kind, start_s + 10 * i, start_s + 10 * i + 3, t)
            for i, t in enumerate(texts)]


CODES = lines("a.mp4", "text", 8000.0, ["PARCEL AB-1243", "PARCEL AB-1234", "PARCEL AB-2134",
                                         "PARCEL BA-1234", "PARCEL AB-12345", "PARCEL AB-1324"])
PLATES = lines("a.mp4", "text", 8500.0, ["KX-428-BT", "KX-482-TB", "XK-482-BT", "KX-482-BT",
                                          "KX-842-BT", "KY-482-BT"])
NAMES = lines("a.mp4", "speech", 9000.0, ["Nataly from accounts was here",
                                          "Natalya said the invoice is late",
                                          "Natalia will call you back",
                                          "Natasha sends her regards"])
TRUCK = Entry("a.mp4", "event", 9500.0, 9504.0, "a red truck backs into the loading dock")
NO_SPACE = Entry("a.mp4", "text", 9600.0, 9601.0, "CAM 07 2024-12-0512:25:00")
OPERATORS = lines("a.mp4", "text", 9700.0, ["SALT AND PEPPER", "ERR col:val 7", "x NEAR(y)"])
ENTRIES = (clock("a.mp4", "CAM 03", 0.0, range(10)) + CODES + PLATES + NAMES + [TRUCK]
           + [NO_SPACE] + OPERATORS + filler("a.mp4", 60))


def at(text: str) -> Entry:
    return next(e for e in ENTRIES if e.text == text)


@pytest.fixture(scope="session")
def index(minilm, tmp_path_factory):
    """One real index over 600 clock lines, codes, plates, names and unrelated events."""
    return VectorIndex.build(ENTRIES, minilm, tmp_path_factory.mktemp("lexical") / "idx")


EXACT = {
    "12:01:30": "CAM 03 2024-12-05 12:01:30",
    "12:07:05": "CAM 03 2024-12-05 12:07:05",
    "2024-12-05 12:09:59": "CAM 03 2024-12-05 12:09:59",
    "camera time 12:03:07": "CAM 03 2024-12-05 12:03:07",  # its number, among other words
    "AB-1234": "PARCEL AB-1234",  # before AB-12345 too: at word boundaries first
    "AB-1243": "PARCEL AB-1243",
    '"AB-1234"': "PARCEL AB-1234",
    "KX-482-BT": "KX-482-BT",
    "kx\u2013482\u2013bt": "KX-482-BT",  # case and dashes as typed
    '"Natalya"': "Natalya said the invoice is late",
    "\u201cNatalya\u201d": "Natalya said the invoice is late",  # curly quotes
    '"12:01:30"': "CAM 03 2024-12-05 12:01:30",
    "2024-12-05 12:25:00": "CAM 07 2024-12-0512:25:00",  # an OCR reading that lost its space
}


@pytest.mark.parametrize("query", EXACT)
def test_the_line_holding_the_exact_string_comes_first(index, query):
    hits = index.search(query, 5)
    assert hits[0].entry == at(EXACT[query]), [h.entry.text for h in hits]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and 0.35 < scores[0] <= 1.0


def test_the_vectors_alone_rank_near_identical_lines_wrong(index, minilm):
    """Why the lexical side exists: MiniLM puts another second, or another name, first."""
    for query in ("12:01:30", '"Natalya"'):
        vector_top = index.search_vector(minilm.encode([query])[0], 1)[0].entry
        assert vector_top != at(EXACT[query])
        assert index.search(query, 1)[0].entry == at(EXACT[query])


def test_every_line_holding_a_quoted_phrase_comes_before_the_others(index):
    hits = index.search('"12:01:3"', 15)
    assert sorted(h.entry.text[-8:] for h in hits[:10]) == [f"12:01:3{s}" for s in range(10)]
    assert all("12:01:3" not in h.entry.text for h in hits[10:])
    # a quoted name with other words: the name decides first, the words order the rest
    top = index.search('"Natalya" invoice', 3)[0]
    assert top.entry == at("Natalya said the invoice is late")


def test_semantic_queries_still_find_their_line(index):
    assert index.search("a red truck", 3)[0].entry == TRUCK
    assert index.search("a lorry reversing to the loading bay", 3)[0].entry == TRUCK
    assert index.search("someone cooking soup", 3)[0].entry.text.endswith("a pot of soup")


def test_without_a_literal_match_scores_are_the_vectors_cosines(index, minilm):
    query = "a lorry reversing to the loading bay"
    fused = index.search(query, 5)
    plain = index.search_vector(minilm.encode([query])[0], 5)
    assert [h.entry for h in fused] == [h.entry for h in plain]
    assert [h.score for h in fused] == pytest.approx([h.score for h in plain], abs=1e-5)


HOSTILE = ["AND", "OR", "NOT", '"', '""', '"unbalanced', "a*b", "*", "NEAR(", "NEAR(a b, 2)",
           "col:val", "text:12", "-x", "^abc", "(((", ")", "x AND y OR z", "{a b}: c",
           "'; DROP TABLE entries; --", "\x00\x01", "", "   ", "a", "ab", "\U0001f642" * 3,
           "word " * 500, "the " * 3000, '"a" "b" ""', "\u200b\u200b\u200b", "%_%"]


@pytest.mark.parametrize("query", HOSTILE)
def test_any_text_is_a_query(index, query):
    hits = index.search(query, 5)
    assert len(hits) == 5  # short or odd queries still go through the vectors
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


def test_fts_operators_are_plain_text(index):
    assert index.search("AND PEPPER", 1)[0].entry.text == "SALT AND PEPPER"
    assert index.search("col:val", 1)[0].entry.text == "ERR col:val 7"
    assert index.search("NEAR(y)", 1)[0].entry.text == "x NEAR(y)"


def test_kinds_filter_applies_to_the_literal_matches(index):
    texts = index.search("12:01:30", 5, kinds={"text"})
    assert texts[0].entry == at(EXACT["12:01:30"]) and {h.entry.kind for h in texts} == {"text"}
    events = index.search("12:01:30", 5, kinds={"event", "summary"})
    assert len(events) == 5 and {h.entry.kind for h in events} <= {"event", "summary"}
    assert index.search('"Natalya"', 3, kinds={"speech"})[0].entry.kind == "speech"
    assert {h.entry.kind for h in index.search('"Natalya"', 3, kinds={"text"})} == {"text"}
    assert index.search("12:01:30", 5, kinds=set()) == []
    with pytest.raises(ValueError, match="kinds must be among"):
        index.search("12:01:30", kinds={"subtitle"})


def test_a_reopened_and_an_hnsw_index_rank_the_same(index, minilm, tmp_path):
    reopened = VectorIndex.open(index.directory, minilm)
    hnsw = VectorIndex.build(ENTRIES, minilm, tmp_path / "hnsw", index_type="hnsw",
                             vectors=index.vectors())
    assert hnsw.index_type == "hnsw"
    for query, want in EXACT.items():
        for other in (reopened, hnsw):
            top = other.search(query, 3)[0]
            assert top.entry == at(want), query
            assert top.score == pytest.approx(index.search(query, 3)[0].score, abs=1e-4)


def test_an_index_of_the_previous_format_does_not_open(index, minilm, tmp_path):
    old = VectorIndex.build(ENTRIES[:20], minilm, tmp_path / "old")
    old.close()
    conn = sqlite3.connect(tmp_path / "old" / META_FILE)
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'format'")
    conn.execute(f"DROP TABLE {lexical.TABLE}")
    conn.commit()
    conn.close()
    assert VectorIndex.open(tmp_path / "old", minilm) is None  # the caller rebuilds


@pytest.mark.slow
def test_a_collection_of_two_videos_finds_the_exact_line_in_the_right_video(minilm, tmp_path):
    from vidqa.search.find import search

    by_video = {"a": clock("a.mp4", "CAM 03", 0.0, range(5)) + filler("a.mp4", 20),
                "b": clock("b.mp4", "CAM 04", 100.0, range(5))
                + lines("b.mp4", "text", 900.0, ["PARCEL AB-1234", "PARCEL AB-1243"])}
    parts = [(SimpleNamespace(fingerprint=name, workdir=tmp_path / name), entries)
             for name, entries in by_video.items()]
    found = search(parts, "CAM 04 2024-12-05 12:03:17", minilm, k=3)
    assert (found[0].video, found[0].start_s) == ("b.mp4", 100.0 + 3 * 60 + 17)
    found = search(parts, "12:03:17", minilm, k=3)
    assert {f.video for f in found[:2]} == {"a.mp4", "b.mp4"}
    assert all(f.text.endswith("12:03:17") for f in found[:2])
    found = search(parts, "AB-1243", minilm, k=3, kinds={"text"})
    assert (found[0].video, found[0].text) == ("b.mp4", "PARCEL AB-1243")
    assert 0.35 < found[0].score <= 1.0


# --- reading a query --------------------------------------------------------------------------

def test_normal_folds_case_width_dashes_and_spaces():
    assert lexical.normal("  KX\u2013482\uff0dBT\t\u201cA\u201d  ") == 'kx-482-bt "a"'
    assert lexical.normal("\uff11\uff12:\uff10\uff11") == "12:01"
    assert lexical.normal("a\x00b") == "a b"


def test_a_query_is_read_for_needles_words_and_marks():
    q = lexical.Query.parse("Camera time 12:03:07?")
    assert q.needles == ("camera time 12:03:07",)
    assert q.words == ("camera", "time", "12:03:07")
    assert q.marks == ("12:03:07",)
    q = lexical.Query.parse('the "AB-1234" and \u201cNatalya\u201d')
    assert q.needles == ("ab-1234", "natalya") and q.marks == ()
    assert not lexical.Query.parse("ab") and not lexical.Query.parse('"')
    assert lexical.Query.parse("a red truck").words == ("red", "truck")


def test_match_classes_prefer_word_boundaries():
    q = lexical.Query.parse("AB-1234")
    assert q.match_class("parcel ab-1234") == 6
    assert q.match_class("parcel ab-12345") == 5
    assert q.match_class("parcelab-1234x") == 5
    assert q.match_class("parcel ab-1243") == 0
    spaced = lexical.Query.parse("2024-12-05 12:05:00")
    assert spaced.match_class("cam 07 2024-12-0512:05:00") == 5
    assert lexical.Query.parse("camera 12:03:07").match_class("cam 03 12:03:07") == 2
