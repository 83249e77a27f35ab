"""Find a picture: where a photo, a screenshot, a crop of a frame or a logo is shown in a video.

Reverse video search needs no model. Each key frame keeps up to `FRAME_FEATURES` ORB features
(FAST corners with rotated BRIEF descriptors of 32 bytes, OpenCV), described when the video is
indexed: a few milliseconds a 640x352 key frame (`describe_frames`, the `pictures` track). A
picture asked for is described the same way at the key frames' scale; each of its features
votes for the key frames that hold features within `MAX_HAMMING` bits of it (FAISS over every
key frame's binary descriptors when installed, else OpenCV's brute-force matcher), and the
`SHORTLIST` key frames with the most votes are checked geometrically: the picture's features
must land on the frame's through one homography (RANSAC) with at least `MIN_INLIERS` of them.
That is what survives rescaling, recompression, letterboxing, a crop, a photo of a screen at an
angle and colour shifts, and what a picture the video does not show fails: it gives no hit,
not the nearest frame.

A hit is a showing: the key frames in a row that show the picture (the neighbours of each
verified key frame are checked too), pinned to the first sampled frame that shows it: the
frames sampled before its first key frame, back to the key frame before, are decoded and
checked the same way (`pin_showing`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vidqa.errors import VidqaError
from vidqa.media.images import picture_header
from vidqa.store import atomic_open, atomic_write_text, write_error
from vidqa.tracks.base import keyframes_digest

if TYPE_CHECKING:
    import numpy as np

    from vidqa.keyframes.ingest import IngestResult

VERSION = "1"
FRAME_FEATURES = 1000  # ORB features kept per key frame (32 bytes each, and their points)
QUERY_SIDE = 640  # the picture is described with its longer side this long (the key
# frames'), and half as long: (longer side, features) of each
QUERY_SCALES = ((QUERY_SIDE, 1000), (QUERY_SIDE // 2, 500))
VOTE_FEATURES = 400  # the strongest features of each key frame that take votes ...
QUERY_VOTERS = (300, 300)  # ... from the strongest of the picture's, at each scale
MAX_HAMMING = 64  # a feature votes for key frames holding one within this many bits (of 256)
NEIGHBOURS = 8  # nearest key-frame features looked at per feature of the picture
SHORTLIST = 12  # key frames with the most votes checked geometrically
MIN_VOTES = 6  # fewer votes than this: not checked
RATIO = 0.8  # Lowe's ratio test when a picture is matched with one frame
MIN_INLIERS = 20  # features through one homography for a frame to show the picture, ...
MIN_SHARE = 0.5  # ... and this share of the matches that passed the ratio test, ...
SURE_INLIERS = 60  # ... unless there are this many
SCALE_RANGE = (0.03, 30.0)  # the area the homography gives the picture, as a factor: a
# match that squeezes it to a line or flips it is chance (measured: pictures from other
# videos land at factors under 0.02)
REPROJECTION_PX = 5.0  # RANSAC's tolerance, in key-frame pixels
RANSAC_ITERATIONS = 1000  # enough for 1 in 2 matches right (the least that passes, below
# SURE_INLIERS) at 99.5%; a frame that does not show the picture costs no more than this
PIN_FIRST_S = 2.0  # sampled frames before a showing are decoded this far back first (a key
# frame of a change comes within 1.5 s of it), then four times as far each time
STANDOUT_VOTES = 60  # a key frame whose votes stand out (at least this many, and STANDOUT
STANDOUT = 8.0  # times the median key frame's) while no key frame shows the picture: the
BETWEEN_CANDIDATES = 2  # frames sampled after it (of this many) are checked
MAX_PICTURE_PIXELS = 50_000_000  # larger pictures are refused (a decompression bomb)


@dataclass
class Picture:
    """A picture asked for: its bytes and a name to show ("slide.jpg", "pasted picture")."""

    data: bytes
    name: str = "picture"
    _described: tuple | None = field(default=None, init=False, repr=False)
    _voters: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> Picture:
        path = Path(path)
        try:
            return cls(path.read_bytes(), str(path))
        except IsADirectoryError:
            raise VidqaError(f"cannot read the picture '{path}': it is a folder; give an image "
                             "file (PNG, JPEG, WebP, BMP)") from None
        except OSError as exc:
            raise VidqaError(f"cannot read the picture '{path}': {exc.strerror or exc}; give "
                             "an image file (PNG, JPEG, WebP, BMP)") from None

    def image(self) -> np.ndarray:
        """The picture as BGR pixels; a one-line error for what does not decode as an
        image, or is too large."""
        import cv2
        import numpy as np

        head = picture_header(self.data)
        if head is not None and head[1] * head[2] > MAX_PICTURE_PIXELS:
            raise VidqaError(f"the picture '{self.name}' is {head[1]}x{head[2]} pixels, over "
                             f"{MAX_PICTURE_PIXELS // 1_000_000} million; scale it down")
        image = cv2.imdecode(np.frombuffer(self.data, np.uint8), cv2.IMREAD_COLOR) \
            if self.data else None
        if image is None or image.size == 0:
            raise VidqaError(f"cannot read the picture '{self.name}': not an image OpenCV "
                             "decodes; give a PNG, JPEG, WebP or BMP file")
        return image

    def voters(self) -> np.ndarray:
        """The descriptors of the picture's strongest features, which vote for key frames."""
        self.described()
        return self._voters

    def described(self) -> tuple[np.ndarray, np.ndarray]:
        """(points, descriptors) of the picture at the key frames' scale, made once."""
        if self._described is None:
            import cv2
            import numpy as np

            image = self.image()
            height, width = image.shape[:2]
            points, descriptors, voters = [], [], []
            for (side, count), voting in zip(QUERY_SCALES, QUERY_VOTERS):
                # the picture at the key frames' scale, and at half of it (a crop shows bigger
                # than in the key frame)
                scale = side / max(height, width)
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                found = describe(cv2.resize(image, size, interpolation=cv2.INTER_AREA
                                            if scale < 1 else cv2.INTER_CUBIC), count)
                points.append(found[0] * (QUERY_SIDE / side))
                descriptors.append(found[1])
                voters.append(found[1][:voting])
            self._described = (np.concatenate(points), np.concatenate(descriptors))
            self._voters = np.concatenate(voters)
        return self._described


