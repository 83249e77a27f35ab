"""Audio: one stream decoded by the bundled ffmpeg to 16 kHz mono, streamed in windows.

The stream is chosen like the video one: the default audio stream, else the first (or the one
`--audio-stream` names). `aresample=async=1:first_pts=0` pads gaps and a late start with
silence, so sample n is at n / 16000 seconds of the file's own timeline (seconds since the
container's start, as players show it; see `vidqa.media.probe`): times need no offset.

Memory stays flat whatever the length: `AudioReader.windows()` yields the audio a window at a
time (5 minutes: 19 MB of float32), each cut at the quietest 0.2 s near its end so a word is
never split between two windows; the rest starts the next window.

Damaged sound loses nothing silently and keeps what decodes: ffmpeg decodes all it can (a
failing exit after some audio is not an error), and when it failed, logged errors, or stopped
short of the length the file states for the stream, a second pass with `-xerror` finds the
first time that does not decode. `AudioReader.damage` then says from when, and why; an
`AudioError` is left for a stream of which nothing decodes.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from vidqa.errors import VidqaError
from vidqa.media.ffmpeg import LogProblems, command, input_args
from vidqa.media.probe import StreamInfo, VideoInfo, open_local
from vidqa.timecode import format_hms, parse_time

SAMPLE_RATE = 16_000
WINDOW_S = 300.0  # audio handed to the recogniser at once
SEEK_QUIET_S = 10.0  # the cut is the quietest stretch in this much before the window's end
QUIET_S = 0.2
LOST_S = 1.0  # sound missing before the stream's end that counts as damage


class AudioError(VidqaError):
    """An audio stream that cannot be decoded (the video work goes on without speech)."""


@dataclass(frozen=True)
class AudioWindow:
    start_s: float  # time of its first sample
    samples: np.ndarray  # float32 in [-1, 1], 16 kHz mono

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / SAMPLE_RATE


@dataclass(frozen=True)
class AudioDamage:
    """Where a stream stops decoding: `from_s` on, of `end_s` (what the file states, or what
    decoded past the damage), and ffmpeg's reason."""

    path: str
    stream: int
    from_s: float
    end_s: float
    why: str

    @property
    def message(self) -> str:
        return (f"audio stream #{self.stream} of '{self.path}' does not decode from "
                f"{format_hms(self.from_s)} on ({self.why}); what is said after that is "
                "missing: copy the file again if it was cut short, or re-encode its sound "
                "with ffmpeg")


def audio_streams(info: VideoInfo) -> list[StreamInfo]:
    return [s for s in info.streams if s.kind == "audio"]


def choose_audio(info: VideoInfo, index: int | None = None) -> StreamInfo | None:
    """The audio stream to read: `index` (an absolute stream index) when given, else the
    default one, else the first; None when the file has no audio."""
    streams = audio_streams(info)
    if index is not None and index >= 0:
        chosen = [s for s in streams if s.index == index]
        if not chosen:
            have = ", ".join(f"#{s.index}" for s in streams) or "none"
            raise VidqaError(f"'{info.path}' has no audio stream #{index} (audio streams: "
                             f"{have}); pick one that `vidqa inspect` lists")
        return chosen[0]
    if not streams:
        return None
    import av

    container = open_local(info.path)
    try:
        defaults = [s.index for s in container.streams.audio
                    if s.disposition & av.stream.Disposition.default]
    finally:
        container.close()
    return next((s for s in streams if s.index in defaults), streams[0])


