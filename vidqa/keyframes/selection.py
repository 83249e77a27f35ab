"""Scene detection and the key-frame policy, run on the frames `decode` already produced.

PySceneDetect detectors get each sampled frame with its true presentation time (a
`Timecode`-backed `FrameTimecode`), so cuts come back as stream times, and minimum scene length
is in seconds. The policy keeps:

- the first frame of every scene (`reason="scene"`);
- a frame whose picture departs from the last kept one, arrived within the last 1.5 s and holds
  still (`reason="change"`): enough 16x9 blocks differ from the last key frame and from the
  sample three steps back, *and* stayed the same over the last two sample steps, at least
  `min_gap_s` after the last key frame. Blocks are compared on edge strength (text, objects,
  slides) and on colour only for large changes. In a busy shot (a pan, a crowd, an animation)
  some blocks hold still by chance; the change must also cover `motion_factor` times the running
  share of such blocks. So continuous motion and slow drift do not fill the budget, while a
  caption, a slide change or an object that appears for 2 s (four samples at 2 fps) still
  qualifies, over a static picture and over most moving ones;
- a frame after `max_gap_s` without one, when the picture changed at all (`reason="interval"`);

and never a near-duplicate of the last key frame. The return to the old picture after an event
is a change too, so an event inside a long static scene gets its own key frame.

`policy="uniform"` keeps every sampled frame instead (scenes are still detected, for
chunking): the baseline that `vidqa eval needle` measures the policy against.

A cut lies between the last sample before it and the first after it; a scene's `start_s` is
the midpoint of that gap (error at most half a sample interval), and its first key frame is the
first sample after the cut.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction

import cv2
import numpy as np
from scenedetect import (AdaptiveDetector, ContentDetector, FrameTimecode, HashDetector,
                         HistogramDetector, SceneDetector)
from scenedetect.common import Timecode

from vidqa.config import SelectConfig
from vidqa.media.decode import Frame
from vidqa.timecode import Timed

POLICY_VERSION = "2"  # bump when the detectors or the key-frame policy change: new cache keys
ANALYSIS_WIDTH = 256  # what PySceneDetect downscales to by default
GRID_W, GRID_H, BLOCK = 16, 9, 4  # change blocks: a 64x36 signature in 16x9 blocks of 4x4
SUDDEN_SAMPLES = 3  # a change must be new against the sample this many steps back (1.5 s at 2 fps)
_MICRO = Fraction(1, 1_000_000)


# Thresholds for 2 fps samples. PySceneDetect's own defaults are tuned for every frame; at 2 fps
# half a second of motion separates two samples, so ContentDetector (with its edge term on) needs
# 44 where it uses 27. Tuned on the labelled real footage in ../shared/media (news, bikes,
# goldeneye: no false cut, 12 of 14 cuts; see BENCHMARKS.md).
DEFAULT_THRESHOLDS = {"content": 44.0, "adaptive": 3.0, "histogram": 0.20, "hash": 0.35,
                      "content+adaptive": 44.0}


def _threshold(cfg: SelectConfig) -> float:
    return cfg.threshold if cfg.threshold > 0 else DEFAULT_THRESHOLDS[cfg.detector]


class UnionDetector(SceneDetector):
    """Cuts any of several detectors finds, each once (PySceneDetect's detector protocol).

    ContentDetector's absolute threshold misses soft cuts between calm shots (a slide to a
    smooth gradient scores 37 against 44); AdaptiveDetector compares each score with its
    neighbours and catches them, but misses cuts between busy shots. Together they cover both.
    """

    def __init__(self, detectors: list[SceneDetector], min_scene_s: float):
        super().__init__()
        self.detectors = detectors
        self.min_scene_s = min_scene_s
        self._emitted: list[float] = []

    def _merge(self, cuts: list[FrameTimecode]) -> list[FrameTimecode]:
        out = []
        for cut in sorted(cuts, key=lambda c: c.seconds):
            if all(abs(cut.seconds - t) >= max(self.min_scene_s, 1e-6) for t in self._emitted):
                self._emitted.append(cut.seconds)
                out.append(cut)
        return out

    def process_frame(self, timecode: FrameTimecode, frame_img: np.ndarray) -> list[FrameTimecode]:
        return self._merge([c for d in self.detectors for c in d.process_frame(timecode, frame_img)])

    def post_process(self, timecode: FrameTimecode) -> list[FrameTimecode]:
        return self._merge([c for d in self.detectors for c in d.post_process(timecode)])

    @property
    def event_buffer_length(self) -> int:
        return max(d.event_buffer_length for d in self.detectors)


class _SharedScoreAdaptive(AdaptiveDetector):
    """AdaptiveDetector fed the frame score its partner ContentDetector has just computed for the
    same frame, so the union pays for one HSV/edge pass instead of two."""

    def __init__(self, source: ContentDetector, **kwargs):
        super().__init__(**kwargs)
        self._source = source

    def _calculate_frame_score(self, timecode: FrameTimecode, frame_img: np.ndarray) -> float:
        return self._source._frame_score


def _content_adaptive(cfg: SelectConfig) -> UnionDetector:
    content = DETECTORS["content"](cfg)
    adaptive = _SharedScoreAdaptive(content, adaptive_threshold=DEFAULT_THRESHOLDS["adaptive"],
                                    min_scene_len=float(cfg.min_scene_s))
    return UnionDetector([content, adaptive], float(cfg.min_scene_s))


# The registry: name -> factory. Each detector sees BGR frames at ANALYSIS_WIDTH.
DETECTORS: dict[str, Callable[[SelectConfig], SceneDetector]] = {
    "content": lambda cfg: ContentDetector(
        threshold=_threshold(cfg), min_scene_len=float(cfg.min_scene_s),
        weights=ContentDetector.Components(1.0, 1.0, 1.0, 1.0)),
    "adaptive": lambda cfg: AdaptiveDetector(
        adaptive_threshold=_threshold(cfg), min_scene_len=float(cfg.min_scene_s)),
    "histogram": lambda cfg: HistogramDetector(
        threshold=_threshold(cfg), min_scene_len=float(cfg.min_scene_s)),
    "hash": lambda cfg: HashDetector(threshold=_threshold(cfg), min_scene_len=float(cfg.min_scene_s)),
    "content+adaptive": _content_adaptive,
}


@dataclass(frozen=True)
class Scene(Timed):
    """A shot: half-open [start_s, end_s) in absolute seconds."""

    index: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Keyframe:
    """A kept frame: its absolute time, its scene, why it was kept, and where its JPEG is."""

    pts_s: float
    scene_index: int
    reason: str  # scene, change, interval (uniform: every sample under that policy)
    change: float  # fraction of blocks changed against the previous key frame (1.0 for the first)
    frame_index: int  # position among the sampled frames
    image: str | None = None  # JPEG path relative to the work directory

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Selection:
    scenes: list[Scene]
    keyframes: list[Keyframe]
    frames_sampled: int


def analysis_image(bgr: np.ndarray) -> np.ndarray:
    """The frame at PySceneDetect's default analysis width (256 px), bilinear as its own
    SceneManager downscales (0.2 ms for a 640 px frame; area averaging would take 0.9 ms)."""
    height, width = bgr.shape[:2]
    if width <= ANALYSIS_WIDTH:
        return bgr
    new_h = max(1, round(height * ANALYSIS_WIDTH / width))
    return cv2.resize(bgr, (ANALYSIS_WIDTH, new_h), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Signature:
    """What the policy compares: edge strength and colour on a 64x36 grid (16x9 blocks of 4x4).

    Edges carry what a person notices (text, objects, a new slide) and ignore slow colour drift
    and sensor noise; colour catches large flat changes edges miss.
    """

    edges: np.ndarray  # float32, 36 x 64
    color: np.ndarray  # float32, 36 x 64 x 3


def signature(small_bgr: np.ndarray) -> Signature:
    gray = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    strength = (np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
                + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)))
    size = (GRID_W * BLOCK, GRID_H * BLOCK)
    return Signature(cv2.resize(strength, size, interpolation=cv2.INTER_AREA),
                     cv2.resize(small_bgr, size, interpolation=cv2.INTER_AREA).astype(np.float32))


def _blocks(diff: np.ndarray) -> np.ndarray:
    return diff.reshape(GRID_H, BLOCK, GRID_W, BLOCK).mean(axis=(1, 3))


def block_diffs(a: Signature, b: Signature) -> tuple[np.ndarray, np.ndarray]:
    """Per-block mean differences of edge strength and of colour (0-255), each 9 x 16."""
    return _blocks(np.abs(a.edges - b.edges)), _blocks(np.abs(a.color - b.color).mean(axis=2))


def block_changes(a: Signature, b: Signature, edge_level: float, color_level: float) -> np.ndarray:
    """Which of the 16x9 blocks differ: in edge strength above `edge_level`, or in mean colour
    above `color_level` (0-255)."""
    edges, color = block_diffs(a, b)
    return (edges > edge_level) | (color > color_level)


def _timecode(pts_s: float, fps: float) -> FrameTimecode:
    micros = max(0, round(pts_s * 1_000_000))
    return FrameTimecode(Timecode(pts=micros, time_base=_MICRO), fps=Fraction(fps).limit_denominator(1001))


class KeyframeSelector:
    """Feed frames in time order with `push`, then `finish`.

    `on_keyframe(frame, keyframe)` is called for every kept frame while its pixels are still at
    hand (to save it) and returns the stored image path. Decisions lag the detector by a few
    frames, so a cut the detector reports late still makes its own frame a key frame.
    """

    def __init__(self, config: SelectConfig, fps: float,
                 on_keyframe: Callable[[Frame, Keyframe], str | None] | None = None):
        self.config = config
        self.fps = fps
        self.on_keyframe = on_keyframe
        self.detector = DETECTORS[config.detector](config)
        self.lag = min(16, 3 + math.ceil(config.min_scene_s * fps))
        self._pending: deque[tuple[Frame, Signature]] = deque()
        self._cut_micros: set[int] = set()
        self._late_cut = False
        self._last_tc: FrameTimecode | None = None
        self._last_sig: Signature | None = None
        self._prev: tuple[float, Signature] | None = None  # the previous sample, kept or not
        self._recent: deque[Signature] = deque(maxlen=SUDDEN_SAMPLES)  # the last few samples
        self._motion = 0.0  # running share of blocks that hold still by chance
        self._last_kept_s = -math.inf
        self.scene_starts: list[float] = []
        self.keyframes: list[Keyframe] = []
        self.frames_sampled = 0

    def push(self, frame: Frame) -> None:
        small = analysis_image(frame.bgr)
        tc = _timecode(frame.pts_s, self.fps)
        self._last_tc = tc
        self._pending.append((frame, signature(small)))
        self._note_cuts(self.detector.process_frame(tc, small))
        self.frames_sampled += 1
        while len(self._pending) > self.lag:
            self._decide(*self._pending.popleft())

    def _note_cuts(self, cuts: list[FrameTimecode]) -> None:
        pending_micros = {round(f.pts_s * 1_000_000) for f, _ in self._pending}
        for cut in cuts:
            micros = round(cut.seconds * 1_000_000)
            if micros in pending_micros or not self._pending:
                self._cut_micros.add(micros)
            else:
                # Reported after its frame left the buffer: the next decided frame opens it.
                self._late_cut = True

    def _decide(self, frame: Frame, sig: Signature) -> None:
        cfg = self.config
        micros = max(0, round(frame.pts_s * 1_000_000))
        is_cut = micros in self._cut_micros or self._late_cut
        prev, self._prev = self._prev, (frame.pts_s, sig)
        recent = self._recent[0] if self._recent else sig
        before_prev = self._recent[-2] if len(self._recent) >= 2 else None
        self._recent.append(sig)
        if self._last_sig is None:
            reason, change = "scene", 1.0
            self.scene_starts.append(frame.pts_s)
        else:
            levels = (cfg.change_level, cfg.color_level)
            changed = block_changes(sig, self._last_sig, *levels)
            moving = block_changes(sig, prev[1], *levels)
            sudden = block_changes(sig, recent, *levels)
            if before_prev is not None:  # still over two steps: not a block still by chance
                moving |= block_changes(prev[1], before_prev, *levels)
            change = float(changed.mean())
            # New picture: differs from the last key frame, held still over the last two steps,
            # and arrived within the last few samples (slow drift never does).
            held = float((changed & ~moving & sudden).mean())
            # In a busy shot (a pan, a crowd, an animation) some blocks hold by chance (a place
            # something just left); a change must stand out of that running rate.
            needed = max(cfg.change_area, cfg.motion_factor * self._motion)
            self._motion = 0.7 * self._motion + 0.3 * held
            since = frame.pts_s - self._last_kept_s
            if is_cut:
                self._late_cut = False
                self._cut_micros.discard(micros)
                self.scene_starts.append((prev[0] + frame.pts_s) / 2)
                self._motion = 0.0
            if cfg.policy == "uniform":
                reason = "scene" if is_cut else "uniform"
            elif change <= cfg.duplicate_area:
                reason = None
            elif is_cut:
                reason = "scene"
            elif held >= needed and since >= cfg.min_gap_s:
                reason = "change"
            elif since >= cfg.max_gap_s:
                reason = "interval"
            else:
                reason = None
        if reason is None:
            return
        keyframe = Keyframe(pts_s=frame.pts_s, scene_index=len(self.scene_starts) - 1,
                            reason=reason, change=round(change, 4), frame_index=frame.index)
        if self.on_keyframe is not None:
            keyframe = Keyframe(**{**keyframe.to_dict(), "image": self.on_keyframe(frame, keyframe)})
        self.keyframes.append(keyframe)
        self._last_sig = sig
        self._last_kept_s = frame.pts_s

    def finish(self, end_s: float) -> Selection:
        """Flush the buffered frames; `end_s` is where the video ends."""
        if self._last_tc is not None:
            self._note_cuts(self.detector.post_process(self._last_tc))
        while self._pending:
            self._decide(*self._pending.popleft())
        starts = self.scene_starts
        end_s = max([end_s, *starts]) if starts else end_s
        scenes = [Scene(i, start, starts[i + 1] if i + 1 < len(starts) else end_s)
                  for i, start in enumerate(starts)]
        return Selection(scenes=scenes, keyframes=self.keyframes,
                         frames_sampled=self.frames_sampled)


def select_keyframes(frames, config: SelectConfig, fps: float, end_s: float,
                     on_keyframe: Callable[[Frame, Keyframe], str | None] | None = None
                     ) -> Selection:
    """Run the detector and the policy over an iterable of frames."""
    selector = KeyframeSelector(config, fps, on_keyframe)
    for frame in frames:
        selector.push(frame)
    return selector.finish(end_s)
