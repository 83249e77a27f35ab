"""The ffmpeg binary and its log: where it lives, how it is called, what its errors mean.

ffmpeg comes with the install: the static build inside `imageio-ffmpeg`. `VIDQA_FFMPEG` (or
imageio-ffmpeg's own `IMAGEIO_FFMPEG_EXE`) points at another binary. Calls follow whisper's
`audio.py`: `-nostdin`, `-hide_banner`, file names as arguments (never through a shell). Every
command line comes from `command`. A run that writes a file goes through `run_ffmpeg`, which
raises one line; the readers that take ffmpeg's output from a pipe as it comes (the frame
decode `vidqa.media.decode.FrameReader`, `vidqa.media.audio.AudioReader`,
`vidqa.media.subtitles.read_stream`) and `first_error` start their own process. Every log is
read one way, by `LogProblems`, so an error holds ffmpeg's most telling message (truncated or
corrupt data first) and the file's name.

A file name is never handed to FFmpeg (the binary or PyAV) as it was given: FFmpeg reads
`http:x.mp4`, `concat:a|b` or `file:x.mp4` as URLs, and `-o.mp4` as an option. Every input is
`local_url(path)`, the `file:` protocol with the absolute path, opened with `INPUT_OPTIONS`
(only the file protocol allowed, also for what the file itself points at, such as a playlist's
entries); every output is `local_url(path)` too.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass, field

from vidqa.errors import VidqaError

GLOBAL_ARGS = ("-nostdin", "-hide_banner", "-nostats")
# Per input: the protocols FFmpeg may use to read it (and anything it refers to).
INPUT_OPTIONS = {"protocol_whitelist": "file"}


def local_url(path: str | os.PathLike) -> str:
    """The local file at `path` as FFmpeg must be given it: `file:` and the absolute path."""
    return "file:" + os.path.abspath(os.fspath(path))


def input_args(path: str | os.PathLike) -> list[str]:
    """`-protocol_whitelist file -i file:/abs/path`: the local file and nothing else."""
    return [*(a for k, v in INPUT_OPTIONS.items() for a in (f"-{k}", v)), "-i", local_url(path)]

# A log line under `-loglevel level+...`: "[context @ 0x..] [error] message" or "[error] message".
_LEVEL = re.compile(r"^(?:\[(?P<ctx>[^\]]*)\]\s*)*\[(?P<level>fatal|error|warning|panic)\]\s*(?P<msg>.*)$")

# Messages that mean the data itself is broken, by the fix they call for.
TRUNCATED = ("partial file", "File ended prematurely", "corrupt input packet",
             "moov atom not found", "stream ends prematurely", "Truncated", "truncated")
CORRUPT = ("Invalid NAL unit", "Error submitting packet", "Decoding error", "corrupt decoded frame",
           "Error splitting the input", "missing picture in access unit", "Invalid data found")
# Muxer-side complaints about our own null/raw output: not a property of the input.
_OUTPUT_NOISE = ("non monotonically increasing dts", "Trailing option")


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary vidqa runs."""
    override = os.environ.get("VIDQA_FFMPEG")
    if override:
        return override
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a dependency of the package
        raise VidqaError("ffmpeg not found: reinstall vidqa (pip install -e .) so that "
                         "imageio-ffmpeg provides it, or set VIDQA_FFMPEG") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise VidqaError(f"ffmpeg not found ({exc}); reinstall imageio-ffmpeg or set "
                         "VIDQA_FFMPEG to an ffmpeg binary") from None


def command(args: list[str], *, loglevel: str = "level+error") -> list[str]:
    """The full ffmpeg command line for `args`: the bundled binary, `-nostdin -hide_banner
    -nostats`, and a log level whose lines carry their level (see `LogProblems`)."""
    return [ffmpeg_exe(), *GLOBAL_ARGS, "-loglevel", loglevel, *args]


def run_ffmpeg(args: list[str], what: str, fix: str, *,
               error: type[VidqaError] = VidqaError) -> None:
    """Run ffmpeg to write a file (`-y`): on failure raise `error` as one line, "`what`: ffmpeg
    failed (its most telling message); `fix`". Every run that writes a file comes here (the
    readers on a pipe start their own: see the module's note)."""
    proc = subprocess.run(command(["-y", *args]), capture_output=True, text=True,
                          errors="replace", check=False)
    if proc.returncode != 0:
        raise error(f"{what}: ffmpeg failed ({log_problems(proc.stderr).summary}); {fix}")


def log_problems(stderr: str) -> LogProblems:
    """What an ffmpeg log says is wrong (the one reading of ffmpeg's errors)."""
    problems = LogProblems()
    for line in stderr.splitlines():
        problems.feed(line)
    return problems


@dataclass
class LogProblems:
    """Warnings and errors ffmpeg printed about one input, sorted by what they mean."""

    truncated: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)

    def feed(self, line: str) -> bool:
        """Take one stderr line; True when it says the input's data is truncated or corrupt."""
        match = _LEVEL.match(line)
        if not match:
            return False
        msg = match.group("msg").strip()
        if not msg or any(noise in msg for noise in _OUTPUT_NOISE):
            return False
        self.tail = (self.tail + [msg])[-8:]
        if any(key in msg for key in TRUNCATED):
            self.truncated.append(msg)
            return True
        if any(key in msg for key in CORRUPT):
            self.corrupt.append(msg)
            return True
        if match.group("level") in ("error", "fatal", "panic"):
            self.other_errors.append(msg)
        return False

    @property
    def summary(self) -> str:
        """The most telling message, for an error line."""
        for group in (self.truncated, self.corrupt, self.other_errors, self.tail):
            if group:
                return group[0].rstrip(".")
        return "no message from ffmpeg"


def first_error(path: str) -> str:
    """ffmpeg's own account of why it cannot open `path` (only called on the error path)."""
    proc = subprocess.run(command(input_args(path)), capture_output=True, text=True,
                          errors="replace", check=False)
    return log_problems(proc.stderr).summary
