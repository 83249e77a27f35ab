"""Sound damaged part way: what decodes is transcribed, and a warning says from when the rest
does not (nothing is lost silently). The clips: 36 s of spoken lines over a test pattern whose
last two thirds of bytes are overwritten with random data; in MP4 (AAC) ffmpeg then exits
with an error, in Matroska it stops early with exit status 0: both used to lose speech, the
first all of it (an error), the second the rest without a word."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest

from vidqa.config import Config
from vidqa.evaluation.spoken import AUDIO_ENCODER, say, sound_track
from vidqa.media.audio import AudioReader, choose_audio
from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.media.probe import probe
from vidqa.pipeline import Pipeline
from vidqa.tools import Tools

DURATION_S = 36.0
# Said in the first 11 s, in the first third of the bytes (which stays intact) ...
INTACT = [("needle-password", 0.5), ("needle-flight", 4.0), ("needle-cake", 7.6)]
INTACT_WORDS = {"password", "lantern", "lisbon", "lemon", "cake", "flight"}
# ... and after it, in the bytes that are overwritten.
LATER = [("demo-welcome", 14.0), ("demo-invoices", 20.0), ("demo-budget", 26.0),
         ("demo-event", 31.0)]
MUXERS = {"mp4": ["-movflags", "+faststart"], "mkv": []}
FROM = re.compile(r"does not decode from (\d\d):(\d\d):(\d\d\.\d{3}) on")


def _make(path, extra: list[str], *, damage: bool):
    inputs, graph = sound_track([say(line, at) for line, at in INTACT + LATER], DURATION_S, 1)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x240:rate=25:duration={DURATION_S}", *inputs,
                    "-filter_complex", graph, "-map", "0:v", "-map", "[aout]", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", *AUDIO_ENCODER, *extra,
                    str(path)], check=True)
    if damage:
        data = bytearray(path.read_bytes())
        keep = len(data) // 3
        data[keep:] = random.Random(8).randbytes(len(data) - keep)
        path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="session")
def damaged(tmp_path_factory) -> dict[str, object]:
    """{"mp4": damaged.mp4, "mkv": damaged.mkv, "intact": the mp4 before the damage}."""
    folder = tmp_path_factory.mktemp("damaged")
    made = {kind: _make(folder / f"damaged.{kind}", extra, damage=True)
            for kind, extra in MUXERS.items()}
    made["intact"] = _make(folder / "intact.mp4", MUXERS["mp4"], damage=False)
    return made


def _from_s(message: str) -> float:
    h, m, s = FROM.search(message).groups()
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.parametrize("kind", list(MUXERS))
def test_the_reader_keeps_what_decodes_and_says_from_when_the_rest_does_not(damaged, kind):
    info = probe(damaged[kind])
    reader = AudioReader(info, choose_audio(info))
    windows = list(reader.windows(window_s=5.0))
    assert windows and 10.0 < windows[-1].end_s  # the intact part, not an error
    damage = reader.damage
    assert damage is not None and 10.0 < damage.from_s < 13.0
    assert damage.end_s == pytest.approx(DURATION_S, abs=0.2)
    assert f"'{damaged[kind]}' does not decode from 00:00:1" in damage.message
    assert "re-encode its sound with ffmpeg" in damage.message


def test_sound_that_decodes_to_its_end_is_not_damaged(damaged, media):
    for video in (damaged["intact"], media / "debian-opencv-doc" / "box.mp4"):
        # box.mp4: ffmpeg logs an error about its video while probing; its sound is whole.
        info = probe(video)
        reader = AudioReader(info, choose_audio(info))
        assert sum(len(w.samples) for w in reader.windows()) > 0
        assert reader.damage is None, reader.damage


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MUXERS))
def test_the_intact_speech_is_transcribed_and_the_damage_is_told(damaged, kind, whisper):
    video = damaged[kind]
    config = Config()
    told: list[str] = []
    # The speech track alone, as `vidqa transcript` runs it (the picture is damaged too).
    log, left_out = Pipeline(config, tools=Tools(config, asr=whisper), tracks=["speech"],
                             warn=told.append).transcript(str(video))
    assert left_out is None
    said = " ".join(s.text for s in log.segments).lower()
    heard = {word for word in INTACT_WORDS if word in said}
    assert len(heard) >= 4, said  # allowing for a word Whisper gets wrong
    assert all(s.start_s < 13.0 for s in log.segments)
    assert len(told) == 1 and told[0].startswith("audio stream #1 of '")
    assert f"{video.name}' does not decode from" in told[0]
    assert 10.0 < _from_s(told[0]) < 13.0
    # The command line, later (the same cache): the transcript, and the warning on stderr.
    done = subprocess.run([sys.executable, "-m", "vidqa", "-q", "transcript", "-f", "txt",
                           str(video)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "lisbon" in done.stdout.lower() or "lemon" in done.stdout.lower()
    assert done.stderr.splitlines() == [f"warning: {told[0]}"]
