"""The pictures track: what each key frame looks like, for `find --image` (reverse video search).

Each key frame's ORB features are described when the video is indexed (a few milliseconds a key
frame, OpenCV only: no model, offline) and kept in its work dir (`vidqa.search.pictures`). Its
segments are the key frames' spans with no text, so nothing shows them (no prompt, lane or
event log); `find` with a picture asks this track (`finds = ("picture",)`): the key frames in
a row that show the picture, pinned to the first sampled frame that shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from vidqa.search.pictures import VERSION, Picture, describe_frames, find_picture, stored
from vidqa.tracks.base import Segment, TrackBase, keyframe_spans

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.search.find import Found
    from vidqa.tools import Tools


class PicturesTrack(TrackBase):
    """One "picture" segment per key frame, its features kept beside (see the module)."""

    name: ClassVar[str] = "pictures"
    version: ClassVar[str] = VERSION
    kinds: ClassVar[tuple[str, ...]] = ("picture",)
    needs: ClassVar[str] = ""
    unit: ClassVar[str] = "frame"
    finds: ClassVar[tuple[str, ...]] = ("picture",)
    noun: ClassVar[str] = "key frames described"

    @classmethod
    def to_json(cls, segments: list[Segment]) -> dict[str, Any]:
        return {}  # the key frames are in the ingest's part; their features are binary

    @classmethod
    def describe(cls, segments: list[Segment]) -> str:
        return f"{len(segments)} key frames described for pictures"

    def __init__(self, config, tools: Tools):
        self.config, self.tools = config, tools

    def unavailable(self) -> str | None:
        return None  # OpenCV is a dependency of vidqa itself

    def segments(self, result: IngestResult, earlier=None, *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        if not stored(result):
            describe_frames(result, on_progress=on_progress)
        return keyframe_spans(result, PicturesTrack.name, "picture")

    def cached(self, result: IngestResult, earlier=None) -> list[Segment] | None:
        return keyframe_spans(result, PicturesTrack.name, "picture") if stored(result) else None

    def find(self, result: IngestResult, segments: list[Segment], query, *,
             k: int = 5) -> list[Found]:
        """The showings of a picture (`query`, a `Picture`; a text finds nothing here)."""
        from vidqa.search.find import Found

        if not isinstance(query, Picture) or not segments:
            return []
        out = []
        for showing, start_s, end_s in find_picture(result, query, k=k):
            out.append(Found(result.video.path, "picture", start_s, end_s,
                             f"the picture '{query.name}' ({showing.inliers} matching points)",
                             round(min(1.0, showing.inliers / 100), 4),
                             refined_s=showing.pinned_s, refined_by="frames"))
        return out

