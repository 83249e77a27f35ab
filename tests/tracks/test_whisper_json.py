"""`vidqa transcript -f json` in whisper's shape: what `whisper.transcribe()` returns and its
`WriteJSON` dumps, read back by a reader written to that shape, by faster-whisper's `Segment`
and `Word`, and (where openai-whisper is installed) by whisper's own writers, whose SRT must be
vidqa's SRT byte for byte. The logs are built here; nothing is recognised."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import math
import re
import zlib
from pathlib import Path
from types import ModuleType

import pytest

from helpers.extras import need
from vidqa.tracks.base import Segment
from vidqa.tracks.writers import TRANSCRIPT_WRITERS, EventLog, get_writer

# whisper/transcribe.py: each segment is {"id": i, **new_segment(...)}, then "words" when
# word_timestamps=True (whisper/timing.py `add_word_timestamps`).
SEGMENT_KEYS = ["id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                "compression_ratio", "no_speech_prob"]
WORD_KEYS = ["word", "start", "end", "probability"]


def recognised(start_s: float, words: list, language: str | None = "en") -> Segment:
    """A speech segment as recognition makes it: the words' own texts (no spaces), the text
    their join, the times the first word's start and the last word's end."""
    text = " ".join(w[2] for w in words)
    extras = {"from": "asr:base", "words": words}
    if language:
        extras["language"] = language
    return Segment(start_s, words[-1][1], text, "speech", "speech", extras)


@pytest.fixture
def heard() -> EventLog:
    """Three utterances: words with probabilities (today's), one with words of three items
    (an older cache: no probability) and one word whose probability was NaN; an hour in."""
    return EventLog("talk.mp4", 3800.0, [
        recognised(1.62, [[1.62, 2.36, "Welcome", 0.91], [2.36, 2.5, "to", 0.99],
                          [2.5, 2.7, "the", 0.98], [2.7, 3.4, "demo.", 0.87]]),
        recognised(12.04, [[12.04, 12.5, "Please"], [12.5, 13.0, "send"],
                           [13.0, 13.9, "invoices."]]),
        recognised(3700.5, [[3700.5, 3701.25, "Café", math.nan], [3701.25, 3702.0, "¿Dónde?", 0.5]],
                   language="es"),
    ], None, ("speech",))


@pytest.fixture
def subtitled() -> EventLog:
    """Cues from the file's subtitle stream: no words, no language; one of two lines."""
    cues = [(0.5, 2.0, "Hello there."), (2.5, 4.25, "Two lines\nin one cue & <more>")]
    return EventLog("film.mkv", 10.0, [
        Segment(start, end, text, "speech", "speech", {"from": "stream 0:2"})
        for start, end, text in cues], None, ("speech",))


def written(log: EventLog, fmt: str, tmp_path: Path) -> str:
    """What `vidqa transcript -f FMT -o DIR` writes for `log` (the same writer family)."""
    [path] = get_writer(fmt, tmp_path, TRANSCRIPT_WRITERS)(log)
    return path.read_text(encoding="utf-8")


def strict(text: str) -> dict:
    """The document, refusing NaN and Infinity (not JSON, though Python writes them)."""
    def refuse(name):
        raise AssertionError(f"{name} in the JSON")
    return json.loads(text, parse_constant=refuse)


def srt_cues(text: str) -> list[tuple[str, str, str]]:
    return re.findall(r"\d+\n(\S+) --> (\S+)\n(.*?)\n\n", text, re.S)


def whisper_cues(result: dict) -> list[tuple[float, float, str]]:
    """A reader written to whisper's documented shape, as its subtitle writers read it (with
    their defaults): by words when the first segment has `words` (a cue per segment from its
    first word's start to its last word's end, the words joined as they are), else a cue per
    segment from `start` to `end`, its `text` stripped."""
    if result["segments"] and "words" in result["segments"][0]:
        return [(s["words"][0]["start"], s["words"][-1]["end"],
                 "".join(w["word"] for w in s["words"]).strip())
                for s in result["segments"] if s["words"]]
    return [(s["start"], s["end"], s["text"].strip()) for s in result["segments"]]


def seconds(srt_time: str) -> float:
    h, m, s = srt_time.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_recognised_speech_is_whispers_shape(heard, tmp_path):
    doc = strict(written(heard, "json", tmp_path))
    assert list(doc)[:3] == ["text", "segments", "language"]
    assert doc["video"] == "talk.mp4" and doc["duration_s"] == 3800.0
    assert doc["language"] == "en"  # two segments in English, one in Spanish
    assert "start_s" not in json.dumps(doc) and "end_s" not in json.dumps(doc)
    for index, (segment, source) in enumerate(zip(doc["segments"], heard.segments)):
        assert list(segment)[:11] == SEGMENT_KEYS + ["words"]
        assert segment["id"] == index
        assert (segment["start"], segment["end"]) == (source.start_s, source.end_s)
        assert segment["text"] == " " + source.text  # whisper's leading space
        assert segment["from"] == "asr:base"
        assert segment["language"] == source.extras["language"]
        # What vidqa does not keep: whisper's "none" (tokens [], NaN as null).
        assert segment["seek"] is None and segment["tokens"] == []
        assert segment["temperature"] is segment["avg_logprob"] is segment["no_speech_prob"] \
            is None
        data = source.text.encode("utf-8")
        assert segment["compression_ratio"] == len(data) / len(zlib.compress(data))
        words = source.extras["words"]
        assert [list(w) for w in segment["words"]] == [WORD_KEYS] * len(words)
        assert [w["word"] for w in segment["words"]] == [" " + w[2] for w in words]
        assert [(w["start"], w["end"]) for w in segment["words"]] == [tuple(w[:2]) for w in words]
    probabilities = [[w["probability"] for w in s["words"]] for s in doc["segments"]]
    assert probabilities == [[0.91, 0.99, 0.98, 0.87], [None, None, None], [None, 0.5]]
    # whisper's whole text is its segments' texts, joined as they are.
    assert doc["text"] == " Welcome to the demo. Please send invoices. Café ¿Dónde?"


def test_a_reader_of_whispers_shape_gets_vidqas_cues(heard, subtitled, tmp_path):
    for log in (heard, subtitled):
        result = strict(written(log, "json", tmp_path))
        ours = [(seconds(a), seconds(b), text) for a, b, text in
                srt_cues(written(log, "srt", tmp_path))]
        theirs = [(round(a, 3), round(b, 3), text) for a, b, text in whisper_cues(result)]
        assert theirs == ours and len(ours) == len(log.segments)


def test_subtitles_have_no_words_key_and_no_language(subtitled, tmp_path):
    doc = strict(written(subtitled, "json", tmp_path))
    assert doc["language"] is None
    for segment in doc["segments"]:
        # [] on every segment would leave whisper's subtitle writers nothing to write.
        assert list(segment) == SEGMENT_KEYS + ["from"] and segment["from"] == "stream 0:2"
    assert [s["text"] for s in doc["segments"]] == [" Hello there.",
                                                    " Two lines in one cue & <more>"]
    assert doc["text"] == " Hello there. Two lines in one cue & <more>"


def test_words_on_every_segment_once_one_has_them(tmp_path):
    log = EventLog("mixed.mp4", 20.0, [
        recognised(1.0, [[1.0, 1.5, "Hello", 0.9]]),
        Segment(5.0, 6.0, "Heard, no word times.", "speech", "speech", {"from": "asr:base"}),
    ])
    doc = strict(written(log, "json", tmp_path))
    assert [s["words"] for s in doc["segments"]] == [
        [{"word": " Hello", "start": 1.0, "end": 1.5, "probability": 0.9}], []]


def test_spaces_follow_the_text_and_the_language(tmp_path):
    log = EventLog("mixed.mp4", 20.0, [
        # A word whisper splits inside what is written together: no space before "-known".
        Segment(0.0, 0.6, "well-known", "speech", "speech",
                {"words": [[0.0, 0.3, "well", 0.9], [0.3, 0.6, "-known", 0.8]],
                 "language": "en"}),
        recognised(1.0, [[1.0, 1.5, "你好", 0.9], [1.5, 2.0, "世界", 0.9]], language="zh"),
        Segment(3.0, 4.0, "東京タワー Tower", "speech", "speech",
                {"words": [[3.0, 3.5, "東京タワー"], [3.5, 4.0, "Tower"]], "language": "ja"}),
        recognised(5.0, [[5.0, 5.5, "再见", 0.9]], language="zh"),
    ])
    log.segments[1] = dataclasses.replace(log.segments[1], text="你好世界")
    doc = strict(written(log, "json", tmp_path))
    assert [[w["word"] for w in s["words"]] for s in doc["segments"]] == [
        [" well", "-known"], ["你好", "世界"], ["東京タワー", " Tower"], ["再见"]]
    assert [s["text"] for s in doc["segments"]] == [" well-known", "你好世界", "東京タワー Tower",
                                                    "再见"]
    assert doc["language"] == "zh"  # two of four; en and ja one each
    assert [t for _, _, t in whisper_cues(doc)] == ["well-known", "你好世界", "東京タワー Tower",
                                                     "再见"]


def test_a_tie_of_languages_goes_to_the_first_heard(tmp_path):
    log = EventLog("two.mp4", 9.0, [recognised(1.0, [[1.0, 2.0, "Hallo", 0.9]], language="de"),
                                    recognised(3.0, [[3.0, 4.0, "Hello", 0.9]], language="en")])
    assert strict(written(log, "json", tmp_path))["language"] == "de"


def test_an_empty_transcript_is_whispers_empty_result(capsys):
    get_writer("json", "-", TRANSCRIPT_WRITERS)(EventLog("quiet.mp4", 5.0, []))
    assert strict(capsys.readouterr().out) == {"text": "", "segments": [], "language": None,
                                               "video": "quiet.mp4", "duration_s": 5.0}


def test_faster_whisper_builds_its_segments_and_words(heard, subtitled, tmp_path):
    fw = need("faster_whisper.transcribe")
    segment_fields = [f.name for f in dataclasses.fields(fw.Segment)]
    for log in (heard, subtitled):
        doc = strict(written(log, "json", tmp_path))
        for raw, source in zip(doc["segments"], log.segments):
            # vidqa's own keys are the extras a reader leaves out; every field is there, but
            # `words` where there are none (whisper's shape without word times).
            known = {k: v for k, v in raw.items() if k in segment_fields}
            assert set(segment_fields) - set(known) == (set() if log is heard else {"words"})
            words = [fw.Word(**w) for w in raw["words"]] if "words" in raw else None
            built = fw.Segment(**{**known, "words": words})
            assert (built.start, built.end, built.text.strip()) == (
                source.start_s, source.end_s, " ".join(source.text.split()))
            if words:
                assert [(w.start, w.end, w.word.strip()) for w in built.words] == [
                    tuple(w[:3]) for w in source.extras["words"]]


def whisper_utils() -> ModuleType:
    """openai-whisper's `whisper/utils.py` alone (its writers need only the standard library;
    the package's __init__ would load torch, numba and tiktoken)."""
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("openai-whisper is not installed (pip install --no-deps openai-whisper: "
                    "its writers need nothing else)")
    path = Path(next(iter(spec.submodule_search_locations))) / "utils.py"
    if not path.is_file() or "class WriteJSON" not in path.read_text(encoding="utf-8"):
        pytest.skip(f"the installed 'whisper' is not openai-whisper ({path.parent})")
    module_spec = importlib.util.spec_from_file_location("openai_whisper_utils", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_whispers_own_writers_read_it_as_their_own(heard, subtitled, tmp_path):
    utils = whisper_utils()
    for log in (heard, subtitled):
        result = strict(written(log, "json", tmp_path))

        def whisper_writes(fmt: str) -> str:
            out = io.StringIO()
            utils.get_writer(fmt, str(tmp_path)).write_result(result, out)
            return out.getvalue()

        # SRT: byte for byte vidqa's (whisper's cues by words for speech, by segments for
        # subtitles).
        assert whisper_writes("srt") == written(log, "srt", tmp_path)
        assert whisper_writes("txt") == written(log, "txt", tmp_path)
        tsv = [line.split("\t") for line in whisper_writes("tsv").splitlines()[1:]]
        assert [(int(a), int(b)) for a, b, _ in tsv] == [
            (round(s.start_s * 1000), round(s.end_s * 1000)) for s in log.segments]
        vtt_times = re.findall(r"(\S+) --> (\S+)", whisper_writes("vtt"))
        ours = re.findall(r"(\S+) --> (\S+)", written(log, "vtt", tmp_path))
        assert [tuple(seconds(t if t.count(":") == 2 else "00:" + t) for t in pair)
                for pair in vtt_times] == [tuple(seconds(t) for t in pair) for pair in ours]
        for segment in result["segments"]:
            assert segment["compression_ratio"] == utils.compression_ratio(
                segment["text"].strip())
    assert utils.get_start(strict(written(heard, "json", tmp_path))["segments"]) == 1.62
