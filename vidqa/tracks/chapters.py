"""Chapters: a video cut into titled parts, as YouTube and a `<track kind="chapters">` show them.

A pure function over what a run knows, for the writers (`vidqa events -f chapters`,
`-f chapters.vtt`) and for whoever else lists a video's parts (a server, a notebook):

    chapters_of(run.event_log())   # [Chapter(0.0, 21.0, "Part 1"), Chapter(21.0, ...), ...]

Where the parts begin: at the scenes' starts (the shots, and the chunks' starts when the video
has captions), each titled by the first source that has something to say there:

1. the model's chunk summaries, when the video has captions: the summary of the chunk the scene
   begins in (its first sentence; a chunk whose reply was kept raw titles nothing);
2. else the on-screen title: the first line of on-screen text (the kinds tracks declare in
   `title_kinds`) that arrives with the scene, within its first `LOOK_S` (a line that stayed
   on from the scene before, a logo or a watermark, titles nothing new);
3. else what is said (`said_kinds`): the first line said in the scene. A recording of one
   scene (one long shot, a sound-only file) is cut where each line is said instead (its
   first line titles the start when it comes within the shortest chapter of it).

A scene with no title of its own, or the same title as the chapter before, stays in that
chapter. A video where nothing titles any scene gets its scenes as "Scene 1", "Scene 2", ...

YouTube's rules hold for what comes out: the first chapter at 0, each at least
`MIN_CHAPTER_S` (10 s) long, the last one too (fewer than three chapters YouTube shows as
none, but they are still written). A long video gets at most `MAX_CHAPTERS` chapters: the
shortest then grows to duration / MAX_CHAPTERS. Titles are one line of at most `TITLE_CHARS`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from vidqa.errors import one_line
from vidqa.timecode import Timed
from vidqa.tracks.base import kinds_of

MIN_CHAPTER_S = 10.0  # YouTube: every chapter at least 10 seconds long
MAX_CHAPTERS = 50  # a long video's chapters are then at least duration / 50 long
TITLE_CHARS = 60
ARRIVES_S = 0.5  # a line that begins this close before a scene's start came with it
LOOK_S = 2.0  # a title shows within this long of its scene's start
FIRST_TITLE = "Start"  # the first chapter's title when nothing names it


class Spoken(Protocol):
    """What the sources are: anything with a half-open [start_s, end_s) and a text (a track's
    `Segment`)."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Chapter(Timed):
    """One chapter: half-open [start_s, end_s) in absolute seconds, and its title."""

    start_s: float
    end_s: float
    title: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Text(Timed):
    """A text over a time range: a chunk's summary, as the chapters read it."""

    start_s: float
    end_s: float
    text: str


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s")


