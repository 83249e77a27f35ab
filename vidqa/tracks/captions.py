"""The captions track: what the model says happens, as chunk summaries and timestamped events.

The model reads each chunk's key frames after their `<t seconds>` labels, with what is said
(the speech track's segments) placed among them by time and the on-screen text lines (the OCR
track's segments) that show during the chunk (`vidqa.model.captions`). Each chunk
gives one "summary" segment over the chunk and one "event" segment per event; both carry the
chunk's index (and a warning when the model's output was kept raw) in `extras`, so the chunk
captions can be rebuilt from the segments (`captions_from`). Captions are cached per chunk, keyed
by the frames and text lines shown, the backend, model and server, the prompt's version and the
sampling settings; without a loaded model the track gives what the cache holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from vidqa.model.captions import (CaptionEvent, ChunkCaption, VideoCaptions, cached_captions,
                                  caption_video)
from vidqa.model.prompts import CAPTION_PROMPT
from vidqa.tracks.base import AgentTool, Lane, Segment, TrackBase

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult
    from vidqa.tools import Tools

NAME = "captions"


def segments_from(captions: VideoCaptions) -> list[Segment]:
    """A summary segment per chunk and an event segment per event, in time order."""
    out = []
    for chunk in captions.chunks:
        extras = {"chunk_index": chunk.chunk_index, "model": chunk.model}
        if chunk.warning:
            extras["warning"] = chunk.warning
        out.append(Segment(chunk.start_s, chunk.end_s, chunk.summary, NAME, "summary", extras))
        out += [Segment(e.start_s, e.end_s, e.text, NAME, "event",
                        {"chunk_index": chunk.chunk_index}) for e in chunk.events]
    return out


def captions_from(segments: list[Segment], video: str, duration_s: float) -> VideoCaptions | None:
    """The chunk captions the segments of this track hold (None when there are none)."""
    summaries = [s for s in segments if s.source == NAME and s.kind == "summary"]
    if not summaries:
        return None
    events: dict[int, list[CaptionEvent]] = {}
    for s in segments:
        if s.source == NAME and s.kind == "event":
            events.setdefault(s.extras["chunk_index"], []).append(
                CaptionEvent(s.start_s, s.end_s, s.text))
    chunks = [ChunkCaption(s.extras["chunk_index"], s.start_s, s.end_s, s.text,
                           events.get(s.extras["chunk_index"], []), s.extras.get("model", ""),
                           s.extras.get("warning")) for s in summaries]
    return VideoCaptions(video=video, model=chunks[0].model, duration_s=duration_s, chunks=chunks)


class CaptionsTrack(TrackBase):
    name: ClassVar[str] = NAME
    version: ClassVar[str] = CAPTION_PROMPT.version
    kinds: ClassVar[tuple[str, ...]] = ("summary", "event")
    log_kinds: ClassVar[tuple[str, ...]] = ("event",)
    needs: ClassVar[str] = "model"
    uses: ClassVar[tuple[str, ...]] = ("ocr", "speech")  # both go into the prompt
    unit: ClassVar[str] = "chunk"
    lane: ClassVar[Lane] = Lane("events", "Events", ("event",), "#c77be0")
    tool: ClassVar[AgentTool] = AgentTool("summaries", "reads what happens in a time range",
                                          ("summary", "event"))

    @staticmethod
    def captions(segments: list[Segment], video: str, duration_s: float):
        """The chunk captions its segments hold (None when there are none): what `ask`
        answers from, and the summaries the event log's JSON and the report carry."""
        return captions_from(segments, video, duration_s)

    @classmethod
    def to_json(cls, segments: list[Segment]) -> dict:
        """The chunks (summary and events each) and the events, as `VideoCaptions` writes
        them (`model`: null without captions); the run adds the `video` key."""
        captions = cls.captions(segments, "", 0.0)
        if captions is None:
            return {"model": None, "chunks": [], "events": []}
        doc = captions.to_dict()
        return {"model": doc["model"], "chunks": doc["chunks"], "events": doc["events"]}

    @classmethod
    def describe(cls, segments: list[Segment]) -> str:
        caps = cls.captions(segments, "", 0.0)
        if caps is None:
            return "no captions"
        raw = sum(1 for c in caps.chunks if c.warning)
        return (f"{len(caps.chunks)} chunks captioned by {caps.model}, "
                f"{len(caps.events())} events" + (f" ({raw} chunks kept as raw text)"
                                                  if raw else ""))

    def __init__(self, config, tools: Tools):
        self.config, self.tools = config, tools

    def unavailable(self) -> str | None:
        if self.tools.backend is None:
            return "captions need a model: pass -m/--model (and -b openai --base-url URL for a " \
                   "server)"
        return None

    def _identity(self) -> tuple[str, str, str]:
        """(backend, model, identity) of the model that writes (or wrote) the captions."""
        backend, m = self.tools.backend, self.config.model
        if backend is not None:
            return backend.name, backend.model, getattr(backend, "identity", "")
        from vidqa.model.backends import backend_class
        from vidqa.model.presets import resolve_model

        m = m if m.model else resolve_model(self.config).model  # the hardware default
        return m.backend, m.model, backend_class(m.backend).identity_for(m)

    @staticmethod
    def _shown(earlier) -> dict[str, list[Segment]]:
        """What the model reads beside the frames: on-screen text lines, what is said."""
        earlier = earlier or {}
        return {"text_lines": [s for s in earlier.get("ocr", []) if s.kind == "text"],
                "speech": [s for s in earlier.get("speech", []) if s.kind == "speech"]}

    def segments(self, result: IngestResult, earlier=None, *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        m = self.config.model
        captions = caption_video(result, self.tools.backend, max_new_tokens=m.max_new_tokens,
                                 temperature=m.temperature, **self._shown(earlier),
                                 on_chunk=(lambda _c: on_progress(1)) if on_progress else None)
        return segments_from(captions)

    def cached(self, result: IngestResult, earlier=None) -> list[Segment] | None:
        name, model, identity = self._identity()
        if not model:
            return None
        m = self.config.model
        captions = cached_captions(result, name, model, identity=identity,
                                   max_new_tokens=m.max_new_tokens, temperature=m.temperature,
                                   **self._shown(earlier))
        return None if captions is None else segments_from(captions)
