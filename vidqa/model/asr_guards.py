"""What Whisper invents, judged one utterance at a time.

faster-whisper's batched pipeline joins the stretches of speech of up to 30 s into one window
and may give one segment for all of it: a narration said twice, 8 s apart, is one segment whose
text repeats and so compresses well. Whisper's rules are therefore applied to each utterance
(a segment cut at pauses between its words, never across a change of language), with the
utterance's own figures:
- a loop: a phrase of its words said three times or more in a row (8 words or more in all) is
  a loop Whisper invents: the repeats after the first are left out and the rest is kept (the
  words before and after were heard as well as any); the text that is left, with every phrase
  said twice in a row taken once, that still compresses over 2.4 (zlib, as whisper measures it)
  is a loop too, and left out whole. A sentence said twice in a row is speech, and kept;
- Whisper's doubt: its no-speech probability for the window over 0.6 while the utterance's own
  words are unlikely (their mean log-probability under -1.0: whisper's rule, with the words'
  probabilities in place of the window's average, which other utterances share);
- an echo: the same text as the utterance just before, starting within 2 s of its end.
Every utterance left out (or part of one) is told, with its time range and why.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vidqa.timecode import Timed, format_hms

if TYPE_CHECKING:
    from vidqa.model.asr import Utterance, Word

NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
MAX_COMPRESSION = 2.4
REPEAT_GAP_S = 2.0  # the same text again within this gap is a repeat Whisper invented
LOOP_REPEATS = 3  # a phrase said this many times in a row, or more, is a loop ...
LOOP_WORDS = 8  # ... when the repeats hold this many words or more

LOOP = "it repeats itself (a loop Whisper invents)"
ECHO = "it repeats the line just before (an echo Whisper invents)"


@dataclass(frozen=True)
class Dropped(Timed):
    """Text a guard left out: where, what, and why."""

    start_s: float
    end_s: float
    text: str
    why: str

    def message(self, video: str) -> str:
        said = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return (f"speech: left out {format_hms(self.start_s)}-{format_hms(self.end_s)} of "
                f"'{video}' (\"{said}\"): {self.why}")


@dataclass(frozen=True)
class Judged:
    """What `_invented` reads of one utterance: Whisper's figures, the utterance's own."""

    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float


def compression_ratio(text: str) -> float:
    """How well `text` compresses (zlib, as whisper and faster-whisper measure it)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum()) or word.strip()


def _repeats(keys: list[str], min_repeats: int, min_words: int = 0
             ) -> tuple[int, int, int] | None:
    """The first phrase said `min_repeats` times or more in a row in `keys`, in `min_words`
    words or more: (where it starts, its length in words, how many times), the longest such run
    of the phrases that start there (of equal runs, the one of the shortest phrase)."""
    for start in range(len(keys)):
        best = None
        for n in range(1, (len(keys) - start) // min_repeats + 1):
            if keys[start + n] != keys[start]:
                continue
            phrase, times = keys[start:start + n], 1
            while keys[start + times * n:start + (times + 1) * n] == phrase:
                times += 1
            if times >= min_repeats and n * times >= min_words and \
                    (best is None or n * times > best[1] * best[2]):
                best = (start, n, times)
        if best is not None:
            return best
    return None


def collapsed(words: list[str]) -> str:
    """The words with every phrase said twice or more in a row taken once."""
    keys = [_key(w) for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        found = _repeats(keys[i:], 2)
        if found is None:
            out += words[i:]
            break
        start, n, times = found
        out += words[i:i + start + n]
        i += start + n * times
    return " ".join(out)


def without_loop(utterance: Utterance) -> tuple[Utterance, list[Dropped]]:
    """The utterance with the repeats of each loop left out (see the module's doc: the phrase
    is kept once, with what comes before and after it), and what was left out."""
    words = list(utterance.words)
    keys = [_key(w.text) for w in words]
    dropped: list[Dropped] = []
    while (found := _repeats(keys, LOOP_REPEATS, LOOP_WORDS)) is not None:
        start, n, times = found
        cut = words[start + n:start + n * times]
        dropped.append(Dropped(cut[0].start_s, cut[-1].end_s, _text(cut), LOOP))
        del words[start + n:start + n * times], keys[start + n:start + n * times]
    if not dropped:
        return utterance, []
    return replace(utterance, start_s=words[0].start_s, end_s=words[-1].end_s,
                   text=_text(words), words=tuple(words)), dropped


def _text(words: list[Word]) -> str:
    """Words joined as `split_at_pauses` joins them (no spaces between CJK words)."""
    out = ""
    for word in words:
        spaced = out and not (_cjk(out[-1]) and _cjk(word.text[:1]))
        out += (" " if spaced else "") + word.text
    return out.strip()


def _cjk(ch: str) -> bool:
    return bool(ch) and ("\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff"
                         or "\uac00" <= ch <= "\ud7af")


def judged(utterance: Utterance, no_speech_prob: float) -> Judged:
    """Whisper's figures for one utterance: the window's no-speech probability, the mean
    log-probability of its own words, the compression ratio of its own text (each phrase
    said twice in a row taken once)."""
    probabilities = [w.probability for w in utterance.words if w.probability is not None]
    logprob = sum(math.log(max(p, 1e-6)) for p in probabilities) / len(probabilities) \
        if probabilities else 0.0
    text = collapsed([w.text for w in utterance.words]) if utterance.words else utterance.text
    return Judged(float(no_speech_prob), logprob, compression_ratio(text))


def _invented(seg, text: str, earlier: list[Utterance], start_s: float) -> str | None:
    """Why an utterance is invented, or None: Whisper's own doubt, a loop, or the utterance
    just before again right after it (a sentence said again later, after a pause, is kept).
    `seg`: the utterance's figures (`judged`)."""
    if seg.no_speech_prob > NO_SPEECH_PROB and seg.avg_logprob < LOW_LOGPROB:
        return (f"Whisper doubts it is speech (no-speech probability {seg.no_speech_prob:.2f}, "
                f"word probability {math.exp(seg.avg_logprob):.2f})")
    if seg.compression_ratio > MAX_COMPRESSION:
        return LOOP
    if earlier and earlier[-1].text.lower() == text.lower() and \
            start_s - earlier[-1].end_s < REPEAT_GAP_S:
        return ECHO
    return None