_orbs: dict[int, object] = {}


def describe(image: np.ndarray, features: int = FRAME_FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """(points (n, 2) float32, descriptors (n, 32) uint8) of an image's ORB features, the
    strongest first."""
    import cv2
    import numpy as np

    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    orb = _orbs.get(features)
    if orb is None:
        orb = _orbs[features] = cv2.ORB_create(nfeatures=features)
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    order = np.argsort([-k.response for k in keypoints], kind="stable")
    return np.array([k.pt for k in keypoints], np.float32)[order], descriptors[order]


@dataclass
class FrameFeatures:
    """Every key frame's features, in key-frame order: frame i owns rows
    offsets[i]:offsets[i + 1] of `points` and `descriptors`."""

    times_s: np.ndarray  # (k,) each key frame's pts_s
    offsets: np.ndarray  # (k + 1,)
    points: np.ndarray  # (m, 2) float32
    descriptors: np.ndarray  # (m, 32) uint8
    _index: object = field(default=None, init=False, repr=False)

    def frame(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.points[start:end], self.descriptors[start:end]

    def __len__(self) -> int:
        return len(self.times_s)

    def votes(self, descriptors: np.ndarray) -> np.ndarray:
        """(k,) how many of `descriptors` have one of each key frame's VOTE_FEATURES strongest
        features within MAX_HAMMING bits, among their NEIGHBOURS nearest."""
        import numpy as np

        votes = np.zeros(len(self), np.int64)
        if self._index is None:
            self._index = _VoteIndex(self)
        if not len(descriptors) or not len(self._index.frames):
            return votes
        distances, rows = self._index.search(descriptors, min(NEIGHBOURS,
                                                              len(self._index.frames)))
        near = (rows >= 0) & (distances <= MAX_HAMMING)
        frames = self._index.frames[np.where(near, rows, 0)]
        pairs = np.unique(np.stack([np.repeat(np.arange(len(descriptors)), rows.shape[1])
                                    [near.ravel()], frames.ravel()[near.ravel()]]), axis=1)
        np.add.at(votes, pairs[1], 1)
        return votes


class _VoteIndex:
    """The strongest features of every key frame in one nearest-neighbour index (FAISS's
    binary flat index on one thread when installed: two threads on two busy cores took four
    times as long; else OpenCV's brute-force matcher)."""

    def __init__(self, features: FrameFeatures):
        import numpy as np

        starts = features.offsets[:-1]
        counts = np.minimum(np.diff(features.offsets), VOTE_FEATURES)
        rows = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts)]) \
            if len(starts) else np.zeros(0, np.int64)
        self.frames = np.repeat(np.arange(len(starts)), counts)
        self.descriptors = np.ascontiguousarray(features.descriptors[rows])
        try:
            import faiss
        except ImportError:
            self.faiss = None
        else:
            self.faiss = faiss.IndexBinaryFlat(self.descriptors.shape[1] * 8)
            self.faiss.add(self.descriptors)

    def search(self, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        if self.faiss is not None:
            import faiss

            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                return self.faiss.search(np.ascontiguousarray(descriptors), k)
            finally:
                faiss.omp_set_num_threads(before)
        import cv2

        distances = np.full((len(descriptors), 0), 1 << 30, np.int64)
        rows = np.full((len(descriptors), 0), -1, np.int64)
        step = 1 << 17  # OpenCV's matcher takes fewer than 2**18 rows at once
        for start in range(0, len(self.descriptors), step):
            part = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(
                descriptors, self.descriptors[start:start + step], k=k)
            found_d = np.full((len(descriptors), k), 1 << 30, np.int64)
            found_r = np.full((len(descriptors), k), -1, np.int64)
            for i, found in enumerate(part):
                for j, m in enumerate(found):
                    found_d[i, j], found_r[i, j] = m.distance, start + m.trainIdx
            distances = np.concatenate([distances, found_d], axis=1)
            rows = np.concatenate([rows, found_r], axis=1)
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(distances, order, 1), np.take_along_axis(rows, order, 1)


def verify(picture: tuple[np.ndarray, np.ndarray], frame: tuple[np.ndarray, np.ndarray],
           frame_size: tuple[int, int]) -> int:
    """How many of the picture's features land on the frame's through one homography (0 when
    fewer than MIN_INLIERS could, or the homography folds or shrinks the picture to nothing).
    `frame_size`: (width, height)."""
    import cv2
    import numpy as np

    (qpoints, qdesc), (fpoints, fdesc) = picture, frame
    if len(qdesc) < MIN_INLIERS or len(fdesc) < MIN_INLIERS:
        return 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(qdesc, fdesc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_INLIERS:
        return 0
    src = qpoints[[m.queryIdx for m in good]].reshape(-1, 1, 2)
    dst = fpoints[[m.trainIdx for m in good]].reshape(-1, 1, 2)
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, REPROJECTION_PX,
                                          maxIters=RANSAC_ITERATIONS, confidence=0.995)
    if homography is None or mask is None:
        return 0
    inliers = int(mask.sum())
    if inliers < MIN_INLIERS or (inliers < SURE_INLIERS and inliers < MIN_SHARE * len(good)):
        return 0
    factor = float(np.linalg.det(homography[:2, :2] / homography[2, 2]))
    if not SCALE_RANGE[0] <= factor <= SCALE_RANGE[1]:
        return 0
    # Where the matched part of the picture lands: a convex shape of some size, not a fold.
    inside = src[mask.ravel() == 1].reshape(-1, 2)
    low, high = inside.min(axis=0), inside.max(axis=0)
    corners = np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]],
                        [low[0], high[1]]], np.float32).reshape(-1, 1, 2)
    landed = cv2.perspectiveTransform(corners, homography).reshape(-1, 2)
    area = cv2.contourArea(landed)
    width, height = frame_size
    if not cv2.isContourConvex(landed.astype(np.float32)) or area < 0.002 * width * height:
        return 0
    return inliers


