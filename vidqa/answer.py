"""Answers: pick the chunks most likely to hold the answer, let the model read their key frames
(with absolute times) and every chunk's summary, and cite time ranges.

This first version ranks chunks by the words they share with the question; the FAISS index
replaces that ranking in a later stage.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from vidqa.backends.base import Backend
from vidqa.caption import VideoCaptions, strip_reasoning
from vidqa.messages import answer_messages

_WORD = re.compile(r"[\w']+")
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s|sec|seconds)?\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*(?:s|sec|seconds)\b")
_STOP = {"the", "a", "an", "is", "are", "was", "what", "when", "where", "who", "how", "does",
         "did", "do", "in", "on", "of", "to", "and", "or", "it", "this", "that", "video", "there"}


@dataclass(frozen=True)
class Citation:
    start_s: float
    end_s: float


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)  # chunk indices whose frames the model saw
    model: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


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


def ask(result, captions: VideoCaptions, backend: Backend, question: str, *, top_k: int = 2,
        max_new_tokens: int = 512, temperature: float = 0.0) -> Answer:
    """Answer `question` about an ingested and captioned video."""
    chosen = sorted(rank_chunks(question, captions)[:top_k])
    by_index = {c.index: c for c in result.chunks}
    frames = [kf for i in chosen for kf in by_index[i].keyframes]
    summaries = [(c.start_s, c.end_s, c.summary) for c in captions.chunks]
    messages = answer_messages(question, summaries, frames, result.image_path)
    reply = backend.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature)
    text = strip_reasoning(reply.text)
    cited = citations_in(text, 0.0, captions.duration_s)
    if not cited:  # the model cited nothing usable: point at the chunks it was shown
        cited = [Citation(by_index[i].start_s, by_index[i].end_s) for i in chosen]
    return Answer(question, text, cited, chosen, backend.model)
