"""The vector index on real MiniLM embeddings and real FAISS: search with times, kinds, embedder
changes, and the directory swap under SIGKILL and concurrent rebuilds (the embedders themselves:
test_embedders.py)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from vidqa.model.captions import CaptionEvent, ChunkCaption, VideoCaptions
from vidqa.plan import VideoRun
from vidqa.tracks.captions import segments_from
from vidqa.search.embedders import SentenceEmbedder, get_embedder, register_embedder
from vidqa.search.index import Entry, VectorIndex, make_faiss_index
from vidqa.store import temp_owner

from helpers import ROOT

CAR = Entry("b.mp4", "event", 754.2, 757.0, "a red car drives into the parking lot")
ALARM = Entry("a.mp4", "event", 41.3, 43.3, "the fire alarm goes off and everyone leaves")
SLIDE = Entry("a.mp4", "text", 60.0, 64.0, "REVENUE Q3: 4.2M")
ENTRIES = [
    Entry("a.mp4", "summary", 0.0, 120.0, "A meeting about the quarterly budget in a small room."),
    ALARM,
    Entry("a.mp4", "event", 80.5, 85.0, "a woman writes numbers on the whiteboard"),
    SLIDE,
    Entry("b.mp4", "summary", 720.0, 840.0, "Security camera footage of a car park at dusk."),
    CAR,
    Entry("b.mp4", "event", 790.0, 792.5, "a man walks his dog past the gate"),
    Entry("b.mp4", "text", 700.0, 900.0, "CAM 04  PARKING LEVEL 2"),
]
QUERIES = {"vehicle arriving": CAR, "fire alarm": ALARM, "revenue figures on screen": SLIDE,
           "someone writing on a board": ENTRIES[2], "dog walking": ENTRIES[6]}


def filler(n: int, seed: int = 0) -> list[Entry]:
    """Varied unrelated lines, so a search has something to get wrong."""
    rng = random.Random(seed)
    who = ["the chef", "a nurse", "two students", "the lecturer", "a cyclist", "the mechanic"]
    does = ["stirs", "opens", "reads", "cleans", "paints", "repairs", "weighs", "folds"]
    what = ["a pot of soup", "a textbook", "the bicycle chain", "a canvas", "the laundry",
            "a patient chart", "the engine", "a bag of flour"]
    return [Entry("c.mp4", rng.choice(("event", "summary")), float(i * 10), float(i * 10 + 4),
                  f"{rng.choice(who)} {rng.choice(does)} {rng.choice(what)} ({i})")
            for i in range(n)]


def temporaries(parent: Path) -> list[Path]:
    return sorted(parent.glob(".tmp-*"))


# --- entries ----------------------------------------------------------------------------------

def test_caption_segments_become_entries_with_their_times():
    captions = VideoCaptions("talk.mp4", "m", 240.0, [
        ChunkCaption(0, 0.0, 120.0, "Intro slides.", [CaptionEvent(3.5, 6.0, "title appears")]),
        ChunkCaption(1, 120.0, 240.0, "Demo.", [CaptionEvent(130.0, 131.5, "terminal opens"),
                                                CaptionEvent(200.0, 210.0, "  ")]),
    ])
    run = VideoRun(SimpleNamespace(video=SimpleNamespace(path="talk.mp4")),
                   {"captions": segments_from(captions)})
    assert run.entries() == [
        Entry("talk.mp4", "summary", 0.0, 120.0, "Intro slides."),
        Entry("talk.mp4", "event", 3.5, 6.0, "title appears"),
        Entry("talk.mp4", "summary", 120.0, 240.0, "Demo."),
        Entry("talk.mp4", "event", 130.0, 131.5, "terminal opens"),
    ]


# --- build, open, search ----------------------------------------------------------------------

def test_build_open_search_returns_the_entry_with_its_times(minilm, tmp_path):
    directory = tmp_path / "videos" / "idx"
    built = VectorIndex.build(ENTRIES + filler(40), minilm, directory)
    assert sorted(p.name for p in directory.iterdir()) == ["index.faiss", "meta.sqlite"]
    assert temporaries(directory.parent) == []
    index = VectorIndex.open(directory, minilm)
    assert index is not None and len(index) == len(built) == len(ENTRIES) + 40
    assert index.index_type == "flat" and index.build_id == built.build_id
    for query, want in QUERIES.items():
        top = index.search(query, 5)[0]
        assert top.entry == want, query
        assert 0.3 < top.score <= 1.0
    hits = index.search("vehicle arriving", 3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0].entry
    assert (top.video, top.start_s, top.end_s) == ("b.mp4", 754.2, 757.0)
    assert len(index.search("anything", 1000)) == len(index)
    assert VectorIndex.open(directory, "minilm").search("fire alarm", 1)[0].entry == ALARM
    assert index.entries()[: len(ENTRIES)] == ENTRIES


def test_kinds_filter(minilm, tmp_path):
    index = VectorIndex.build(ENTRIES, minilm, tmp_path / "idx")
    texts = index.search("revenue figures", 10, kinds={"text"})
    assert [h.entry.kind for h in texts] == ["text", "text"] and texts[0].entry == SLIDE
    events = index.search("vehicle arriving", 10, kinds={"event"})
    assert {h.entry.kind for h in events} == {"event"} and len(events) == 4
    assert events[0].entry == CAR
    assert index.search("vehicle arriving", 1, kinds={"summary"})[0].entry.start_s == 720.0
    assert len(index.search("x", 10, kinds={"summary", "event"})) == 6
    assert index.search("x", 10, kinds=set()) == []
    with pytest.raises(ValueError, match="kinds must be among"):
        index.search("x", kinds={"subtitle"})


def test_empty_index(minilm, tmp_path):
    index = VectorIndex.build([], minilm, tmp_path / "idx")
    assert len(index) == 0 and index.search("anything") == []
    assert len(VectorIndex.open(tmp_path / "idx", minilm)) == 0


def test_another_embedder_does_not_open_the_index(minilm, tmp_path):
    directory = tmp_path / "idx"
    VectorIndex.build(ENTRIES, minilm, directory)
    assert VectorIndex.open(directory, "some-org/other-embedder") is None  # nothing loaded
    register_embedder("minilm-renamed", lambda: SentenceEmbedder("minilm-renamed", minilm.model))
    renamed = get_embedder("minilm-renamed")
    assert VectorIndex.open(directory, renamed) is None
    VectorIndex.build(ENTRIES, renamed, directory)  # the caller rebuilds
    assert VectorIndex.open(directory, renamed).search("fire alarm", 1)[0].entry == ALARM
    assert VectorIndex.open(directory, minilm) is None  # never mixed


def test_missing_or_incomplete_directories_do_not_open(minilm, tmp_path):
    assert VectorIndex.open(tmp_path / "nothing", minilm) is None
    built = tmp_path / "idx"
    VectorIndex.build(ENTRIES, minilm, built)
    only_vectors = tmp_path / "only-vectors"
    only_vectors.mkdir()
    (only_vectors / "index.faiss").write_bytes((built / "index.faiss").read_bytes())
    assert VectorIndex.open(only_vectors, minilm) is None
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "meta.sqlite").write_bytes(b"not a database" * 100)
    (garbage / "index.faiss").write_bytes(b"\0" * 100)
    assert VectorIndex.open(garbage, minilm) is None
    # meta.sqlite from one build, index.faiss from another: refused
    other = tmp_path / "other"
    VectorIndex.build(ENTRIES[:3], minilm, other)
    (other / "index.faiss").write_bytes((built / "index.faiss").read_bytes())
    assert VectorIndex.open(other, minilm) is None


def test_stale_temporaries_of_dead_builds_are_removed(minilm, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".tmp-idx-{dead}-0badc0de-idx"
    live = tmp_path / f".tmp-idx-{os.getpid()}-0000beef-idx"
    for path in (stale, live):
        path.mkdir()
        (path / "index.faiss").write_bytes(b"partial")
    VectorIndex.build(ENTRIES, minilm, tmp_path / "idx")
    assert not stale.exists() and live.is_dir()  # a live build's temporary is left alone


def test_without_an_atomic_exchange_the_old_index_is_renamed_aside(minilm, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr("vidqa.store._renameat2", lambda: None)  # as on macOS
    directory = tmp_path / "idx"
    VectorIndex.build(ENTRIES, minilm, directory)
    VectorIndex.build(ENTRIES[:5], minilm, directory)
    assert temporaries(tmp_path) == []
    index = VectorIndex.open(directory, minilm)
    assert len(index) == 5 and index.search("fire alarm", 1)[0].entry == ALARM


@pytest.mark.slow
def test_flat_and_hnsw_agree_on_the_top_hit(minilm, tmp_path, monkeypatch):
    entries = ENTRIES + filler(300, seed=1)
    flat = VectorIndex.build(entries, minilm, tmp_path / "flat", index_type="flat")
    hnsw = VectorIndex.build(entries, minilm, tmp_path / "hnsw", index_type="hnsw")
    assert (flat.index_type, hnsw.index_type) == ("flat", "hnsw")
    reopened = VectorIndex.open(tmp_path / "hnsw", minilm)
    assert reopened.index_type == "hnsw"
    queries = list(QUERIES) + ["someone cooking soup", "fixing a bike", "a painting",
                               "folding clothes", "medical records", "an engine repair",
                               "parking garage camera", "budget meeting"]
    for query in queries[:3]:  # through the query embedding
        assert hnsw.search(query, 1)[0].entry == flat.search(query, 1)[0].entry
    vectors = dict(zip(queries, minilm.encode(queries)))
    for query, vector in vectors.items():
        want = flat.search_vector(vector, 1)[0]
        for index in (hnsw, reopened):
            got = index.search_vector(vector, 1)[0]
            assert got.entry == want.entry, query
            assert got.score == pytest.approx(want.score, abs=1e-5)
        assert hnsw.search_vector(vector, 3, kinds={"text"})[0].entry == \
            flat.search_vector(vector, 3, kinds={"text"})[0].entry
    # A filter that keeps many entries goes through HNSW itself (exact when it finds too few).
    monkeypatch.setattr("vidqa.search.index.APPROX_ABOVE", 0)
    filtered = VectorIndex.open(tmp_path / "hnsw", minilm)
    for query, vector in vectors.items():
        for kinds in ({"text"}, {"event", "summary"}):
            assert filtered.search_vector(vector, 3, kinds=kinds)[0].entry == \
                flat.search_vector(vector, 3, kinds=kinds)[0].entry, (query, kinds)
    monkeypatch.setattr("vidqa.search.index.APPROX_ABOVE", 100)
    rows = minilm.encode([e.text for e in entries[:101]])
    assert hasattr(make_faiss_index(rows, "auto"), "hnsw")
    assert not hasattr(make_faiss_index(rows[:100], "auto"), "hnsw")


# --- crashes and concurrent rebuilds ----------------------------------------------------------

BUILD_SCRIPT = """
    import json, sys
    from vidqa.search.embedders import get_embedder
    from vidqa.search.index import Entry, VectorIndex
    directory, rounds = sys.argv[1], int(sys.argv[2])
    batches = json.loads(sys.stdin.readline())
    embedder = get_embedder("minilm")
    for i in range(rounds):
        entries = [Entry(**e) for e in batches[i % len(batches)]]
        VectorIndex.build(entries, embedder, directory, batch_size=64)
        print("built", i, flush=True)