# --- the features of a video's key frames, kept in its work dir ------------------------------

def features_path(result: IngestResult) -> Path:
    settings = f"{VERSION} orb {FRAME_FEATURES}"
    key = hashlib.blake2b(settings.encode(), digest_size=8).hexdigest()
    return result.workdir / "pictures" / f"{key}.npz"


def _stamp(path: Path) -> Path:
    return path.with_suffix(".json")


def stored(result: IngestResult) -> bool:
    """Whether the key frames' features are in the work dir (read without OpenCV)."""
    try:
        data = json.loads(_stamp(features_path(result)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("keyframes") == keyframes_digest(result) and \
        features_path(result).is_file()


def describe_frames(result: IngestResult, on_progress=None) -> FrameFeatures:
    """The features of every key frame of `result`, from its work dir, or described now and
    kept there (the npz first, then the stamp that says it is whole)."""
    import cv2
    import numpy as np

    path = features_path(result)
    if stored(result):
        loaded = load_features(result)
        if loaded is not None:
            return loaded
    points, descriptors, offsets = [], [], [0]
    for keyframe in result.keyframes:
        image = cv2.imread(str(result.image_path(keyframe)), cv2.IMREAD_GRAYSCALE)
        found = describe(image) if image is not None else \
            (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
        points.append(found[0])
        descriptors.append(found[1])
        offsets.append(offsets[-1] + len(found[1]))
        if on_progress:
            on_progress(1)
    features = FrameFeatures(
        np.array([k.pts_s for k in result.keyframes], np.float64), np.array(offsets, np.int64),
        np.concatenate(points) if points else np.zeros((0, 2), np.float32),
        np.concatenate(descriptors) if descriptors else np.zeros((0, 32), np.uint8))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path.parent, "the key frames' picture features in") from None
    with atomic_open(path, binary=True) as out:
        np.savez(out, times_s=features.times_s, offsets=features.offsets,
                 points=features.points, descriptors=features.descriptors)
    atomic_write_text(_stamp(path), json.dumps({"version": VERSION,
                                                "keyframes": keyframes_digest(result),
                                                "features": int(offsets[-1])}))
    return features


KEPT_FEATURES = 8  # videos whose features (and vote index) a process keeps loaded
_loaded: OrderedDict[str, tuple[int, FrameFeatures]] = OrderedDict()
_loaded_lock = threading.Lock()


def load_features(result: IngestResult) -> FrameFeatures | None:
    """The key frames' stored features; a process asked again (a server) gets the ones it
    loaded, vote index included, while their stamp is the same."""
    import numpy as np

    path = features_path(result)
    try:
        stamp = _stamp(path).stat().st_mtime_ns
    except OSError:
        return None
    with _loaded_lock:
        kept = _loaded.get(str(path))
        if kept is not None and kept[0] == stamp:
            _loaded.move_to_end(str(path))
            return kept[1]
    try:
        with np.load(path) as data:
            features = FrameFeatures(data["times_s"], data["offsets"], data["points"],
                                     data["descriptors"])
    except (OSError, ValueError, KeyError):
        return None
    if len(features) != len(result.keyframes):
        return None
    with _loaded_lock:
        _loaded[str(path)] = (stamp, features)
        while len(_loaded) > KEPT_FEATURES:
            _loaded.popitem(last=False)
    return features


# --- a picture's showings in one video ----------------------------------------------------------

@dataclass
class Showing:
    """Key frames first..last (indices) in a row that show the picture, or (`between`) frames
    sampled after key frame `first`, before the next, that show it where no key frame does (a
    moving shot); `inliers`: the most features any of them matched; `pinned_s`: the first
    sampled frame that shows it; `end_s`: where a showing between key frames ends."""

    first: int
    last: int
    inliers: int
    pinned_s: float | None = None
    between: bool = False
    end_s: float | None = None


def showings(picture: Picture, features: FrameFeatures, frame_size: tuple[int, int],
             votes: np.ndarray) -> list[Showing]:
    """The showings of `picture` among the key frames, the best matched first (`votes`: each
    key frame's, `FrameFeatures.votes`)."""
    import numpy as np

    described = picture.described()
    order = [int(i) for i in np.argsort(-votes, kind="stable")[:SHORTLIST]
             if votes[i] >= MIN_VOTES]
    checked: dict[int, int] = {}

    def check(i: int) -> int:
        if i not in checked:
            checked[i] = verify(described, features.frame(i), frame_size)
        return checked[i]

    for i in order:
        if check(i):
            for step in (-1, 1):  # the neighbours of a frame that shows it
                j = i + step
                while 0 <= j < len(features) and check(j):
                    j += step
    shown = sorted(i for i, inliers in checked.items() if inliers)
    out: list[Showing] = []
    for i in shown:
        if out and out[-1].last == i - 1:
            out[-1].last, out[-1].inliers = i, max(out[-1].inliers, checked[i])
        else:
            out.append(Showing(i, i, checked[i]))
    return sorted(out, key=lambda s: -s.inliers)


def _sampled(result: IngestResult, start_s: float, end_s: float) -> list:
    """The frames sampled (the decode's fps) strictly between `start_s` and `end_s`."""
    from vidqa.media.decode import FrameReader

    reader = FrameReader(result.video, result.config.decode, allow_errors=True,
                         window=(start_s, end_s))
    return [f for f in reader if start_s + 1e-6 < f.pts_s < end_s - 1e-6]


def pin_showing(result: IngestResult, picture: Picture, features: FrameFeatures,
                showing: Showing, frame_size: tuple[int, int]) -> float:
    """The first sampled frame (the decode's fps) that shows the picture: the showing's first
    key frame when it starts a shot (nothing before it in the shot), else looking back from it
    to the key frame before, PIN_FIRST_S first, then four times as far each time the picture
    was shown all along."""
    first_s = float(features.times_s[showing.first])
    keyframe = result.keyframes[showing.first]
    if keyframe.reason == "scene" or showing.first == 0 and first_s <= 0.0:
        return first_s
    floor_s = float(features.times_s[showing.first - 1]) if showing.first > 0 else 0.0
    if first_s - floor_s <= 1.0 / result.config.decode.fps + 1e-6:
        return first_s  # no frame was sampled between them
    described = picture.described()
    pinned, end_s, step = first_s, first_s, PIN_FIRST_S
    while end_s > floor_s + 1e-6:
        start_s = max(floor_s, end_s - step)
        frames = _sampled(result, start_s, end_s)
        for frame in reversed(frames):
            if not verify(described, describe(frame.bgr), frame_size):
                return pinned
            pinned = frame.pts_s
        end_s, step = start_s, step * 4
    return pinned


def between_keyframes(result: IngestResult, picture: Picture, features: FrameFeatures,
                      votes: np.ndarray, frame_size: tuple[int, int]) -> list[Showing]:
    """The picture in a moving shot, shown at sampled frames between key frames and at none of
    them: looked for only when the votes of a key frame or two stand out of every key frame's
    (at least STANDOUT_VOTES, and STANDOUT times the median: its shot holds the picture's
    features), among the frames sampled after it, to the next key frame."""
    import numpy as np

    if not len(votes):
        return []
    top = int(votes.max())
    if top < STANDOUT_VOTES or top < STANDOUT * max(1.0, float(np.median(votes))):
        return []
    described = picture.described()
    out: list[Showing] = []
    for i in [int(i) for i in np.argsort(-votes, kind="stable")[:BETWEEN_CANDIDATES]
              if votes[i] >= max(STANDOUT_VOTES, top / 2)]:
        end_s = float(features.times_s[i + 1]) if i + 1 < len(features) \
            else float(result.stats.end_s)
        shown_before = False
        for frame in _sampled(result, float(features.times_s[i]), end_s):
            inliers = verify(described, describe(frame.bgr), frame_size)
            if inliers and shown_before:  # the same showing goes on
                out[-1].inliers = max(out[-1].inliers, inliers)
            elif inliers:
                out.append(Showing(i, i, inliers, frame.pts_s, True))
            if out and shown_before and not inliers:
                out[-1].end_s = frame.pts_s
            shown_before = bool(inliers)
        if out and out[-1].first == i and out[-1].end_s is None:
            out[-1].end_s = end_s
    return sorted(out, key=lambda s: -s.inliers)


def find_picture(result: IngestResult, picture: Picture, *, k: int = 5,
                 pin: bool = True) -> list[tuple[Showing, float, float]]:
    """(showing, start_s, end_s) of the `k` best showings of `picture` in an indexed video,
    each pinned (`pin`) to the first sampled frame that shows it. [] when no frame shows it."""
    features = describe_frames(result)
    if not len(features):
        return []
    size = (result.stats.frame_width, result.stats.frame_height)
    votes = features.votes(picture.voters())
    found = showings(picture, features, size, votes)
    if not found and pin:
        found = between_keyframes(result, picture, features, votes, size)
    out = []
    for showing in found[:k]:
        if showing.between:
            out.append((showing, float(showing.pinned_s), float(showing.end_s)))
            continue
        if pin:
            showing.pinned_s = pin_showing(result, picture, features, showing, size)
        end_s = float(features.times_s[showing.last + 1]) if showing.last + 1 < len(features) \
            else float(result.stats.end_s)
        out.append((showing, float(features.times_s[showing.first]), end_s))
    return out
