"""The language of each stretch of speech, for a recogniser that hears several in one file.

Silero VAD finds the stretches of speech (as faster-whisper's batched pipeline finds them), and
they are grouped into chunks of up to 30 s of speech, the windows Whisper recognises. Whisper
names each chunk's language from the chunk's own encoder output; the encoder outputs are kept,
so recognising the same chunks afterwards does not encode them again (a file in one language
costs one short decoder step per chunk more than before). A chunk that Whisper is unsure of
(under the floor), or whose language differs from the nearest sure chunk before or after it (a
change of language may lie inside it), is looked at stretch by stretch. A stretch keeps its
language when Whisper is sure of it (the floor, `LANGUAGE_FLOOR`); else it takes the language of
the nearest sure stretch before it, else after it, else the one heard before this window, else
the language most probable over the whole window: noise and short words do not flip it.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import numpy as np

RATE = 16_000
CHUNK_S = 30  # a window Whisper hears at once; VAD cuts stretches to fit one
LANGUAGE_FLOOR = 0.7  # Whisper's probability of a language under which it is not believed
MIN_DETECT_S = 1.0  # a stretch shorter than this is too short to name its language alone


@dataclass
class Stretch:
    """A stretch of speech VAD found, in samples of the window; its language once planned."""

    start: int
    end: int
    language: str = ""
    probability: float = 0.0

    @property
    def length_s(self) -> float:
        return (self.end - self.start) / RATE


def speech_stretches(samples: np.ndarray) -> list[Stretch]:
    """The stretches of speech in `samples` (16 kHz mono), found with the options faster-whisper's
    batched pipeline uses (stretches of at most 30 s, cut at 160 ms of silence)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(samples, VadOptions(max_speech_duration_s=CHUNK_S,
                                                      min_silence_duration_ms=160))
    return [Stretch(int(s["start"]), int(s["end"])) for s in found if s["end"] > s["start"]]


def group(stretches: list[Stretch], max_s: float = CHUNK_S) -> list[list[int]]:
    """The stretches (by index) of each chunk: consecutive stretches up to `max_s` of speech,
    grouped as faster-whisper's `collect_chunks` groups them."""
    chunks: list[list[int]] = [[]]
    length = 0
    for i, stretch in enumerate(stretches):
        size = stretch.end - stretch.start
        if length + size > max_s * RATE and chunks[-1]:
            chunks.append([])
            length = 0
        chunks[-1].append(i)
        length += size
    return [c for c in chunks if c]


def joined(samples: np.ndarray, stretches: list[Stretch]) -> np.ndarray:
    """The stretches' samples one after another (the silences between them taken out)."""
    return np.concatenate([samples[s.start:s.end] for s in stretches]).astype(np.float32)


class Encoded:
    """Whisper's encoder with a memory: what it encoded for naming languages is given back,
    without encoding again, when the same batch of chunks is recognised. `engine` is the model
    to hand to faster-whisper's pipeline (a shallow copy: the weights are shared)."""

    def __init__(self, model):
        self.model = model
        self.kept: dict[bytes, object] = {}
        self.engine = copy.copy(model)
        self.engine.encode = self.encode

    @staticmethod
    def _key(features: np.ndarray) -> bytes:
        array = np.ascontiguousarray(features)
        return hashlib.blake2b(array.tobytes(), digest_size=16,
                               person=str(array.shape).encode()[:16]).digest()

    def encode(self, features: np.ndarray):
        key = self._key(features)
        found = self.kept.pop(key, None)  # each batch is recognised once
        return found if found is not None else self.model.encode(features)

    def languages(self, chunks: list[np.ndarray], batch_size: int, *, keep: bool
                  ) -> list[list[tuple[str, float]]]:
        """Whisper's language probabilities (most probable first) for each chunk of samples,
        in batches of `batch_size` as the pipeline batches them; `keep`: remember the encoder
        outputs for recognising the same batches."""
        from faster_whisper.audio import pad_or_trim

        extract = self.model.feature_extractor
        features = np.stack([pad_or_trim(extract(chunk)[..., :-1]) for chunk in chunks])
        out: list[list[tuple[str, float]]] = []
        batch_size = max(1, batch_size)
        for i in range(0, len(features), batch_size):
            batch = features[i:i + batch_size]
            encoded = self.model.encode(batch)
            if keep:
                self.kept[self._key(batch)] = encoded
            for ranked in self.model.model.detect_language(encoded):
                out.append([(token[2:-2], float(p)) for token, p in ranked])
        return out


def plan(encoded: Encoded, samples: np.ndarray, stretches: list[Stretch], *,
         batch_size: int, floor: float = LANGUAGE_FLOOR, prior: str | None = None,
         keep: bool = True) -> None:
    """Give every stretch its language (and Whisper's probability of it), in place: per chunk,
    stretch by stretch where a chunk is unsure or may hold a change of language, then the floor
    (see the module's doc). `keep`: keep the chunks' encoder outputs for the recognition (the
    batched pipeline, recognising the same batches of chunks, reads them back)."""
    chunks = group(stretches)
    ranked = encoded.languages([joined(samples, [stretches[i] for i in c]) for c in chunks],
                               batch_size, keep=keep)
    for members, (best, *_rest) in zip(chunks, ranked):
        for i in members:
            stretches[i].language, stretches[i].probability = best
    sure = [k for k, r in enumerate(ranked) if r[0][1] >= floor]
    look = []
    for k, members in enumerate(chunks):
        before = [j for j in sure if j < k][-1:]
        after = [j for j in sure if j > k][:1]
        if k not in sure or any(ranked[j][0][0] != ranked[k][0][0] for j in before + after):
            look += members
    for i in look:
        stretches[i].language, stretches[i].probability = "", 0.0
    alone = [i for i in look if stretches[i].length_s >= MIN_DETECT_S]
    if alone:
        found = encoded.languages([samples[stretches[i].start:stretches[i].end] for i in alone],
                                  batch_size, keep=False)
        for i, (best, *_rest) in zip(alone, found):
            stretches[i].language, stretches[i].probability = best
    overall = _most_probable(ranked, [sum(stretches[i].length_s for i in c) for c in chunks])
    _floor(stretches, floor, prior or overall)


def _most_probable(ranked: list[list[tuple[str, float]]], weights: list[float]) -> str:
    """The language with the highest probability over chunks, weighted by their speech."""
    total: dict[str, float] = {}
    for languages, weight in zip(ranked, weights):
        for language, p in languages:
            total[language] = total.get(language, 0.0) + p * weight
    return max(total, key=total.get) if total else ""


def _floor(stretches: list[Stretch], floor: float, fallback: str) -> None:
    """A stretch Whisper is unsure of takes the language of the nearest sure stretch before it,
    else after it, else `fallback`."""
    sure = [bool(s.language) and s.probability >= floor for s in stretches]
    last = None
    for i, stretch in enumerate(stretches):  # from the nearest sure one before
        if sure[i]:
            last = stretch.language
        elif last is not None:
            stretch.language = last
    first = next((s.language for s, ok in zip(stretches, sure) if ok), fallback)
    for i, stretch in enumerate(stretches):  # before the first sure one: from it
        if sure[i]:
            break
        stretch.language = first


def runs(stretches: list[Stretch]) -> list[int]:
    """For each stretch, the number of its run: consecutive stretches in one language."""
    out, run = [], 0
    for i, stretch in enumerate(stretches):
        if i and stretch.language != stretches[i - 1].language:
            run += 1
        out.append(run)
    return out
