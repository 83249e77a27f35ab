"""Spoken lines vidqa ships, and placing them on a video's sound track.

`vidqa/data/speech/` holds short sentences synthesised once with espeak-ng
(`pipelines/make_speech_assets.py`) and committed as 16 kHz Opus: the demo sample speaks some of
them (`vidqa sample`), and the built-in spoken needles are others. `sound_track` is the ffmpeg
filter graph that puts clips at their times over silence (or over an input's own audio), so the
truth of a generated video says when each sentence is spoken.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from vidqa.media.audio import SAMPLE_RATE
from vidqa.media.ffmpeg import input_args
from vidqa.timecode import Timed

DATA = Path(__file__).resolve().parent.parent / "data" / "speech"
# The encoder arguments of every sound track vidqa writes: AAC, mono, 16 kHz.
AUDIO_ENCODER = ["-c:a", "aac", "-b:a", "48k", "-ac", "1", "-ar", str(SAMPLE_RATE)]


@dataclass(frozen=True)
class Line:
    """A shipped sentence: its id, text, clip and length."""

    id: str
    text: str
    path: Path
    duration_s: float


@dataclass(frozen=True)
class Said(Timed):
    """A sentence placed on a timeline: spoken over [start_s, end_s) (absolute seconds)."""

    start_s: float
    end_s: float
    text: str
    path: str  # the clip

    def to_dict(self) -> dict:
        return {"start_s": self.start_s, "end_s": self.end_s, "text": self.text}


@functools.lru_cache(maxsize=1)
def lines() -> dict[str, Line]:
    """The shipped sentences by id."""
    listing = json.loads((DATA / "lines.json").read_text(encoding="utf-8"))
    return {item["id"]: Line(item["id"], item["text"], DATA / item["file"],
                             float(item["duration_s"])) for item in listing}


def say(line_id: str, start_s: float) -> Said:
    line = lines()[line_id]
    return Said(round(start_s, 3), round(start_s + line.duration_s, 3), line.text,
                str(line.path))


def sound_track(said: list[Said], duration_s: float, first_input: int, *,
                bed: str = "") -> tuple[list[str], str]:
    """(input arguments, filter graph ending in `[aout]`): the clips of `said` at their times,
    each cut to its length (a needle shorter than its sound file ends where its truth does),
    mixed over `bed` (an audio source filter such as `anoisesrc=...`, or an input's pad such
    as `[0:a]`) or over silence, `duration_s` long. The clips are inputs `first_input`,
    `first_input + 1`, ... of the ffmpeg command."""
    inputs: list[str] = []
    bed = bed or f"anullsrc=r={SAMPLE_RATE}:cl=mono"
    joiner = "" if bed.startswith("[") else ","
    chains = [f"{bed}{joiner}aresample={SAMPLE_RATE},aformat=channel_layouts=mono,"
              f"apad,atrim=duration={duration_s:.3f}[bed]"]
    pads = ["[bed]"]
    for i, s in enumerate(said):
        inputs += input_args(s.path)
        delay_ms = round(s.start_s * 1000)
        chains.append(f"[{first_input + i}:a]atrim=duration={s.length_s:.3f},"
                      f"aresample={SAMPLE_RATE},aformat=channel_layouts=mono,"
                      f"adelay={delay_ms}:all=1[said{i}]")
        pads.append(f"[said{i}]")
    chains.append(f"{''.join(pads)}amix=inputs={len(pads)}:duration=first:normalize=0,"
                  f"atrim=duration={duration_s:.3f}[aout]")
    return inputs, ";".join(chains)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference's word count, after lower-casing and
    dropping punctuation (how ASR is scored against a transcript)."""
    ref, hyp = (re.findall(r"[\w']+", t.lower().replace("\u2019", "'"))
                for t in (reference, hypothesis))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))
