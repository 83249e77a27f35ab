"""Answers: pick the chunks most likely to hold the answer, let the model read their key frames
(with absolute times) and every chunk's summary, and cite time ranges.

Chunks are ranked by the vector index when one is given (and their neighbours join them), else
by the words they share with the question. `ask_all` answers whole-video questions ("summarise",
"how many times") by map-reduce over the chunk summaries, without frames.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from vidqa.model.backends.base import Backend
from vidqa.model.captions import VideoCaptions, strip_reasoning
from vidqa.model.messages import answer_messages
from vidqa.model.prompts import MAP_PROMPT, REDUCE_PROMPT, SAID
from vidqa.timecode import Timed

_WORD = re.compile(r"[\w']+")
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s|sec|seconds)?\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*(?:s|sec|seconds)\b")
_STOP = {"the", "a", "an", "is", "are", "was", "what", "when", "where", "who", "how", "does",
         "did", "do", "in", "on", "of", "to", "and", "or", "it", "this", "that", "video", "there"}


@dataclass(frozen=True)
class Citation(Timed):
    """A time range an answer rests on."""

    start_s: float
    end_s: float


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)  # chunk indices whose frames the model saw
    model: str = ""
    warning: str | None = None  # set when the model's reply was unusable and is kept cut short

    def to_dict(self) -> dict:
        return asdict(self)


LONG_ANSWER = ("the model's answer went past the {limit}-token limit twice (does the server "
               "ignore max_tokens?); its start is shown")


def generate_answer(backend: Backend, messages, *, max_new_tokens: int,
                    temperature: float) -> tuple[str, str | None]:
    """(reply text without reasoning, warning): a reply past the token limit is asked for once
    more, then kept cut short with a warning."""
    reply = None
    for _ in range(2):
        reply = backend.generate(messages, max_new_tokens=max_new_tokens,
                                 temperature=temperature)
        if not getattr(reply, "over_limit", False):
            return strip_reasoning(reply.text), None
    return strip_reasoning(reply.text), LONG_ANSWER.format(limit=max_new_tokens)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def rank_chunks(question: str, captions: VideoCaptions) -> list[int]:
    """Chunk indices, most shared words with the question first (ties: time order)."""
    asked = _words(question)
    scores = []
    for chunk in captions.chunks:
        text = chunk.summary + " " + " ".join(e.text for e in chunk.events)
        scores.append((-len(asked & _words(text)), chunk.chunk_index))
    return [index for _, index in sorted(scores)]


def citations_in(text: str, start_s: float, end_s: float) -> list[Citation]:
    """Time ranges the answer cites ("[12.0-15.5 s]", "12 to 15 seconds"), inside the video."""
    found = []
    for a, b in _RANGE.findall(text):
        lo, hi = sorted((float(a), float(b)))
        if start_s <= lo <= end_s:
            found.append(Citation(lo, min(hi, end_s)))
    return found


def chunks_from_hits(hits, captions: VideoCaptions, top_k: int, neighbours: int = 1) -> list[int]:
    """Chunk indices holding the best hits (`vidqa.search.find.Found`, by start time), plus neighbours."""
    picked: list[int] = []
    for hit in hits:
        for chunk in captions.chunks:
            if chunk.contains(hit.start_s) and chunk.chunk_index not in picked:
                picked.append(chunk.chunk_index)
        if len(picked) >= top_k:
            break
    last = len(captions.chunks) - 1
    around = {j for i in picked for j in range(i - neighbours, i + neighbours + 1) if 0 <= j <= last}
    return sorted(around)


def ask(result, captions: VideoCaptions, backend: Backend, question: str, *, top_k: int = 2,
        max_new_tokens: int = 512, temperature: float = 0.0, hits=None, speech=()) -> Answer:
    """Answer `question` about an ingested and captioned video. `hits` (from the vector index)
    choose the chunks whose frames the model sees; without them, shared words do. What is
    said during those chunks (`speech`, segments) comes among their frames."""
    if hits:
        chosen = chunks_from_hits(hits, captions, top_k)
    else:
        chosen = sorted(rank_chunks(question, captions)[:top_k])
    by_index = {c.index: c for c in result.chunks}
    frames = [kf for i in chosen for kf in by_index[i].keyframes]
    summaries = [(c.start_s, c.end_s, c.summary) for c in captions.chunks]
    said = [s for s in speech if any(s.overlaps(by_index[i]) for i in chosen)]
    messages = answer_messages(question, summaries, frames, result.image_path, said)
    text, warning = generate_answer(backend, messages, max_new_tokens=max_new_tokens,
                                    temperature=temperature)
    cited = citations_in(text, 0.0, captions.duration_s)
    if not cited:  # the model cited nothing usable: point at the chunks it was shown
        cited = [Citation(by_index[i].start_s, by_index[i].end_s) for i in chosen]
    return Answer(question, text, cited, chosen, backend.model, warning)


def ask_all(captions: VideoCaptions, backend: Backend, question: str, *, batch: int = 40,
            max_new_tokens: int = 512, temperature: float = 0.0, speech=()) -> Answer:
    """A whole-video answer by map-reduce over chunk summaries and what is said (`speech`,
    each line at its time among them): each batch of lines yields notes, then the notes
    yield the answer (one call when the video is short)."""
    warnings: list[str] = []

    def call(text: str) -> str:
        messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        reply, warning = generate_answer(backend, messages, max_new_tokens=max_new_tokens,
                                         temperature=temperature)
        if warning:
            warnings.append(warning)
        return reply

    timeline = sorted([(c.start_s, c.end_s, False, c.summary) for c in captions.chunks] +
                      [(s.start_s, s.end_s, True, s.text.strip()) for s in speech])
    lines = [SAID.format(time=f"[{start:.1f}-{end:.1f} s]", text=text) if said else
             f"[{start:.1f}-{end:.1f} s] {text}" for start, end, said, text in timeline]
    if len(lines) <= batch:
        text = call(REDUCE_PROMPT.format(question=question, notes="\n".join(lines)))
    else:
        notes = [call(MAP_PROMPT.format(question=question, summaries="\n".join(lines[i:i + batch])))
                 for i in range(0, len(lines), batch)]
        text = call(REDUCE_PROMPT.format(question=question, notes="\n\n".join(notes)))
    cited = citations_in(text, 0.0, captions.duration_s) or [Citation(0.0, captions.duration_s)]
    return Answer(question, text, cited, [c.chunk_index for c in captions.chunks], backend.model,
                  warnings[-1] if warnings else None)
