"""Scene detection and the key-frame policy, run on the frames `decode` already produced.

The detectors (`vidqa.keyframes.detectors`: PySceneDetect's, TransNetV2) get each sampled frame
with its true presentation time (a `Timecode`-backed `FrameTimecode`), so cuts come back as
stream times. They report every candidate; a candidate stands when it is not a flash (the
sample after it looks like the one before, or the picture returns to the one two samples back)
is the strongest candidate (the largest jump in colour) within the minimum scene length on
either side, so a false cut during motion does not push out the real one just after it; a
candidate whose jump does not stand out of the one before it (a pan, a crowd, a fade) is not
a cut. The
policy keeps:

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

from typing import TYPE_CHECKING

import numpy as np

from vidqa.config import SelectConfig
from vidqa.media.decode import Frame
from vidqa.timecode import Timed

if TYPE_CHECKING:
    from scenedetect import FrameTimecode

POLICY_VERSION = "3"  # bump when the detectors or the key-frame policy change: new cache keys
ANALYSIS_WIDTH = 256  # what PySceneDetect downscales to by default
GRID_W, GRID_H, BLOCK = 16, 9, 4  # change blocks: a 64x36 signature in 16x9 blocks of 4x4
SUDDEN_SAMPLES = 3  # a change must be new against the sample this many steps back (1.5 s at 2 fps)
MOTION_RATIO = 1.5  # a cut's jump must be this many times the jump into the last sample
#                    before it that was no candidate
STILL_SHARE = 0.25  # samples between two close cuts jumping less than this share: a still shot
FLASH_SIMILAR = 0.35  # a cut whose sample after looks like the one before (this share of the jump) is a flash


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
    import cv2  # here, not at the top: reading a cached ingest needs no OpenCV

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
    import cv2

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


def jump(a: Signature, b: Signature) -> float:
    """How far apart two samples are (mean colour difference on the 64x36 grid, 0-255): what
    decides which of two close cuts is the real one, and whether a cut is a flash."""
    return float(np.abs(a.color - b.color).mean())


class KeyframeSelector:
    """Feed frames in time order with `push`, then `finish`.

    `on_keyframe(frame, keyframe)` is called for every kept frame while its pixels are still at
    hand (to save it) and returns the stored image path. Decisions lag the detector by a few
    frames, so a cut the detector reports late still makes its own frame a key frame.
    """

    def __init__(self, config: SelectConfig, fps: float,
                 on_keyframe: Callable[[Frame, Keyframe], str | None] | None = None, *,
                 starts_s: float | None = None):
        """`starts_s`: this selector takes up a part of the video at that time (decoded
        beside the parts before it); the frames before it go through the detector and the
        policy as usual, so that both are in the state a single pass would have them in, but
        none is kept, counted or starts a scene."""
        from vidqa.keyframes.detectors import make_detector, timecode

        self.config = config
        self.fps = fps
        self.on_keyframe = on_keyframe
        self.detector = make_detector(config)
        self._timecode = timecode
        # Frames wait until every cut within the minimum scene length after them is known.
        self.lag = min(16, 3 + math.ceil(config.min_scene_s * fps)) + getattr(
            self.detector, "delay", 0)
        self._pending: deque[tuple[Frame, Signature, float]] = deque()
        self._cuts: dict[int, float] = {}  # candidate cuts not yet decided: micros -> jump
        self._candidates: deque[list] = deque(maxlen=64)  # decided: [pts_s, jump, stood]
        self._steps: deque[tuple[float, float]] = deque(maxlen=64)  # decided: (pts_s, jump)
        self._end_s: float | None = None  # known once `finish` is called
        self._base_step = 0.0  # the jump into the last sample that was no candidate cut
        self._late_cut = False
        self._last_tc: FrameTimecode | None = None
        self._last_sig: Signature | None = None
        self._pushed: Signature | None = None  # the last sample pushed
        self._prev: tuple[float, Signature] | None = None  # the previous sample, kept or not
        self._recent: deque[Signature] = deque(maxlen=SUDDEN_SAMPLES)  # the last few samples
        self._motion = 0.0  # running share of blocks that hold still by chance
        self._last_kept_s = -math.inf
        self._starts_s = starts_s
        self._context = 0  # frames before `starts_s`
        self.scene_starts: list[float] = []
        self.keyframes: list[Keyframe] = []
        self.frames_sampled = 0

    def push(self, frame: Frame) -> None:
        small = analysis_image(frame.bgr)
        tc = self._timecode(frame.pts_s, self.fps)
        self._last_tc = tc
        sig = signature(small)
        step = jump(sig, self._pushed) if self._pushed is not None else 0.0
        self._pushed = sig
        self._pending.append((frame, sig, step))
        self._note_cuts(self.detector.process_frame(tc, small))
        self.frames_sampled += 1
        while len(self._pending) > self.lag:
            self._decide(*self._pending.popleft())

    def _note_cuts(self, cuts: list[FrameTimecode]) -> None:
        pending = {round(f.pts_s * 1_000_000): step for f, _, step in self._pending}
        for cut in cuts:
            micros = round(cut.seconds * 1_000_000)
            if micros in pending or not self._pending:
                self._cuts[micros] = pending.get(micros, 0.0)
            else:
                # Reported after its frame left the buffer: the next decided frame opens it.
                self._late_cut = True

    def _is_cut(self, pts_s: float, micros: int, sig: Signature) -> bool:
        """Whether the candidate cut at this sample stands.

        Not motion or a fade: its jump stands out of the jump into the last sample before it
        that was no candidate. Not a flash: the sample after it looks like the one before, or
        it looks like the one two back (the picture came back). Of candidates closer than the
        minimum scene length (a chain), when the picture moved between them the strongest
        stands (a false cut in motion gives way to the real one after it); when it held still
        between them (a real shot shorter than the minimum), the first that stood stands."""
        step = self._cuts.pop(micros)
        record = [pts_s, step, False]
        self._candidates.append(record)
        if step < MOTION_RATIO * self._base_step:
            return False  # the picture was already changing as much: motion or a fade, not a cut
        before = self._recent[-1] if self._recent else None
        two_back = self._recent[-2] if len(self._recent) >= 2 else None
        after = self._pending[0][1] if self._pending else None
        if before is not None and after is not None and jump(after, before) < FLASH_SIMILAR * step:
            return False
        if two_back is not None and jump(sig, two_back) < FLASH_SIMILAR * step:
            return False
        near = self.config.min_scene_s - 1e-6
        opens_s = (self._prev[0] + pts_s) / 2 if self._prev else pts_s  # where its scene starts
        if self._end_s is not None and self._end_s - opens_s < near:
            return False  # the scene it would open is shorter than the minimum
        later = pts_s
        for t, other, stood in reversed(list(self._candidates)[:-1]):  # [-1]: this one
            if later - t >= near:
                break
            if (stood if self._still_between(t, pts_s, step) else other >= step):
                return False
            later = t
        earlier = pts_s
        for frame, _, other in self._pending:
            if frame.pts_s - earlier >= near:
                break
            if round(frame.pts_s * 1_000_000) in self._cuts:
                if other > step and not self._still_between(pts_s, frame.pts_s, step):
                    return False
                earlier = frame.pts_s
        record[2] = True
        return True

    def _still_between(self, start_s: float, end_s: float, step: float) -> bool:
        """Whether the picture held still between two candidate cuts: every sample strictly
        between them jumped less than STILL_SHARE of `step` (none between: it did not)."""
        between = [s for t, s in self._steps if start_s < t < end_s] + \
            [s for f, _, s in self._pending if start_s < f.pts_s < end_s]
        return bool(between) and max(between) < STILL_SHARE * step

    def _decide(self, frame: Frame, sig: Signature, step: float) -> None:
        cfg = self.config
        micros = max(0, round(frame.pts_s * 1_000_000))
        context = self._starts_s is not None and frame.pts_s < self._starts_s - 1e-6
        if context:
            self._context += 1
        candidate = micros in self._cuts
        is_cut = (candidate and self._is_cut(frame.pts_s, micros, sig)) or self._late_cut
        if not candidate:
            self._base_step = step
        self._steps.append((frame.pts_s, step))
        prev, self._prev = self._prev, (frame.pts_s, sig)
        recent = self._recent[0] if self._recent else sig
        before_prev = self._recent[-2] if len(self._recent) >= 2 else None
        self._recent.append(sig)
        if self._last_sig is None:
            reason, change = "scene", 1.0
            if not context:
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
                if not context:
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
        if context:  # the policy's state as the one pass would have it, nothing kept
            self._last_sig, self._last_kept_s = sig, frame.pts_s
            return
        keyframe = Keyframe(pts_s=frame.pts_s, scene_index=len(self.scene_starts) - 1,
                            reason=reason, change=round(change, 4),
                            frame_index=frame.index - self._context)
        if self.on_keyframe is not None:
            keyframe = Keyframe(**{**keyframe.to_dict(), "image": self.on_keyframe(frame, keyframe)})
        self.keyframes.append(keyframe)
        self._last_sig = sig
        self._last_kept_s = frame.pts_s

    def finish(self, end_s: float, *, last: bool = True) -> Selection:
        """Flush the buffered frames; `end_s` is where the video (`last`), or this part of it,
        ends."""
        self._end_s = end_s if last else None
        if self._last_tc is not None:
            self._note_cuts(self.detector.post_process(self._last_tc))
        while self._pending:
            self._decide(*self._pending.popleft())
        starts = self.scene_starts
        end_s = max([end_s, *starts]) if starts else end_s
        scenes = [Scene(i, start, starts[i + 1] if i + 1 < len(starts) else end_s)
                  for i, start in enumerate(starts)]
        return Selection(scenes=scenes, keyframes=self.keyframes,
                         frames_sampled=self.frames_sampled - self._context)


def select_keyframes(frames, config: SelectConfig, fps: float, end_s: float,
                     on_keyframe: Callable[[Frame, Keyframe], str | None] | None = None
                     ) -> Selection:
    """Run the detector and the policy over an iterable of frames."""
    selector = KeyframeSelector(config, fps, on_keyframe)
    for frame in frames:
        selector.push(frame)
    return selector.finish(end_s)
