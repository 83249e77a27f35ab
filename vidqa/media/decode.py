"""One streaming ffmpeg pass: frames at `fps`, scaled to model size, each with its stream time.

ffmpeg keeps, for every 1/fps-second slot, the first decoded frame that falls in it
(`select`), so each frame keeps the presentation time the stream gave it: on variable frame
rate, dropped frames and B-frame streams alike, nothing is recomputed as `index / fps`.
The times come from `showinfo` on stderr, the pixels as raw BGR on stdout; memory holds one
frame at a time however long the video is.

With `fast` on, the decoder skips non-reference frames and the loop filter: at 2 fps almost
every decoded frame is thrown away, so not decoding the droppable ones halves the work on
B-frame streams. A kept frame is still a real frame at its real time.
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import ffmpeg
import numpy as np

from vidqa.config import DecodeConfig
from vidqa.paths import cores
from vidqa.errors import DecodeError
from vidqa.media.ffmpeg import INPUT_OPTIONS, LogProblems, command, ffmpeg_exe, local_url
from vidqa.media.probe import VideoInfo
from vidqa.keyframes.tokens import smart_resize

_SHOWINFO = re.compile(r"\[Parsed_showinfo_\d+ @ [^\]]*\]\s*(?:\[info\]\s*)?n:\s*\d+\s+pts:\s*(-?\d+)")
_TIMEBASE = re.compile(r"\[Parsed_showinfo_\d+ @ [^\]]*\]\s*(?:\[info\]\s*)?config in time_base:\s*(\d+)/(\d+)")
_ROTATE = {90: [("transpose", "clock")], 180: [("hflip", None), ("vflip", None)],
           270: [("transpose", "cclock")]}


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its position in the sample, its absolute time, its pixels."""

    index: int
    pts_s: float
    bgr: np.ndarray  # height x width x 3, uint8, OpenCV channel order


def frame_size(info: VideoInfo, config: DecodeConfig) -> tuple[int, int]:
    """(width, height) of model frames: the displayed picture, Qwen3-VL-rounded."""
    h, w = smart_resize(info.display_height, info.display_width,
                        min_pixels=config.frame_min_pixels, max_pixels=config.frame_max_pixels)
    return w, h


def decode_threads(config: DecodeConfig) -> int:
    """ffmpeg's decoder threads: all cores but one, which the key-frame analysis needs (on 2 cores
    one decoder thread beats two by 15%: see BENCHMARKS.md), at most 8."""
    return config.threads or max(1, min(cores() - 1, 8))


