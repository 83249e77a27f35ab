"""Chunk captions: what the model says happens in each chunk, as events with absolute times.

Data types come first (what `export` writes and the index reads), then the parsing of model
output (fences and reasoning blocks stripped, times validated and clamped to the chunk, one
retry, then a raw summary with a warning: model output never crashes a run), then captioning
with a per-chunk cache keyed by video content, model and prompt version.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vidqa.backends.base import Backend
from vidqa.chunking import Chunk
from vidqa.keyframes import Keyframe
from vidqa.messages import CAPTION_PROMPT_VERSION, caption_messages
from vidqa.store import atomic_write_text
from vidqa.timecode import parse_time

if TYPE_CHECKING:
    from vidqa.ingest import IngestResult


@dataclass(frozen=True)
class CaptionEvent:
    """Something that happens: half-open [start_s, end_s) in absolute seconds, and what."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class ChunkCaption:
    """One chunk's captions: a summary and its events, clamped to [start_s, end_s)."""

    chunk_index: int
    start_s: float
    end_s: float
    summary: str
    events: list[CaptionEvent] = field(default_factory=list)
    model: str = ""
    warning: str | None = None  # set when the model's output was unusable and kept raw

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ChunkCaption:
        return cls(**{**data, "events": [CaptionEvent(**e) for e in data.get("events", [])]})


@dataclass
class VideoCaptions:
    """All chunk captions of one video, in time order."""

    video: str
    model: str
    duration_s: float
    chunks: list[ChunkCaption]

    def events(self) -> list[CaptionEvent]:
        """Every event of every chunk, sorted by start time."""
        return sorted((e for c in self.chunks for e in c.events), key=lambda e: (e.start_s, e.end_s))

    def to_dict(self) -> dict:
        return {"video": self.video, "model": self.model, "duration_s": self.duration_s,
                "chunks": [c.to_dict() for c in self.chunks],
                "events": [asdict(e) for e in self.events()]}


# --- parsing what the model wrote -------------------------------------------------------------

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
RAW_WARNING = "the model's output was not usable JSON after a retry; kept as a raw summary"


def strip_reasoning(text: str) -> str:
    """Drop `<think>...</think>` blocks (Thinking models), including an unclosed opening one
    whose `<think>` was in the prompt."""
    text = _THINK.sub("", text)
    if "</think>" in text:
        text = text.split("</think>", 1)[1]
    if "<think>" in text:  # reasoning cut off by the token limit: nothing usable after it
        text = text.split("<think>", 1)[0]
    return text.strip()


