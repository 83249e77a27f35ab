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
from vidqa.model.prompts import LINE, MAP_PROMPT, REDUCE_PROMPT
from vidqa.errors import VidqaError
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
    strategy: str = ""  # how it was answered, and any thinning or fallback, in words
    frames_sent: int = 0  # key frames the model was shown
    visual_tokens: int = 0  # their visual tokens
    trace: list[dict] = field(default_factory=list)  # agent: every step (tool, args, result)

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
        max_new_tokens: int = 512, temperature: float = 0.0, hits=None, lines=()) -> Answer:
    """Answer `question` about an ingested and captioned video. `hits` (from the vector index)
    choose the chunks whose frames the model sees; without them, shared words do. The tracks'
    lines during those chunks (`lines`: (label, segment), what is said, what is on screen)
    come among their frames."""
    if hits:
        chosen = chunks_from_hits(hits, captions, top_k)
    else:
        chosen = sorted(rank_chunks(question, captions)[:top_k])
    by_index = {c.index: c for c in result.chunks}
    frames = [kf for i in chosen for kf in by_index[i].keyframes]
    summaries = [(c.start_s, c.end_s, c.summary) for c in captions.chunks]
    during = [(label, s) for label, s in lines if any(s.overlaps(by_index[i]) for i in chosen)]
    messages = answer_messages(question, summaries, frames, result.image_path, during)
    text, warning = generate_answer(backend, messages, max_new_tokens=max_new_tokens,
                                    temperature=temperature)
    cited = citations_in(text, 0.0, captions.duration_s)
    if not cited:  # the model cited nothing usable: point at the chunks it was shown
        cited = [Citation(by_index[i].start_s, by_index[i].end_s) for i in chosen]
    return Answer(question, text, cited, chosen, backend.model, warning,
                  f"chunks: {len(frames)} key frames of {len(chosen)} chunks", len(frames),
                  len(frames) * result.stats.tokens_per_frame)


def ask_all(captions: VideoCaptions, backend: Backend, question: str, *, batch: int = 40,
            max_new_tokens: int = 512, temperature: float = 0.0, lines=()) -> Answer:
    """A whole-video answer by map-reduce over chunk summaries and the tracks' lines (`lines`:
    (label, segment), each at its time among them): each batch of lines yields notes, then
    the notes yield the answer (one call when the video is short)."""
    warnings: list[str] = []

    def call(text: str) -> str:
        messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        reply, warning = generate_answer(backend, messages, max_new_tokens=max_new_tokens,
                                         temperature=temperature)
        if warning:
            warnings.append(warning)
        return reply

    timeline = sorted([(c.start_s, c.end_s, "", c.summary) for c in captions.chunks] +
                      [(s.start_s, s.end_s, label, s.text.strip()) for label, s in lines])
    lines = [LINE.format(time=f"[{start:.1f}-{end:.1f} s]", label=label, text=text) if label
             else f"[{start:.1f}-{end:.1f} s] {text}" for start, end, label, text in timeline]
    if len(lines) <= batch:
        text = call(REDUCE_PROMPT.format(question=question, notes="\n".join(lines)))
    else:
        notes = [call(MAP_PROMPT.format(question=question, summaries="\n".join(lines[i:i + batch])))
                 for i in range(0, len(lines), batch)]
        text = call(REDUCE_PROMPT.format(question=question, notes="\n\n".join(notes)))
    cited = citations_in(text, 0.0, captions.duration_s) or [Citation(0.0, captions.duration_s)]
    return Answer(question, text, cited, [c.chunk_index for c in captions.chunks], backend.model,
                  warnings[-1] if warnings else None)


# --- the whole video in one request -------------------------------------------------------------

DEFAULT_CONTEXT_TOKENS = 32_768  # when neither the model nor a preset says
LABEL_TOKENS = 8  # a "<12.5 seconds>" label and the vision start/end tokens around a frame
CHARS_PER_TOKEN = 3.5  # text's share of the budget, estimated
PROMPT_SLACK_TOKENS = 512  # the system prompt, the question and the chat template


def context_tokens(backend, config=None) -> int:
    """The model's context in tokens: what the backend reports (the loaded model's config, or
    the server's max model length), else its preset's, else `DEFAULT_CONTEXT_TOKENS`."""
    reported = getattr(backend, "context_tokens", None)
    if callable(reported):
        reported = reported()
    if isinstance(reported, int) and reported > 0:
        return reported
    from vidqa.model.presets import find_preset

    preset = find_preset(getattr(backend, "model", "") or "")
    return preset.context_tokens if preset else DEFAULT_CONTEXT_TOKENS


def thin_keyframes(keyframes: list, count: int) -> list | None:
    """At most `count` of the key frames, spread evenly over the video, never fewer than the
    first of each scene and every frame kept for a change (an event); None when even those do
    not fit."""
    firsts = {}
    for kf in keyframes:
        firsts.setdefault(kf.scene_index, kf)
    must = {id(kf) for kf in keyframes if kf.reason == "change"} | \
        {id(kf) for kf in firsts.values()}
    if len(must) > count:
        return None
    rest = [kf for kf in keyframes if id(kf) not in must]
    extra = count - len(must)
    picked = set()
    if extra > 0 and rest:
        step = len(rest) / extra
        picked = {id(rest[min(len(rest) - 1, int(i * step + step / 2))]) for i in range(extra)}
    return [kf for kf in keyframes if id(kf) in must or id(kf) in picked]