def build_command(info: VideoInfo, config: DecodeConfig,
                  window: tuple[float, float] | None = None) -> list[str]:
    """The ffmpeg command line (a list; never through a shell). `window` = (start_s, end_s)
    decodes only that stretch (an accurate seek; times stay absolute, see FrameReader)."""
    width, height = frame_size(info, config)
    input_args: dict = {"noautorotate": None, "threads": decode_threads(config), **INPUT_OPTIONS}
    if config.fast:
        input_args.update(skip_frame="noref", skip_loop_filter="all")
    if window is not None:
        input_args.update(ss=f"{max(0.0, window[0]):.6f}", t=f"{window[1] - window[0]:.6f}")
    # The local file only: a name starting with '-' is never read as an option, nor 'a:b' as a
    # protocol (see vidqa.media.ffmpeg).
    stream = ffmpeg.input(local_url(info.path), **input_args)[str(info.stream_index)]
    fps = repr(float(config.fps))
    stream = stream.filter(
        "select", f"isnan(prev_selected_t)+gte(floor(t*{fps})-floor(prev_selected_t*{fps}),1)")
    # Scale before rotating (only the kept frames pay for it); rotate as a player would.
    rotated = info.rotation_deg in (90, 270)
    stream = stream.filter("scale", height if rotated else width, width if rotated else height,
                           flags="area")
    for name, arg in _ROTATE.get(info.rotation_deg, []):
        stream = stream.filter(name, arg) if arg else stream.filter(name)
    stream = stream.filter("setsar", 1).filter("showinfo", checksum=0)
    out = stream.output("pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="passthrough")
    return command(out.compile(cmd=ffmpeg_exe())[1:], loglevel="level+info")


class FrameReader:
    """Iterate a video's sampled frames from one ffmpeg process.

    After iteration, `problems` holds what ffmpeg reported. Truncated or corrupt data raises
    DecodeError at the end, unless `allow_errors` is set, in which case the frames that did
    decode are kept and `problems` says what was lost.
    """

    def __init__(self, info: VideoInfo, config: DecodeConfig, *, allow_errors: bool = False,
                 window: tuple[float, float] | None = None):
        self.info = info
        self.config = config
        self.allow_errors = allow_errors
        self.window = window
        # ffmpeg counts output time from the seek point: add it back to stay absolute.
        self.offset_s = max(0.0, window[0]) if window else 0.0
        self.width, self.height = frame_size(info, config)
        self.problems = LogProblems()
        self.frames_read = 0
        self.last_pts_s: float | None = None
        self.first_problem_s: float | None = None  # time of the last frame before the damage

    def _pump_stderr(self, stream, pts_queue: queue.Queue) -> None:
        time_base, last = None, None
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            match = _SHOWINFO.match(line)
            if match:
                last = int(match.group(1)) * time_base
                pts_queue.put(last)
                continue
            match = _TIMEBASE.match(line)
            if match:
                time_base = Fraction(int(match.group(1)), int(match.group(2)))
                continue
            if self.problems.feed(line) and self.first_problem_s is None:
                self.first_problem_s = float(last) if last is not None else 0.0
        pts_queue.put(None)

    def __iter__(self) -> Iterator[Frame]:
        command = build_command(self.info, self.config, self.window)
        frame_bytes = self.width * self.height * 3
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=frame_bytes)
        pts_queue: queue.Queue = queue.Queue()
        pump = threading.Thread(target=self._pump_stderr, args=(proc.stderr, pts_queue),
                                daemon=True)
        pump.start()
        try:
            while True:
                data = proc.stdout.read(frame_bytes)
                if not data:
                    break
                if len(data) != frame_bytes:
                    raise DecodeError(f"cannot decode '{self.info.path}': ffmpeg sent a partial "
                                      f"frame after {self.last_pts_s or 0:.3f} s; "
                                      "re-run, or re-encode the file with ffmpeg")
                pts = pts_queue.get()
                if pts is None:
                    raise DecodeError(f"cannot decode '{self.info.path}': ffmpeg gave a frame "
                                      "without a timestamp; report this with the file")
                # From a seek to a whole second (the parts of a parallel ingest): exactly the
                # float a pass from the start gives; elsewhere ffmpeg's own rounding of the seek
                # point is cut off at the microsecond.
                pts_s = float(pts) if not self.offset_s else \
                    float(pts + int(self.offset_s)) if self.offset_s.is_integer() else \
                    round(float(pts) + self.offset_s, 6)
                frame = np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)
                self.last_pts_s = pts_s
                yield Frame(self.frames_read, pts_s, frame)
                self.frames_read += 1
            returncode = proc.wait()
            pump.join()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            pump.join(timeout=5)
            proc.stderr.close()
        self._check(returncode)

    def problem(self, returncode: int = 0) -> str | None:
        """What went wrong in the pass, as a one-line error message; None when nothing did."""
        path, problems = self.info.path, self.problems
        at = self.first_problem_s if self.first_problem_s is not None else self.last_pts_s
        where = f"after {at:.1f} s" if at else "at the start"
        keep = f"or pass --allow-errors to keep the {self.frames_read} frames that decode"
        if problems.truncated:
            return (f"cannot decode '{path}': the file is truncated, data ends {where} "
                    f"({problems.summary}); copy the complete file again, {keep}")
        if problems.corrupt:
            return (f"cannot decode '{path}': corrupt video data {where} ({problems.summary}); "
                    f"re-encode it with ffmpeg, {keep}")
        if returncode != 0:
            return (f"cannot decode '{path}': ffmpeg stopped {where} with status {returncode} "
                    f"({problems.summary}); check that the file plays, {keep}")
        return None

    def _check(self, returncode: int) -> None:
        message = self.problem(returncode)
        if message and (not self.allow_errors or not self.frames_read):
            raise DecodeError(message)


def iter_frames(info: VideoInfo, config: DecodeConfig | None = None, *,
                allow_errors: bool = False) -> Iterator[Frame]:
    """Sampled frames of a probed video, in time order."""
    yield from FrameReader(info, config or DecodeConfig(), allow_errors=allow_errors)


def frame_at(info: VideoInfo, config: DecodeConfig, time_s: float, *,
             within_s: float = 1.0) -> Frame | None:
    """The first frame shown at or after `time_s` (within `within_s`), at the decode's picture
    size, with its own stream time (its PTS, not the time asked); None when none decodes
    there. The decode stops (ffmpeg ends) once it is read."""
    import dataclasses

    frames = iter(FrameReader(info, dataclasses.replace(config, fps=8.0),
                              window=(time_s, time_s + within_s), allow_errors=True))
    try:
        return next(frames, None)
    finally:
        frames.close()