def _json_object(text: str) -> dict | None:
    """The first JSON object in `text` (inside a code fence or not)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [i for i, ch in enumerate(candidate) if ch == "{"][:50]:
            try:
                value, _ = decoder.raw_decode(candidate[start:])
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def _seconds(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        return parse_time(str(value).strip().removesuffix("seconds").strip())
    except ValueError:
        return None


def parse_caption(text: str, *, chunk_index: int, start_s: float, end_s: float,
                  model: str = "") -> ChunkCaption | None:
    """A ChunkCaption from the model's reply, or None when nothing usable is in it.

    Reasoning blocks and code fences are stripped; each event's times are read as seconds (or
    HH:MM:SS), clamped to the chunk, and put in order; events without text are dropped.
    """
    data = _json_object(strip_reasoning(text))
    if data is None:
        return None
    events = []
    raw_events = data.get("events")
    for raw in raw_events if isinstance(raw_events, list) else []:
        if not isinstance(raw, dict):
            continue
        what = str(raw.get("text") or raw.get("description") or raw.get("event") or "").strip()
        start = _seconds(raw.get("start_s", raw.get("start", raw.get("time"))))
        end = _seconds(raw.get("end_s", raw.get("end")))
        if not what or start is None:
            continue
        end = start if end is None else end
        start, end = sorted((min(max(start, start_s), end_s), min(max(end, start_s), end_s)))
        events.append(CaptionEvent(round(start, 3), round(end, 3), what))
    summary = data.get("summary")
    summary = summary.strip() if isinstance(summary, str) else ""
    if not summary and not events:
        return None
    if not summary:
        summary = "; ".join(e.text for e in events[:3])
    events.sort(key=lambda e: (e.start_s, e.end_s))
    return ChunkCaption(chunk_index, start_s, end_s, summary, events, model)


# --- captioning chunks ------------------------------------------------------------------------


def caption_chunk(backend: Backend, chunk: Chunk, image_path: Callable[[Keyframe], Path], *,
                  max_new_tokens: int = 1024, temperature: float = 0.0,
                  text_lines=()) -> ChunkCaption:
    """Ask the model about one chunk; retry once on unusable output, then keep it raw with a
    warning. Model output never crashes the run; backend errors (unreachable server, ...) do."""
    messages = caption_messages(chunk, image_path, text_lines)
    text = ""
    for attempt in range(2):
        if attempt:
            messages = messages + [{"role": "assistant", "content": [{"type": "text", "text": text}]},
                                   {"role": "user", "content": [{"type": "text", "text": (
                                       "That was not valid JSON. Reply with the JSON object only.")}]}]
        text = backend.generate(messages, max_new_tokens=max_new_tokens,
                                temperature=temperature).text
        caption = parse_caption(text, chunk_index=chunk.index, start_s=chunk.start_s,
                                end_s=chunk.end_s, model=backend.model)
        if caption is not None:
            return caption
    raw = " ".join(strip_reasoning(text).split())[:2000] or "(no output)"
    return ChunkCaption(chunk.index, chunk.start_s, chunk.end_s, raw, [], backend.model,
                        warning=RAW_WARNING)


def captions_key(backend_name: str, model: str, max_new_tokens: int, temperature: float) -> str:
    """What a cached caption depends on besides the chunk: backend, model, prompt, sampling."""
    payload = json.dumps([backend_name, model, CAPTION_PROMPT_VERSION, max_new_tokens, temperature])
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def cached_captions(result: IngestResult, backend_name: str, model: str, *,
                    max_new_tokens: int = 1024, temperature: float = 0.0,
                    text_lines=()) -> VideoCaptions | None:
    """The captions a model already wrote for every chunk, or None (nothing is generated)."""
    folder = result.workdir / "captions" / captions_key(backend_name, model, max_new_tokens,
                                                       temperature)
    chunks = []
    for chunk in result.chunks:
        path = _chunk_file(folder, chunk, _chunk_lines(chunk, text_lines))
        try:
            chunks.append(ChunkCaption.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            return None
    return VideoCaptions(video=result.video.path, model=model, duration_s=result.stats.end_s,
                         chunks=chunks)


def _chunk_lines(chunk: Chunk, text_lines) -> list:
    return [line for line in text_lines if line.start_s < chunk.end_s and line.end_s > chunk.start_s]


def _chunk_file(folder: Path, chunk: Chunk, lines=()) -> Path:
    frames = hashlib.blake2b(json.dumps([[k.pts_s for k in chunk.keyframes],
                                         [[l.start_s, l.text] for l in lines]]).encode(),
                             digest_size=6).hexdigest()
    return folder / f"{chunk.start_s:012.3f}-{chunk.end_s:012.3f}-{frames}.json"


def caption_video(result: IngestResult, backend: Backend, *, max_new_tokens: int = 1024,
                  temperature: float = 0.0, text_lines=(),
                  on_chunk: Callable[[ChunkCaption], None] | None = None) -> VideoCaptions:
    """Captions for every chunk of an ingested video, cached per chunk (resumable: a run that
    stopped part way redoes only the chunks it had not finished). `text_lines` (the on-screen
    text track) go to the model with the chunks they show in."""
    folder = result.workdir / "captions" / captions_key(backend.name, backend.model,
                                                       max_new_tokens, temperature)
    folder.mkdir(parents=True, exist_ok=True)
    done: dict[int, ChunkCaption] = {}
    todo: list[Chunk] = []
    for chunk in result.chunks:
        try:
            path = _chunk_file(folder, chunk, _chunk_lines(chunk, text_lines))
            cached = ChunkCaption.from_dict(json.loads(path.read_text()))
            done[chunk.index] = cached
            if on_chunk:
                on_chunk(cached)
        except (OSError, ValueError, TypeError):
            todo.append(chunk)

    def work(chunk: Chunk) -> ChunkCaption:
        lines = _chunk_lines(chunk, text_lines)
        caption = caption_chunk(backend, chunk, result.image_path, max_new_tokens=max_new_tokens,
                                temperature=temperature, text_lines=lines)
        atomic_write_text(_chunk_file(folder, chunk, lines), json.dumps(caption.to_dict()))
        return caption

    workers = max(1, int(getattr(backend, "concurrency", 1)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for caption in pool.map(work, todo):
            done[caption.chunk_index] = caption
            if on_chunk:
                on_chunk(caption)
    return VideoCaptions(video=result.video.path, model=backend.model,
                         duration_s=result.stats.end_s,
                         chunks=[done[c.index] for c in result.chunks])


def index_video(video, config, backend: Backend, *, allow_errors: bool = False,
                on_progress: Callable[[float], None] | None = None,
                on_chunk: Callable[[ChunkCaption], None] | None = None
                ) -> tuple[IngestResult, VideoCaptions]:
    """Ingest a video (cached) and caption its chunks (cached per chunk)."""
    from vidqa.ingest import ingest

    result = ingest(video, config, allow_errors=allow_errors, on_progress=on_progress)
    captions = caption_video(result, backend, max_new_tokens=config.model.max_new_tokens,
                             temperature=config.model.temperature, on_chunk=on_chunk)
    return result, captions
