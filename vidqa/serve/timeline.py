"""What the timeline under the player draws: one lane per source, from a summary.

The lanes are the scenes (with the key frames' thumbnails, `frames`), then one per track that
declares a `lane` (its key, title, kinds and colour), in registry order; `order` tells the page
which to draw, with their titles and colours, so a new track gets its lane with no edit here.
A sound-only recording has no picture: only the lanes of tracks that read no frames (speech),
no scenes and no thumbnails.

A 10-hour video has thousands of scenes and text lines; the page draws each lane on one canvas
from at most `bins` items per lane: the items themselves when they are few enough, else equal
stretches of time, each with how many items fall in it and the first one's text. A window
(`start_s`, `end_s`) gives the same summary of a stretch, for zooming in.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidqa.timecode import Timed

MAX_BINS = 4000
SCENES = {"key": "scenes", "title": "Scenes", "colour": "--scenes"}  # a CSS variable


@dataclass(frozen=True)
class Item(Timed):
    start_s: float
    end_s: float
    text: str
    thumb: str | None = None  # a key frame's file name (scenes)


def _laned(run) -> list:
    """The track classes that ran, have something to show (`VideoRun.shown`) and a lane."""
    from vidqa.tracks.base import track_classes

    return [cls for cls in track_classes(run.shown()) if cls.lane is not None]


def lanes_of(run) -> list[dict]:
    """The lanes the page draws, in order: the scenes (with a picture), then each track's that
    ran."""
    scenes = [SCENES] if run.ingest.video.has_picture else []
    return scenes + [{"key": cls.lane.key, "title": cls.lane.title, "colour": cls.lane.colour}
                     for cls in _laned(run)]


def lane_items(run) -> dict[str, list[Item]]:
    """Every item of each lane of a `VideoRun` (and the key frames', `frames`, with a
    picture), in time order."""
    lanes: dict[str, list[Item]] = {}
    if run.ingest.video.has_picture:
        lanes.update(_picture_items(run))
    for cls in _laned(run):
        lanes[cls.lane.key] = [Item(s.start_s, s.end_s, s.text.strip())
                               for s in run.tracks[cls.name]
                               if s.kind in cls.lane.kinds and s.text.strip()]
    return lanes


def _picture_items(run) -> dict[str, list[Item]]:
    """The scenes, each with its first key frame's thumbnail, and the key frames."""
    first_frame: dict[int, str] = {}
    for kf in run.ingest.keyframes:
        if kf.image and kf.scene_index not in first_frame:
            first_frame[kf.scene_index] = kf.image.rsplit("/", 1)[-1]
    scenes = [Item(s.start_s, s.end_s, f"scene {s.index + 1}", first_frame.get(s.index))
              for s in run.ingest.scenes]

    frames = [Item(kf.pts_s, kf.pts_s, kf.reason, kf.image.rsplit("/", 1)[-1])
              for kf in run.ingest.keyframes if kf.image]
    return {"scenes": scenes, "frames": frames}


def summarise(items: list[Item], start_s: float, end_s: float, bins: int) -> dict:
    """The items overlapping [start_s, end_s): as they are when at most `bins`, else binned."""
    inside = [i for i in items if i.end_s > start_s and i.start_s < end_s
              or i.start_s == i.end_s and start_s <= i.start_s < end_s]
    if len(inside) <= bins:
        return {"binned": False, "count": len(inside),
                "items": [_item(i) for i in inside]}
    width = (end_s - start_s) / bins
    slots: list[list[Item]] = [[] for _ in range(bins)]
    for item in inside:
        first = max(0, int((item.start_s - start_s) // width))
        last = min(bins - 1, int((max(item.end_s, item.start_s) - start_s) // width))
        slots[min(first, bins - 1)].append(item)
        for slot in range(first + 1, min(last, first + 3) + 1):  # a long item shows where it runs
            slots[slot].append(item)
    out = []
    for n, slot in enumerate(slots):
        if not slot:
            continue
        head = slot[0]
        entry = {"start_s": round(start_s + n * width, 3),
                 "end_s": round(start_s + (n + 1) * width, 3), "count": len(slot),
                 "text": head.text + (f" (+{len(slot) - 1} more)" if len(slot) > 1 else ""),
                 "at_s": round(max(head.start_s, start_s + n * width), 3)}
        if head.thumb:
            entry["thumb"] = head.thumb
        out.append(entry)
    return {"binned": True, "count": len(inside), "items": out}


def _item(item: Item) -> dict:
    entry = {"start_s": round(item.start_s, 3), "end_s": round(item.end_s, 3), "text": item.text,
             "at_s": round(item.start_s, 3)}
    if item.thumb:
        entry["thumb"] = item.thumb
    return entry


def timeline(run, *, bins: int = 1500, start_s: float | None = None,
             end_s: float | None = None) -> dict:
    """The lanes of a `VideoRun` between `start_s` and `end_s` (the whole video by default),
    at most `bins` items each."""
    duration = float(run.ingest.stats.end_s)
    lo = max(0.0, start_s or 0.0)
    hi = min(duration, end_s) if end_s is not None else duration
    if hi <= lo:
        lo, hi = 0.0, duration
    bins = max(1, min(int(bins), MAX_BINS))
    lanes = {name: summarise(items, lo, hi, bins) for name, items in lane_items(run).items()}
    return {"duration_s": duration, "start_s": lo, "end_s": hi, "bins": bins, "lanes": lanes,
            "order": lanes_of(run), "has_picture": run.ingest.video.has_picture}
