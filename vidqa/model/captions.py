"""Chunk captions: what the model says happens in each chunk, as events with absolute times.

Data types come first (what `export` writes and the index reads), then the parsing of model
output (fences and reasoning blocks stripped, times validated: events outside the chunk and
repeated events dropped, the rest clamped to the chunk; at most one event per 2 seconds of
chunk; texts cut to a length), then captioning: a reply that is not usable (no JSON, too many
events, over the token limit) is asked for once more, then kept as a raw summary with a
warning, so model output never crashes a run and never grows without bound. Captions are
cached per chunk, keyed by everything that shapes them: the video's content and the frames
shown (the work dir), the on-screen text fed in, the backend, model and server, the prompt
version and the sampling settings. A degraded caption is kept apart and asked for again by
the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vidqa.model.backends.base import Backend
from vidqa.keyframes.chunking import Chunk
from vidqa.keyframes.selection import Keyframe
from vidqa.model.messages import caption_messages
from vidqa.model.prompts import CAPTION_PROMPT, CAPTION_RETRY, LINE, SYSTEM, TEXT_LINES
from vidqa.errors import one_line
from vidqa.store import atomic_write_text, write_error
from vidqa.timecode import Timed, parse_time

if TYPE_CHECKING:
    from vidqa.keyframes.ingest import IngestResult


@dataclass(frozen=True)
class CaptionEvent(Timed):
    """Something that happens: half-open [start_s, end_s) in absolute seconds, and what."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class ChunkCaption(Timed):
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
LONG_WARNING = ("the model's reply went past the {limit}-token limit twice (does the server "
                "ignore max_tokens?); kept the start of it as a raw summary")
MANY_WARNING = ("the model listed more than {cap} events twice; kept the first {cap} "
                "(lower --max-span for shorter chunks, or use a model that follows the prompt)")
SUMMARY_CHARS = 2000  # longest summary kept
EVENT_CHARS = 500  # longest event text kept
EVENT_SLACK_S = 1.0  # an event this close to the chunk is clamped into it; farther, dropped
MIN_EVENT_CAP = 20


def event_cap(start_s: float, end_s: float) -> int:
    """Most events one chunk may hold: one per 2 seconds of chunk, at least MIN_EVENT_CAP."""
    return max(MIN_EVENT_CAP, math.ceil((end_s - start_s) / 2))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


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


def read_caption(text: str, *, chunk_index: int, start_s: float, end_s: float,
                 model: str = "", max_events: int | None = None) -> tuple[ChunkCaption | None, str]:
    """(caption, "") from the model's reply, or (None, why it is unusable).

    Reasoning blocks and code fences are stripped; each event's times are read as seconds (or
    HH:MM:SS) and put in order; an event farther than EVENT_SLACK_S outside the chunk, one
    without text and a repeat of an earlier one are dropped, the rest clamped to the chunk.
    More than `event_cap` events make the reply unusable (a runaway model or server), unless
    `max_events` says to keep only the first ones the reply lists.
    """
    data = _json_object(strip_reasoning(text))
    if data is None:
        return None, "not JSON"
    events, seen = [], set()
    raw_events = data.get("events")
    raw_events = raw_events[:max_events] if isinstance(raw_events, list) else []
    for raw in raw_events:
        if not isinstance(raw, dict):
            continue
        what = raw.get("text") or raw.get("description") or raw.get("event") or ""
        what = one_line(what, EVENT_CHARS) if isinstance(what, str) else ""
        start = _seconds(raw.get("start_s", raw.get("start", raw.get("time"))))
        end = _seconds(raw.get("end_s", raw.get("end")))
        if not what or start is None:
            continue
        start, end = sorted((start, start if end is None else end))
        if end < start_s - EVENT_SLACK_S or start >= end_s + EVENT_SLACK_S:
            continue  # not in this chunk at all
        start, end = (round(min(max(t, start_s), end_s), 3) for t in (start, end))
        key = (start, end, what.lower())
        if key in seen:
            continue
        seen.add(key)
        events.append(CaptionEvent(start, end, what))
    cap = event_cap(start_s, end_s)
    if len(events) > cap:
        return None, f"too many: {len(events)} events"
    summary = data.get("summary")
    summary = _cut(summary.strip(), SUMMARY_CHARS) if isinstance(summary, str) else ""
    if not summary and not events:
        return None, "not JSON"
    if not summary:
        summary = "; ".join(e.text for e in events[:3])
    events.sort(key=lambda e: (e.start_s, e.end_s))
    return ChunkCaption(chunk_index, start_s, end_s, summary, events, model), ""


def parse_caption(text: str, *, chunk_index: int, start_s: float, end_s: float,
                  model: str = "") -> ChunkCaption | None:
    """A ChunkCaption from the model's reply, or None when nothing usable is in it (see
    `read_caption`)."""
    return read_caption(text, chunk_index=chunk_index, start_s=start_s, end_s=end_s,
                        model=model)[0]


# --- captioning chunks ------------------------------------------------------------------------