class AudioReader:
    """Decode one audio stream of `info` to 16 kHz mono float32, streamed."""

    def __init__(self, info: VideoInfo, stream: StreamInfo, *, threads: int = 1):
        self.info, self.stream, self.threads = info, stream, threads
        self.problems = LogProblems()
        self.decoded_s = 0.0  # what has been read so far
        self.damage: AudioDamage | None = None  # known once `samples()` reached the end

    def command(self, *, stop_at_error: bool = False) -> list[str]:
        return command(["-threads", str(self.threads), *(["-xerror"] if stop_at_error else []),
                        *input_args(self.info.path),
                        "-map", f"0:{self.stream.index}", "-vn", "-sn", "-dn",
                        "-af", "aresample=async=1:first_pts=0", "-ac", "1",
                        "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:"])

    def samples(self, block_s: float = 10.0) -> Iterator[np.ndarray]:
        """The decoded audio in blocks of about `block_s` seconds."""
        proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        drain = threading.Thread(target=self._read_log, args=(proc.stderr,), daemon=True)
        drain.start()
        size = int(block_s * SAMPLE_RATE) * 2
        finished, read = False, 0
        try:
            while True:
                data = proc.stdout.read(size)
                if not data:
                    break
                data = data[:len(data) // 2 * 2]
                read += len(data) // 2
                self.decoded_s = read / SAMPLE_RATE
                yield np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
            finished = True
        finally:
            if not finished:  # the reader stopped early (an error, a stopped run)
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
            drain.join(timeout=5)
        if code != 0 and not read:
            raise AudioError(f"cannot decode audio stream #{self.stream.index} of "
                             f"'{self.info.path}' ({self.problems.summary}); pick another "
                             "with --audio-stream, or re-encode the sound with ffmpeg")
        self.damage = self._damage(failed=code != 0)

    def _damage(self, *, failed: bool) -> AudioDamage | None:
        """Where the sound stops decoding, when it stops before its end (None: it does not).
        Complaints in the log (or a failed exit) are placed by decoding again up to the first
        error; sound that just ends early is measured against the stream's stated length."""
        p = self.problems
        complained = failed or bool(p.truncated or p.corrupt or p.other_errors)
        stated = stated_length_s(self.info, self.stream)
        if not complained and (stated is None or self.decoded_s >= stated - LOST_S):
            return None  # the usual case: no second pass
        first_error = self._decodes_until_s() if complained else self.decoded_s
        from_s = min(self.decoded_s, first_error)
        end_s = max(stated or 0.0, first_error, self.decoded_s)
        if from_s >= end_s - LOST_S:
            return None  # a complaint about nothing that is missing (a probed video frame)
        why = p.summary if complained else \
            f"the sound ends there, and the file says it runs to {format_hms(end_s)}"
        return AudioDamage(self.info.path, self.stream.index, round(from_s, 3),
                           round(end_s, 3), why)

    def _decodes_until_s(self) -> float:
        """How much of the stream decodes before ffmpeg's first error (`-xerror`)."""
        proc = subprocess.Popen(self.command(stop_at_error=True), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        read = 0
        try:
            while data := proc.stdout.read(1 << 20):
                read += len(data)
        finally:
            proc.stdout.close()
            proc.wait()
        return read // 2 / SAMPLE_RATE

    def _read_log(self, stream) -> None:
        for raw in stream:
            self.problems.feed(raw.decode("utf-8", "replace").rstrip())

    def windows(self, window_s: float = WINDOW_S) -> Iterator[AudioWindow]:
        """The audio in windows of about `window_s` seconds, each cut at a quiet moment."""
        pending = np.zeros(0, dtype=np.float32)
        start = 0
        full = int(window_s * SAMPLE_RATE)
        for block in self.samples():
            pending = np.concatenate([pending, block])
            while len(pending) >= full + int(SEEK_QUIET_S * SAMPLE_RATE):
                cut = quiet_cut(pending, full)
                yield AudioWindow(start / SAMPLE_RATE, pending[:cut])
                start += cut
                pending = pending[cut:]
        if len(pending):
            yield AudioWindow(start / SAMPLE_RATE, pending)


def stated_length_s(info: VideoInfo, stream: StreamInfo) -> float | None:
    """The length the file states for one stream (its header, or Matroska's DURATION tag);
    None when it states none or does not open."""
    import av

    try:
        with open_local(info.path) as container:
            found = [s for s in container.streams if s.index == stream.index]
            if not found:
                return None
            s = found[0]
            if s.duration is not None and s.time_base is not None:
                return float(s.duration * s.time_base)
            tag = s.metadata.get("DURATION")
            return parse_time(tag) if tag else None
    except (av.error.FFmpegError, ValueError):
        return None


def quiet_cut(samples: np.ndarray, at: int) -> int:
    """Where to end a window near sample `at`: the middle of the quietest QUIET_S stretch in
    the SEEK_QUIET_S before it."""
    step = int(QUIET_S * SAMPLE_RATE)
    lo = max(0, at - int(SEEK_QUIET_S * SAMPLE_RATE))
    frames = samples[lo:at][: (at - lo) // step * step].reshape(-1, step)
    if not len(frames):
        return at
    energy = (frames.astype(np.float64) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * step + step // 2


def audio_length(path) -> float:
    """The length in seconds of the first audio stream of an audio (or video) file; a
    VidqaError names the file when it has no audio or does not open."""
    import av

    from vidqa.media.probe import check_path

    p = check_path(path)
    try:
        with open_local(p) as container:
            streams = container.streams.audio
            if not streams:
                raise VidqaError(f"'{p}' has no audio stream; give a sound file (wav, mp3, "
                                 "opus, m4a) or a video with sound")
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration:
                return container.duration / 1_000_000
    except av.error.FFmpegError:
        raise VidqaError(f"cannot read '{p}': not a sound file ffmpeg can open; convert it "
                         "with ffmpeg (e.g. ffmpeg -i in -ar 16000 out.wav)") from None
    raise VidqaError(f"'{p}' has no length in its header; convert it with ffmpeg "
                     "(e.g. ffmpeg -i in -ar 16000 out.wav)")