def ask_full(result, backend: Backend, question: str, *, lines=(),
             context: int, max_new_tokens: int = 512, temperature: float = 0.0,
             fallback=None) -> Answer:
    """Answer from every key frame of the video in one request (each after its time, with what
    is said and shown at their times: `lines`, (label, segment)), thinned to fit `context`
    tokens when needed; when even one frame per scene and per event does not fit,
    `fallback()` answers (retrieval), and the answer says so."""
    from vidqa.model.messages import full_messages

    frames = list(result.keyframes)
    per_frame = result.stats.tokens_per_frame + LABEL_TOKENS
    text = sum(len(s.text) + len(label) + 24 for label, s in lines) / CHARS_PER_TOKEN
    room = context - max_new_tokens - PROMPT_SLACK_TOKENS - int(text)
    strategy = f"full: all {len(frames)} key frames"
    if len(frames) * per_frame > room:
        thinned = thin_keyframes(frames, max(0, room // per_frame))
        if not thinned:
            least = len({kf.scene_index for kf in frames} |
                        {id(kf) for kf in frames if kf.reason == "change"})
            need = least * per_frame + int(text) + max_new_tokens + PROMPT_SLACK_TOKENS
            why = (f"chunks (the whole video does not fit: one frame per scene and per event, "
                   f"with the text, needs about {need:,} tokens; the context holds {context:,})")
            if fallback is None:
                raise VidqaError(f"the whole video does not fit the model's {context:,}-token "
                                 "context; use --scope chunks")
            answer = fallback()
            answer.strategy = why
            return answer
        strategy = (f"full, thinned: {len(thinned)} of {len(frames)} key frames (every scene's "
                    f"first and every change kept) to fit {context:,} tokens")
        frames = thinned
    messages = full_messages(question, frames, result.image_path, lines)
    reply, warning = generate_answer(backend, messages, max_new_tokens=max_new_tokens,
                                     temperature=temperature)
    cited = citations_in(reply, 0.0, result.stats.end_s) or [Citation(0.0, result.stats.end_s)]
    return Answer(question, reply, cited, [c.index for c in result.chunks], backend.model,
                  warning, strategy, len(frames), len(frames) * result.stats.tokens_per_frame)


HEARD_AROUND_S = 60.0  # what is kept either side of a hit when a recording's lines do not fit


def ask_heard(video: str, duration_s: float, backend: Backend, question: str, *, lines=(),
              hits=(), context: int, max_new_tokens: int = 512,
              temperature: float = 0.0) -> Answer:
    """Answer over a recording with no picture from its lines (`lines`: (label, segment), what
    is said) in one request; when they do not fit `context` tokens, from the lines within
    HEARD_AROUND_S of the hits (best first, as many as fit). The answer's `strategy` says so."""
    from pathlib import Path

    from vidqa.model.messages import full_messages
    from vidqa.model.prompts import HEARD_CONTEXT

    lines = list(lines)
    if not lines:
        raise VidqaError(f"'{video}' has no picture and nothing said was found in it (no speech "
                         "track: is speech recognition installed? pip install 'vidqa[speech]'); "
                         "there is nothing to answer from")
    room = context - max_new_tokens - PROMPT_SLACK_TOKENS

    def cost(chosen) -> int:
        return int(sum(len(s.text) + len(label) + 24 for label, s in chosen) / CHARS_PER_TOKEN)

    name = video.rsplit("/", 1)[-1]
    strategy = f"speech only: '{name}' has no picture; answered from all {len(lines)} lines"
    if cost(lines) > room:
        kept: set[int] = set()
        for hit in hits:
            near = {i for i, (_label, s) in enumerate(lines)
                    if s.end_s >= hit.start_s - HEARD_AROUND_S
                    and s.start_s <= hit.end_s + HEARD_AROUND_S}
            if cost([lines[i] for i in kept | near]) > room:
                break
            kept |= near
        if not kept:
            raise VidqaError(f"what is said in '{video}' does not fit the model's {context:,}-"
                             "token context and the index found nothing near the question; "
                             "index it (vidqa index) or use a model with a longer context")
        strategy = (f"speech only: '{name}' has no picture; answered from {len(kept)} of "
                    f"{len(lines)} lines (those within {HEARD_AROUND_S:g} s of the hits: all "
                    f"of them do not fit {context:,} tokens)")
        lines = [lines[i] for i in sorted(kept)]
    reply, warning = generate_answer(backend, full_messages(question, (), Path, lines,
                                                               intro=HEARD_CONTEXT),
                                     max_new_tokens=max_new_tokens, temperature=temperature)
    cited = citations_in(reply, 0.0, duration_s) or [Citation(0.0, duration_s)]
    return Answer(question, reply, cited, [], backend.model, warning, strategy, 0, 0)