def caption_chunk(backend: Backend, chunk: Chunk, image_path: Callable[[Keyframe], Path], *,
                  max_new_tokens: int = 1024, temperature: float = 0.0,
                  text_lines=(), speech=()) -> ChunkCaption:
    """Ask the model about one chunk; retry once on unusable output (no JSON, too many events,
    a reply over `max_new_tokens`), then keep it raw with a warning. Model output never crashes
    the run; backend errors (unreachable server, ...) do."""
    messages = caption_messages(chunk, image_path, text_lines, speech)
    cap = event_cap(chunk.start_s, chunk.end_s)
    text, why = "", ""
    for attempt in range(2):
        if attempt:
            kind, _, count = why.partition(": ")
            note = CAPTION_RETRY[kind].format(limit=max_new_tokens, cap=cap, count=count)
            messages = messages + [{"role": "assistant", "content": [{"type": "text", "text": _cut(
                                       text, SUMMARY_CHARS)}]},
                                   {"role": "user", "content": [{"type": "text", "text": note}]}]
        reply = backend.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature)
        text = reply.text
        if getattr(reply, "over_limit", False):
            why = "too long"
            continue
        caption, why = read_caption(text, chunk_index=chunk.index, start_s=chunk.start_s,
                                    end_s=chunk.end_s, model=backend.model)
        if caption is not None:
            return caption
    raw = one_line(strip_reasoning(text), SUMMARY_CHARS) or "(no output)"
    if why == "too long":
        warning = LONG_WARNING.format(limit=max_new_tokens)
    elif why == "not JSON":
        warning = RAW_WARNING
    else:  # too many events twice: the first ones are still worth keeping
        kept, _ = read_caption(text, chunk_index=chunk.index, start_s=chunk.start_s,
                               end_s=chunk.end_s, model=backend.model, max_events=cap)
        if kept is not None:
            return replace(kept, warning=MANY_WARNING.format(cap=cap))
        warning = RAW_WARNING
    return ChunkCaption(chunk.index, chunk.start_s, chunk.end_s, raw, [], backend.model,
                        warning=warning)


def captions_key(backend_name: str, model: str, max_new_tokens: int, temperature: float,
                 identity: str = "") -> str:
    """What a cached caption depends on besides the chunk: backend, model, the server or
    weights behind the name (`identity`), prompt, sampling."""
    shown = [p.version for p in (CAPTION_PROMPT, SYSTEM, LINE, TEXT_LINES)]
    payload = json.dumps([backend_name, model, identity, shown, max_new_tokens, temperature])
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def cached_captions(result: IngestResult, backend_name: str, model: str, *,
                    identity: str = "", max_new_tokens: int = 1024, temperature: float = 0.0,
                    text_lines=(), speech=()) -> VideoCaptions | None:
    """The captions a model already wrote for every chunk (degraded ones included), or None
    (nothing is generated)."""
    folder = result.workdir / "captions" / captions_key(backend_name, model, max_new_tokens,
                                                       temperature, identity)
    chunks = []
    for chunk in result.chunks:
        path = _chunk_file(folder, chunk, _chunk_lines(chunk, text_lines),
                           _chunk_lines(chunk, speech))
        caption = _read_cached(path) or _read_cached(_degraded(path))
        if caption is None:
            return None
        chunks.append(caption)
    return VideoCaptions(video=result.video.path, model=model, duration_s=result.stats.end_s,
                         chunks=chunks)


def _read_cached(path: Path) -> ChunkCaption | None:
    try:
        return ChunkCaption.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _degraded(path: Path) -> Path:
    """Where a degraded caption is kept: beside the final one, never taken for it."""
    return path.with_name(path.stem + ".degraded.json")


def _chunk_lines(chunk: Chunk, text_lines) -> list:
    return [line for line in text_lines if line.overlaps(chunk)]


def _chunk_file(folder: Path, chunk: Chunk, lines=(), said=()) -> Path:
    """Where a chunk's caption is kept: named by its range and by what the model was shown
    (the frames, the on-screen text lines, what was said)."""
    shown = [[k.pts_s for k in chunk.keyframes], [[l.start_s, l.text] for l in lines]]
    if said:
        shown.append([[s.start_s, s.text] for s in said])
    frames = hashlib.blake2b(json.dumps(shown).encode(), digest_size=6).hexdigest()
    return folder / f"{chunk.start_s:012.3f}-{chunk.end_s:012.3f}-{frames}.json"


def caption_video(result: IngestResult, backend: Backend, *, max_new_tokens: int = 1024,
                  temperature: float = 0.0, text_lines=(), speech=(),
                  on_chunk: Callable[[ChunkCaption], None] | None = None) -> VideoCaptions:
    """Captions for every chunk of an ingested video, cached per chunk (resumable: a run that
    stopped part way redoes only the chunks it had not finished). `text_lines` (the on-screen
    text track) and `speech` (the speech track) go to the model with the chunks they overlap."""
    folder = result.workdir / "captions" / captions_key(
        backend.name, backend.model, max_new_tokens, temperature,
        getattr(backend, "identity", ""))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, folder, "captions in") from None
    done: dict[int, ChunkCaption] = {}
    todo: list[Chunk] = []
    for chunk in result.chunks:
        cached = _read_cached(_chunk_file(folder, chunk, _chunk_lines(chunk, text_lines),
                                          _chunk_lines(chunk, speech)))
        if cached is None:  # not captioned yet, or degraded last time: ask again
            todo.append(chunk)
            continue
        done[chunk.index] = cached
        if on_chunk:
            on_chunk(cached)

    def work(chunk: Chunk) -> ChunkCaption:
        lines, said = _chunk_lines(chunk, text_lines), _chunk_lines(chunk, speech)
        caption = caption_chunk(backend, chunk, result.image_path, max_new_tokens=max_new_tokens,
                                temperature=temperature, text_lines=lines, speech=said)
        final = _chunk_file(folder, chunk, lines, said)
        if caption.warning:  # degraded: kept for `find`, never taken as final
            atomic_write_text(_degraded(final), json.dumps(caption.to_dict()))
        else:
            atomic_write_text(final, json.dumps(caption.to_dict()))
            _degraded(final).unlink(missing_ok=True)
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
