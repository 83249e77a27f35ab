"""On-screen text: real OCR on real media (burned-in subtitles, a sign, a PTS counter), the merge
of lines across key frames, and the cache."""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from vidqa.config import DecodeConfig
from vidqa.media.decode import FrameReader
from vidqa.keyframes.ingest import ingest
from vidqa.keyframes.selection import Keyframe
from vidqa.tracks.ocr import OcrEngine, TextLine, ocr_available, read_keyframes, text_track
from vidqa.media.probe import probe


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def fuzzy_in(expected: str, text: str, ratio: float = 0.8) -> bool:
    """Whether some run of words in `text` reads as `expected` (ratio >= `ratio`)."""
    words, n = text.split(), len(expected.split())
    return any(similar(" ".join(words[i:i + n]), expected) >= ratio
               for i in range(max(1, len(words) - n + 1)))


@pytest.fixture(scope="session")
def engine() -> OcrEngine:
    """The real engine; without the `ocr` extra a skip, or a failure under CI."""
    if not ocr_available():
        message = "the OCR library is not installed (pip install 'vidqa[ocr]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return OcrEngine(threads=1)


# --- real media ---------------------------------------------------------------------------


@pytest.mark.media
def test_burned_in_subtitles_with_their_times(media, engine):
    """test_oldrev.mp4: "I've decided, Rem." (on screen about 1.5-3.0 s), "Yes?" (about 4.0 s)
    and the fansub watermark "Yami Sukehiro" on every frame."""
    result = ingest(media / "video-subtitle-remover" / "test_oldrev.mp4")
    lines = text_track(result, engine)
    for expected, (lo, hi) in [("I've decided, Rem.", (1.5, 3.0)), ("Yes?", (4.0, 4.0))]:
        found = [line for line in lines if similar(line.text, expected) >= 0.8]
        assert found, f"{expected!r} not read; got {[line.text for line in lines]}"
        assert lo - 0.6 <= found[0].start_s <= hi + 0.6, (expected, found[0])
        assert found[0].end_s > found[0].start_s
    watermark = [line for line in lines if similar(line.text, "Yami Sukehiro") >= 0.8]
    assert len(watermark) == 1  # read on every key frame, merged into one line
    assert watermark[0].start_s == 0.0 and watermark[0].end_s == result.stats.end_s
    assert lines == sorted(lines, key=lambda line: line.start_s)


@pytest.mark.media
def test_sign_read_throughout(media, engine):
    """sample_video_for_text.mp4: the lightbox "#BLACK LIVES MATTER" is on screen all along."""
    result = ingest(media / "video-feature-extraction" / "sample_video_for_text.mp4")
    lines = text_track(result, engine)
    end = result.stats.end_s
    for t in (0.0, end / 2, end - 0.5):
        visible = " ".join(line.text for line in lines if line.start_s <= t < line.end_s)
        assert fuzzy_in("black lives matter", visible.replace("#", "")), (t, visible)
    # Three rows of the sign, each one TextLine over the whole video.
    assert sum(1 for line in lines if line.start_s == 0.0 and line.end_s == end) >= 3


@pytest.mark.media
def test_counter_text_matches_frame_times(media, engine):
    """counter.mp4 shows "PTS = t" on every frame: at 2 fps, what OCR reads on each sampled
    frame is the time the decoder gave it."""
    info = probe(media / "pyscenedetect" / "counter.mp4")
    frames = list(FrameReader(info, DecodeConfig()))
    assert len(frames) >= 5
    pattern = re.compile(r"PTS\s*[=:]?\s*(\d+(?:[.,]\d+)?)", re.IGNORECASE)
    missing = []
    for frame in frames:
        texts = [text for text, _ in engine.read(frame.bgr)]
        found = [m for text in texts if (m := pattern.search(text))]
        if not found:
            missing.append((frame.pts_s, texts))
            continue
        shown = float(found[0].group(1).replace(",", "."))
        assert shown == pytest.approx(frame.pts_s, abs=0.05), (frame.pts_s, texts)
    assert len(missing) <= 1, missing


