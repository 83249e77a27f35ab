"""The speech track: what is said, at the second it is said.

The source, by `speech.mode`:
- `subtitles`: a text subtitle stream of the container (the first one), else a sidecar `.srt`
  or `.vtt` beside the video; read as they are, no recognition;
- `asr`: faster-whisper on the audio stream (`vidqa.model.asr`), with word times;
- `auto` (default): subtitles when the file has some, else recognition when installed, else
  nothing; `off`: nothing.
A file with no audio gets no speech and no error (and is done: `cached` gives no segments for
it); an audio stream that does not decode gives a warning and the rest of the run goes on.
Sound that stops decoding part way is transcribed as far as it decodes, with a warning that says
from when; text the recogniser's guards leave out (a loop, Whisper's doubt, an echo) is told
with its time range, one line each (both kept with the cache, so a later run says them again).
Subtitles that are refused (a sidecar that links out of its folder, a file or stream over
`speech.max_subtitles_mb`) leave the track out with a warning that names the fix: no
recognition is run in their place, the person who put them there meant them to be read.

One "speech" segment per cue or recognised utterance; `extras` holds `from` (which source) and,
from recognition, `language` (the utterance's own: each stretch of speech is recognised in its
language) and `words`: [[start_s, end_s, word, probability], ...]. Cached per file content
(beside the work dirs of every decode setting: speech does not depend on them), the source, the
model and its settings, and the track's version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from vidqa.errors import tell
from vidqa.store import atomic_write_text, fingerprint, write_error
from vidqa.tracks.base import AgentTool, Lane, Segment, TrackBase, TrackSkipped

if TYPE_CHECKING:
    from vidqa.tools import Tools
    from vidqa.tracks.base import Media

NAME = "speech"
VERSION = "5"  # 2: cut at pauses between words; 3: repeats only when adjacent; 4: batched;
# 5: guards per utterance (nothing said is lost), language per stretch, word probabilities


class SpeechTrack(TrackBase):
    name: ClassVar[str] = NAME
    version: ClassVar[str] = VERSION
    kinds: ClassVar[tuple[str, ...]] = ("speech",)
    log_kinds: ClassVar[tuple[str, ...]] = ("speech",)
    said_kinds: ClassVar[tuple[str, ...]] = ("speech",)
    needs: ClassVar[str] = "speech"
    unit: ClassVar[str] = "s"
    frames: ClassVar[bool] = False  # reads the audio: runs beside the decode
    label: ClassVar[str] = "Said"
    prompt_kinds: ClassVar[tuple[str, ...]] = ("speech",)
    lane: ClassVar[Lane] = Lane("speech", "Speech", ("speech",), "#54b38a")
    tool: ClassVar[AgentTool] = AgentTool("transcript", "reads what is said in a time range",
                                          ("speech",))
    noun: ClassVar[str] = "speech lines"

    def __init__(self, config, tools: Tools):
        self.config, self.tools = config, tools
        self.settings = config.speech

    def unavailable(self) -> str | None:
        from vidqa.model.asr import INSTALL, asr_available

        mode = self.settings.mode
        if mode == "off":
            return "speech is off (--speech off); pass --speech auto"
        if mode == "asr" and not asr_available():
            return f"speech recognition needs faster-whisper; {INSTALL}"
        return None

    # -- where the speech comes from

    def _source(self, result: Media) -> tuple[str, object] | None:
        """("stream", StreamInfo) or ("sidecar", Path: the real file) for subtitles, ("asr",
        StreamInfo) for recognition (installed or not: its cache may hold it), ("refused",
        why) for a sidecar that is not read (see `check_sidecar`), or None when there is
        nothing to read (no subtitles and no sound, or `subtitles` mode without subtitles)."""
        from vidqa.media import subtitles
        from vidqa.media.audio import choose_audio

        info, mode = result.video, self.settings.mode
        chosen = self.settings.audio_stream >= 0  # --audio-stream N: recognise that stream
        if mode == "subtitles" or (mode == "auto" and not chosen):
            streams = subtitles.text_streams(info)
            if streams:
                return "stream", streams[0]
            path = subtitles.sidecar(info, self.settings.subtitles_dir or None)
            if path is not None:
                try:
                    return "sidecar", subtitles.check_sidecar(path,
                                                              self.settings.max_subtitles_mb)
                except subtitles.SubtitlesRefused as exc:
                    return "refused", str(exc)
            if mode == "subtitles":
                return None
        if mode == "off":
            return None
        audio = choose_audio(info, self.settings.audio_stream)
        return ("asr", audio) if audio is not None else None

    def _asr(self):
        """The recogniser (shared by the pipeline's runs), made from the settings; one made
        with other settings is replaced."""
        from vidqa.model.asr import WhisperASR

        s = self.settings
        wanted = WhisperASR(s.model, language=s.language, beam_size=s.beam_size, vad=s.vad,
                            threads=s.threads, batch_size=s.batch_size,
                            language_floor=s.language_floor)  # loads nothing yet
        if self.tools.asr is None or self.tools.asr.settings() != wanted.settings():
            self.tools.asr = wanted
        return self.tools.asr

    def _cache_path(self, result: Media, source: tuple[str, object]) -> Path:
        from vidqa.media.subtitles import PARSER_VERSION

        kind, what = source
        if kind == "asr":  # the recogniser's own description: model (and its bytes), settings
            described = [kind, what.index, self._asr().key()]
        elif kind == "stream":
            described = [kind, what.index, PARSER_VERSION]
        else:  # a sidecar: its own bytes
            described = [kind, fingerprint(what), PARSER_VERSION]
        key = hashlib.blake2b(json.dumps([VERSION, described]).encode(),
                              digest_size=8).hexdigest()
        return result.folder / "speech" / f"{key}.json"

    # -- the track

    def cached(self, result: Media, earlier=None) -> list[Segment] | None:
        """The cached segments; no segments where the track makes none (no sound and no
        subtitles, or subtitles it does not read): the file is done; None when not made yet."""
        if self.settings.mode == "off":
            return None
        source = self._source(result)
        if source is None or source[0] == "refused":
            return []
        return _load(self._cache_path(result, source))

    def segments(self, result: Media, earlier=None, *,
                 on_progress: Callable[[float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Segment]:
        """The segments (see the module's doc); `warn` is told what was lost on the way
        (sound that stops decoding part way, text the guards left out), else Python's warnings
        (`errors.tell`)."""
        from vidqa.model.asr import INSTALL, asr_available

        source = self._source(result)
        if source is None:
            return []
        kind, what = source
        if kind == "refused":
            raise TrackSkipped(str(what))
        path = self._cache_path(result, source)
        cached, warnings = _load_with_warnings(path)
        if cached is not None:
            if warnings is None:  # cached before damaged sound was looked for: look once now
                warnings = _damage_of(result, what) if kind == "asr" else []
                _save(path, cached, warnings)
            for text in warnings:
                tell(text, warn)
            return cached
        warnings = []
        if kind == "asr":
            if not asr_available():
                raise TrackSkipped(f"'{result.video.path}' has sound, but speech recognition is "
                                   f"not installed; {INSTALL} (or --speech off)")
            segments = self._recognise(result, what, on_progress, warnings)
        else:
            from vidqa.media import subtitles

            limit = self.settings.max_subtitles_mb
            try:
                cues = subtitles.read_stream(result.video, what, max_mb=limit) \
                    if kind == "stream" else \
                    subtitles.read_sidecar(what, max_mb=limit, duration_s=result.video.duration_s)
            except subtitles.SubtitlesRefused as exc:
                raise TrackSkipped(str(exc)) from None
            origin = f"subtitles:stream {what.index}" if kind == "stream" else \
                f"subtitles:{Path(what).name}"
            segments = [Segment(c.start_s, c.end_s, c.text, NAME, "speech", {"from": origin})
                        for c in cues]
        _save(path, segments, warnings)
        for text in warnings:
            tell(text, warn)
        return segments

    def _recognise(self, result: Media, stream, on_progress, warnings: list[str]
                   ) -> list[Segment]:
        from vidqa.media.audio import AudioError
        from vidqa.model.asr import transcribe_stream

        asr = self._asr()
        origin = f"asr:{asr.model_name}"
        try:
            said = transcribe_stream(
                asr, result.video, stream, on_window=on_progress,
                on_damage=lambda damage: warnings.append(damage.message),
                on_drop=lambda dropped: warnings.append(dropped.message(str(result.video.path))))
        except AudioError as exc:
            raise TrackSkipped(str(exc)) from None
        return [Segment(u.start_s, u.end_s, u.text, NAME, "speech",
                        {"from": origin, "language": u.language,
                         "words": [[w.start_s, w.end_s, w.text, w.probability] for w in u.words]})
                for u in said]


def _damage_of(result: Media, stream) -> list[str]:
    """What `AudioReader.damage` says of a stream, decoded (not recognised) once more."""
    from vidqa.media.audio import AudioError, AudioReader

    reader = AudioReader(result.video, stream)
    try:
        for _ in reader.samples():
            pass
    except AudioError:
        return []  # it was recognised, so it decoded then
    return [reader.damage.message] if reader.damage else []


def _load(path: Path) -> list[Segment] | None:
    return _load_with_warnings(path)[0]


def _load_with_warnings(path: Path) -> tuple[list[Segment] | None, list[str] | None]:
    """(the cached segments, or None; the warnings they were made with, None in an entry
    written before warnings were kept)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        segments = [Segment(float(s["start_s"]), float(s["end_s"]), str(s["text"]), NAME,
                            "speech", dict(s.get("extras") or {})) for s in data["segments"]]
        warnings = data.get("warnings")
        return segments, None if warnings is None else [str(w) for w in warnings]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, []


def _save(path: Path, segments: list[Segment], warnings: list[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path.parent, "the speech track in") from None
    atomic_write_text(path, json.dumps({"version": VERSION, "warnings": warnings,
                                        "segments": [s.to_dict() for s in segments]},
                                       ensure_ascii=False))