"""


def spawn_builder(directory: Path, batches: list[list[Entry]], rounds: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(BUILD_SCRIPT), str(directory),
                             str(rounds)], env=env, cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps([[e.__dict__ for e in b] for b in batches]) + "\n")
    proc.stdin.close()
    proc.stdin = None  # written: communicate() must not flush it
    return proc


@pytest.mark.slow
def test_sigkill_during_a_build_keeps_the_previous_index(minilm, tmp_path):
    directory = tmp_path / "idx"
    before = VectorIndex.build(ENTRIES, minilm, directory)
    proc = spawn_builder(directory, [ENTRIES + filler(6000, seed=2)], 1)
    try:
        deadline = time.monotonic() + 120
        while not temporaries(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert temporaries(tmp_path), f"the build never started: {proc.stderr.read()[-2000:]}"
        time.sleep(0.5)  # well into embedding 6,000 texts
        assert proc.poll() is None, "the build finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    leftovers = temporaries(tmp_path)
    assert leftovers and all(temp_owner(p)[0] == proc.pid for p in leftovers)
    index = VectorIndex.open(directory, minilm)
    assert index is not None and index.build_id == before.build_id and len(index) == len(ENTRIES)
    assert index.search("vehicle arriving", 1)[0].entry == CAR
    VectorIndex.build(ENTRIES[:4], minilm, directory)  # the next build clears the dead one's
    assert temporaries(tmp_path) == []
    assert len(VectorIndex.open(directory, minilm)) == 4


@pytest.mark.slow
def test_readers_see_a_complete_index_while_another_process_rebuilds(minilm, tmp_path):
    directory = tmp_path / "idx"
    base = ENTRIES + filler(250, seed=3)
    batches = [random.Random(seed).sample(base, len(base)) for seed in range(3)]  # ids move
    first = VectorIndex.build(batches[0], minilm, directory)
    held = VectorIndex.open(directory, minilm)
    proc = spawn_builder(directory, batches, 3)
    seen, opens = {first.build_id}, 0
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            index = VectorIndex.open(directory, minilm)
            assert index is not None
            top = index.search("vehicle arriving", 3)[0]
            assert top.entry == CAR
            assert index.search("fire alarm", 3, kinds={"event"})[0].entry == ALARM
            seen.add(index.build_id)
            index.close()
            opens += 1
            # an index opened before the rebuilds still answers after its files are gone
            assert held.search("revenue figures", 1, kinds={"text"})[0].entry == SLIDE
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert out.split("\n")[:3] == ["built 0", "built 1", "built 2"]
    assert len(seen) >= 2 and opens > 10, (len(seen), opens)
    assert temporaries(tmp_path) == []
    assert VectorIndex.open(directory, minilm).build_id != first.build_id


def test_a_collection_index_takes_its_videos_vectors_and_embeds_nothing_again(minilm, tmp_path,
                                                                               monkeypatch,
                                                                               vidqa_home):
    from types import SimpleNamespace

    from vidqa.search.find import collection_index, open_index, video_index_dir

    by_video = {"a": [e for e in ENTRIES if e.video == "a.mp4"],
                "b": [e for e in ENTRIES if e.video == "b.mp4"] + filler(300, seed=2)}
    parts = [(SimpleNamespace(fingerprint=name, workdir=tmp_path / name), entries)
             for name, entries in by_video.items()]
    monkeypatch.setattr("vidqa.search.index.APPROX_ABOVE", 100)  # b's index is HNSW
    for result, entries in parts:  # each video's own index
        open_index(entries, minilm, video_index_dir(result, entries, minilm))
    assert open_index(parts[1][1], minilm, video_index_dir(*parts[1], minilm)).index_type == \
        "hnsw"
    embedded = []
    original = minilm.encode
    monkeypatch.setattr(minilm, "encode", lambda texts, **kw: embedded.append(len(texts)) or
                        original(texts, **kw))
    collection = collection_index(parts, minilm)
    assert embedded == []  # every vector came from the videos' indexes
    fresh = VectorIndex.build([e for _, v in parts for e in v], minilm, tmp_path / "fresh",
                              index_type=collection.index_type)
    for query, want in QUERIES.items():
        got = collection.search(query, 3)
        assert got[0].entry == want
        assert [h.entry for h in got] == [h.entry for h in fresh.search(query, 3)]
    assert collection_index(parts, minilm) is collection  # opened once per process