def test_reading_order(engine):
    """Two rows, two words in the first: top to bottom, then left to right."""
    image = np.full((360, 640, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, "RIGHT", (380, 110), font, 2.0, (0, 0, 0), 5)
    cv2.putText(image, "LEFT", (40, 120), font, 2.0, (0, 0, 0), 5)
    cv2.putText(image, "BOTTOM", (150, 290), font, 2.0, (0, 0, 0), 5)
    texts = [text.upper() for text, score in engine.read(image) if score >= 0.5]
    assert texts == ["LEFT", "RIGHT", "BOTTOM"]
    assert engine.read(np.zeros((64, 64, 3), np.uint8)) == []


# --- merging and caching, with a scripted engine ------------------------------------------


class ScriptedEngine(OcrEngine):
    """Returns scripted readings, one list per call, and counts the calls."""

    def __init__(self, script: list[list[tuple[str, float]]], name: str = "scripted-1"):
        self.script, self.name, self.calls = script, name, 0

    def read_lines(self, bgr, frame_short=None, *, side=None):
        assert bgr.ndim == 3 and bgr.shape[2] == 3
        self.calls += 1
        return [(t, s, (0, 10 * i, 60, 10 * i + 8))
                for i, (t, s) in enumerate(self.script[self.calls - 1])]

    def read_boxes(self, bgr, boxes):
        return [("", 0.0)] * len(boxes)


def fake_result(tmp_path: Path, times: list[float], end_s: float) -> SimpleNamespace:
    """What read_keyframes uses of an IngestResult: key frames with JPEGs, a workdir, the end."""
    (tmp_path / "keyframes").mkdir(parents=True)
    keyframes = []
    for i, t in enumerate(times):
        name = f"keyframes/{i:06d}_{t:.3f}.jpg"
        image = np.full((36, 64, 3), 20 * i, np.uint8)
        image[:8, :8] = np.random.default_rng(i).integers(0, 255, (8, 8, 3))  # some detail
        cv2.imwrite(str(tmp_path / name), image)
        keyframes.append(Keyframe(pts_s=t, scene_index=i, reason="scene", change=1.0,
                                  frame_index=i, image=name))  # each a new shot: read whole
    return SimpleNamespace(keyframes=keyframes, workdir=tmp_path,
                           image_path=lambda kf: tmp_path / kf.image,
                           stats=SimpleNamespace(end_s=end_s))


TOP, SECOND = (0, 0, 60, 8), (0, 10, 60, 18)  # the boxes ScriptedEngine gives lines 1 and 2
SCRIPT = [
    [("Hello world", 0.90), ("x", 0.99), ("noise", 0.2)],
    [("Hello  world ", 0.97), ("Other", 0.90)],
    [("hello worid", 0.70), ("Goodbye", 0.90)],
    [("Goodbye", 0.95)],
    [("Hello world", 0.90)],
]


def test_merge_across_key_frames(tmp_path):
    result = fake_result(tmp_path, [0.0, 2.0, 4.0, 6.0, 8.0], end_s=10.0)
    engine = ScriptedEngine(SCRIPT)
    progress = []
    lines = read_keyframes(result, engine, on_progress=progress.append)
    assert engine.calls == 5 and progress == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert lines == [
        # three key frames, one slip ("worid"): one line, the best-scoring spelling
        TextLine(0.0, 6.0, "Hello world", 0.97, box=TOP),
        TextLine(2.0, 4.0, "Other", 0.90, box=SECOND),  # a different line at the same time
        TextLine(4.0, 8.0, "Goodbye", 0.95, box=SECOND),
        TextLine(8.0, 10.0, "Hello world", 0.90, box=TOP),  # gone at 6 s, back at 8 s: new
    ]
    # "x" (one character) and "noise" (score 0.2) were dropped; min_score is a knob.
    low = read_keyframes(result, ScriptedEngine(SCRIPT), min_score=0.1)
    assert TextLine(0.0, 2.0, "noise", 0.2, box=(0, 20, 60, 28)) in low


def test_cache_reads_without_ocr(tmp_path):
    result = fake_result(tmp_path, [0.0, 2.0, 4.0, 6.0, 8.0], end_s=10.0)
    first = ScriptedEngine(SCRIPT)
    lines = text_track(result, first, pin=False)
    assert first.calls == 5
    stored = list((tmp_path / "ocr").glob("*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text())["engine"] == "scripted-1"
    again = ScriptedEngine(SCRIPT)
    assert text_track(result, again, pin=False) == lines
    assert again.calls == 0
    # Another engine (model) is another cache entry.
    other = ScriptedEngine(SCRIPT, name="scripted-2")
    assert text_track(result, other, pin=False) == lines and other.calls == 5
    assert len(list((tmp_path / "ocr").glob("*.json"))) == 2


def test_threads_are_validated():
    from vidqa.errors import ConfigError
    with pytest.raises(ConfigError, match="threads"):
        OcrEngine(threads=-1)


@pytest.mark.media
def test_only_the_changed_region_is_read_again(tmp_path, engine):
    """A slide with a title, then a caption below it, then the same picture again: the second
    key frame reads only the caption's region (the title stands), the third reads nothing."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    slide = np.full((360, 640, 3), 235, np.uint8)
    cv2.putText(slide, "QUARTERLY REVIEW", (60, 80), font, 1.6, (20, 20, 20), 4)
    caption = slide.copy()
    cv2.putText(caption, "FIRE ALARM TEST", (150, 300), font, 1.2, (0, 0, 160), 3)
    (tmp_path / "keyframes").mkdir()
    keyframes = []
    for i, (t, image) in enumerate([(0.0, slide), (4.0, caption), (8.0, caption)]):
        name = f"keyframes/{i}.png"  # lossless: the repeat is the same picture
        cv2.imwrite(str(tmp_path / name), image)
        keyframes.append(Keyframe(pts_s=t, scene_index=0, reason="change", change=1.0,
                                  frame_index=i, image=name))
    result = SimpleNamespace(keyframes=keyframes, workdir=tmp_path,
                             image_path=lambda kf: tmp_path / kf.image,
                             stats=SimpleNamespace(end_s=10.0))
    counts: dict = {}
    lines = read_keyframes(result, OcrEngine(threads=1, cache=False), counts=counts)
    assert counts == {"whole": 1, "region": 1, "same": 1}
    texts = {line.text.upper().replace(" ", ""): line for line in lines}
    assert texts["QUARTERLYREVIEW"].start_s == 0.0 and texts["QUARTERLYREVIEW"].end_s == 10.0
    assert texts["FIREALARMTEST"].start_s == 4.0 and texts["FIREALARMTEST"].end_s == 10.0
    # Reading one line's box (recognition only, as pinning does) leaves detection on for the
    # next whole read: RapidOCR keeps a call's switches otherwise.
    box = texts["FIREALARMTEST"].box
    engine = OcrEngine(threads=1, cache=False)
    assert similar(engine.read_box(caption, box)[0], "FIRE ALARM TEST") >= 0.8
    assert len(engine.read_lines(caption)) == 2