def title_of(text: str, limit: int = TITLE_CHARS) -> str:
    """A chapter title from a text: its first sentence, on one line, without the full stop,
    the first letter in capitals, cut at a word to `limit` characters with "…"."""
    line = one_line(text).strip()
    first = _SENTENCE_END.split(line, maxsplit=1)[0].strip()
    line = (first if len(first.split()) >= 2 else line).rstrip(" .;:,")  # not "Dr."
    if len(line) > limit:
        cut = line[:limit - 1]
        cut = cut.rsplit(" ", 1)[0] if " " in cut[limit // 2:] else cut
        line = cut.rstrip(" .;:,-") + "…"
    return line[:1].upper() + line[1:] if line[:1].islower() else line


def _readable(text: str) -> bool:
    return sum(ch.isalpha() for ch in text) >= 2


def _summary_title(start_s: float, summaries: Sequence[Spoken]) -> str | None:
    """The summary of the chunk that holds `start_s`, as a title."""
    holding = next((s for s in summaries if s.start_s <= start_s < s.end_s), None)
    text = title_of(holding.text) if holding is not None else ""
    return text if _readable(text) else None


def _screen_title(start_s: float, end_s: float, titles: Sequence[Spoken]) -> str | None:
    """The first line of on-screen text (in the order the track read them) that arrives with
    the scene: from just before its start to `LOOK_S` into it (half of a short scene)."""
    look = min(LOOK_S, (end_s - start_s) / 2)
    arrived = next((t for t in titles if start_s - ARRIVES_S <= t.start_s <= start_s + look
                    and t.end_s > start_s and _readable(t.text)), None)
    return title_of(arrived.text) if arrived is not None else None


def _said_title(start_s: float, end_s: float, said: Sequence[Spoken]) -> str | None:
    """The first line said in the scene, as a title."""
    first = next((s for s in said if start_s - ARRIVES_S <= s.start_s < end_s
                  and _readable(s.text)), None)
    return title_of(first.text) if first is not None else None


def _choose(duration_s: float, candidates: list[tuple[float, str | None]],
            shortest_s: float) -> list[Chapter]:
    """The chapters from (start_s, title or None) in time order: the first at 0 (titled by the
    first title within `shortest_s` of it), then each new title at least `shortest_s` after
    the chapter before and before the end."""
    kept: list[list] = [[0.0, None]]
    for start_s, title in sorted(candidates, key=lambda c: c[0]):
        if title is None:
            continue
        last_start, last_title = kept[-1]
        if last_title is None and len(kept) == 1 and start_s < shortest_s:
            kept[0][1] = title  # the first words, moved to 0
            continue
        if last_title is not None and title.casefold() == last_title.casefold():
            continue
        if start_s - last_start < shortest_s or duration_s - start_s < shortest_s:
            continue
        kept.append([start_s, title])
    ends = [start for start, _ in kept[1:]] + [duration_s]
    return [Chapter(round(start, 3), round(end, 3), title or FIRST_TITLE)
            for (start, title), end in zip(kept, ends)]


def make_chapters(duration_s: float, scenes: Sequence[Timed], *,
                  summaries: Sequence[Spoken] = (), titles: Sequence[Spoken] = (),
                  said: Sequence[Spoken] = (), min_length_s: float = MIN_CHAPTER_S,
                  most: int = MAX_CHAPTERS) -> list[Chapter]:
    """The chapters of a video `duration_s` long (see the module's docstring): from its
    `scenes`, each titled by its chunk's summary (`summaries`), else its on-screen title
    (`titles`), else the first line `said` in it; "Scene N" when nothing titles any. Each at
    least `min_length_s` long (and duration / `most`); [] for a video with no length."""
    if duration_s <= 0:
        return []
    shortest = max(min_length_s, duration_s / max(most, 1))
    starts = {float(s.start_s) for s in [*scenes, *summaries] if 0 < s.start_s < duration_s}
    starts = sorted({0.0, *starts})
    parts = list(zip(starts, starts[1:] + [duration_s]))
    candidates = [(start, _summary_title(start, summaries) or _screen_title(start, end, titles)
                   or (_said_title(start, end, said) if len(parts) > 1 else None))
                  for start, end in parts]
    if len(parts) == 1:  # one long shot, or sound only: cut where each line is said
        candidates += [(float(s.start_s), title_of(s.text)) for s in said if _readable(s.text)]
    if not any(title for _, title in candidates):
        candidates = [(start, f"Scene {n}") for n, (start, _) in enumerate(parts, 1)]
    return _choose(duration_s, candidates, shortest)


def _declared(segments, attribute: str) -> list:
    kinds = kinds_of(attribute)
    return [s for s in segments if s.kind in kinds.get(s.source, ())]


def chapters_of(log, **options) -> list[Chapter]:
    """The chapters of an event log (`VideoRun.event_log()`: its scenes, the chunk summaries
    of its captions, and its segments of the kinds tracks declare as titles and as what is
    said). `options`: `make_chapters`'s `min_length_s` and `most`."""
    captions = getattr(log, "captions", None)
    summaries = [_Text(c.start_s, c.end_s, c.summary) for c in captions.chunks
                 if not c.warning] if captions is not None else []
    return make_chapters(log.duration_s, getattr(log, "scenes", None) or [],
                         summaries=summaries, titles=_declared(log.segments, "title_kinds"),
                         said=_declared(log.segments, "said_kinds"), **options)
