"""Ingest: probe -> decode -> select key frames -> chunk, stored in a per-video work directory.

A re-run with the same file content and the same decode and select settings decodes nothing;
chunking is recomputed from the stored key frames (it is cheap), so a new token budget never
costs a decode.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidqa import __version__
from vidqa.keyframes.chunking import Chunk, make_chunks
from vidqa.config import Config
from vidqa.paths import cores
from vidqa.media.decode import Frame, FrameReader, frame_size
from vidqa.errors import CacheError, DecodeError
from vidqa.keyframes.selection import (POLICY_VERSION, Keyframe, KeyframeSelector, Scene,
                                       Selection)
from vidqa.media.probe import VideoInfo, probe
from vidqa.store import WorkDir, fingerprint, write_error
from vidqa.keyframes.tokens import visual_tokens

JPEG_QUALITY = 90


@dataclass
class IngestStats:
    frames_sampled: int  # frames at the sampling rate: what uniform sampling would send
    keyframes: int
    frame_width: int
    frame_height: int
    tokens_per_frame: int
    tokens_kept: int
    tokens_uniform: int
    token_reduction: float  # 1 - kept / uniform
    end_s: float
    decode_s: float  # wall time of the decode + select pass (0 when cached)
    cached: bool = False


@dataclass
class IngestResult:
    video: VideoInfo
    fingerprint: str
    workdir: Path
    scenes: list[Scene]
    keyframes: list[Keyframe]
    chunks: list[Chunk]
    stats: IngestStats
    config: Config = field(default_factory=Config)
    decode_problem: str | None = None

    def image_path(self, keyframe: Keyframe) -> Path:
        return self.workdir / keyframe.image

    @property
    def folder(self) -> Path:
        """The video's cache folder (its work dirs and what does not depend on them)."""
        return self.workdir.parent

    def to_dict(self) -> dict:
        return {
            "video": self.video.path, "fingerprint": self.fingerprint,
            "workdir": str(self.workdir), "info": self.video.to_dict(),
            "settings": self.config.to_dict(), "stats": asdict(self.stats),
            "decode_problem": self.decode_problem,
            "scenes": [asdict(s) for s in self.scenes],
            "keyframes": [k.to_dict() for k in self.keyframes],
            "chunks": [c.to_dict() for c in self.chunks],
        }


def _stats(frames_sampled: int, keyframes: int, size: tuple[int, int], end_s: float,
           decode_s: float, cached: bool) -> IngestStats:
    width, height = size
    per_frame = visual_tokens(height, width) if width and height else 0
    kept, uniform = keyframes * per_frame, frames_sampled * per_frame
    return IngestStats(frames_sampled=frames_sampled, keyframes=keyframes, frame_width=width,
                       frame_height=height, tokens_per_frame=per_frame, tokens_kept=kept,
                       tokens_uniform=uniform,
                       token_reduction=round(1 - kept / uniform, 4) if uniform else 0.0,
                       end_s=round(end_s, 6), decode_s=round(decode_s, 3), cached=cached)


def ingest(video: str | os.PathLike | VideoInfo, config: Config | None = None, *,
           allow_errors: bool = False, on_progress: Callable[[float], None] | None = None,
           cache_root: Path | None = None, cached_only: bool = False,
           on_build: Callable[[], None] | None = None) -> IngestResult | None:
    """Ingest one video (a path, or what `probe` returned) or return its cached result.

    `on_progress(pts_s)` follows the decode; `on_build()` is called before a decode (nothing
    cached for these settings). Raises VideoOpenError or DecodeError for bad input; nothing is
    stored for a video that fails. `cached_only`: None instead of decoding when nothing is
    cached for these settings.
    """
    config = config or Config()
    info = video if isinstance(video, VideoInfo) else probe(video)
    video_fp = fingerprint(info.path)
    # Keyed by the file's bytes and by what the probe read from them, so a work dir is never
    # reused for a stream that was read otherwise.
    workdir = WorkDir(video_fp, config.key("decode", "select",
                                           version=f"{POLICY_VERSION}:{info.stream_key()}"),
                      root=cache_root)
    manifest = workdir.load()
    if manifest is None and cached_only:
        return None
    if manifest is None:
        if on_build is not None:
            on_build()
        if workdir.path.exists():
            workdir.discard()
        manifest = _build(info, config, workdir, allow_errors=allow_errors,
                          on_progress=on_progress)
        cached = False
    else:
        cached = True
    problem = manifest.get("decode_problem")
    if problem and not allow_errors:
        raise DecodeError(problem)
    scenes = [Scene(**s) for s in manifest["scenes"]]
    keyframes = [Keyframe(**k) for k in manifest["keyframes"]]
    size = tuple(manifest["frame_size"])
    end_s = manifest["end_s"]
    stats = _stats(manifest["frames_sampled"], len(keyframes), size, end_s,
                   0.0 if cached else manifest["decode_s"], cached)
    chunks = make_chunks(scenes, keyframes, stats.tokens_per_frame, config.chunk, end_s)
    return IngestResult(video=info, fingerprint=video_fp, workdir=workdir.path, scenes=scenes,
                        keyframes=keyframes, chunks=chunks, stats=stats, config=config,
                        decode_problem=problem)


def _build(info: VideoInfo, config: Config, workdir: WorkDir, *, allow_errors: bool,
           on_progress: Callable[[float], None] | None) -> dict:
    if not info.has_picture:
        return _sound_only(info, config, workdir)
    with workdir.building() as tmp:
        try:
            (tmp / "keyframes").mkdir()
        except OSError as exc:
            raise write_error(exc, workdir.path, "the cache at") from None
        started = time.perf_counter()

        def save(frame: Frame, keyframe: Keyframe) -> str:
            name = f"keyframes/{frame.pts_s:010.3f}.jpg"
            import cv2

            ok, data = cv2.imencode(".jpg", frame.bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise CacheError(f"cannot encode key frame {frame.pts_s:.3f} s of "
                                 f"'{info.path}' as JPEG; report this with the file")
            try:
                (tmp / name).write_bytes(data.tobytes())
            except OSError as exc:
                raise write_error(exc, workdir.path / name, "key frame") from None
            return name

        parts = plan_parts(info, config.decode)
        if len(parts) == 1:
            reader = FrameReader(info, config.decode, allow_errors=allow_errors)
            selector = KeyframeSelector(config.select, config.decode.fps, on_keyframe=save)
            for frame in reader:
                selector.push(frame)
                if on_progress is not None:
                    on_progress(frame.pts_s)
            readers = [reader]
            end_s = _end_s(info, reader, config)
            selection = selector.finish(end_s)
        else:
            readers, selection, end_s = _decode_parts(info, config, parts, save,
                                                      allow_errors=allow_errors,
                                                      on_progress=on_progress)
        problems = [r.problem() for r in readers]
        manifest = {
            "vidqa": __version__, "video": info.to_dict(), "settings": config.to_dict(),
            "frame_size": list(frame_size(info, config.decode)),
            "frames_sampled": selection.frames_sampled, "end_s": round(end_s, 6),
            "decode_s": round(time.perf_counter() - started, 3),
            "decode_problem": next((p for p in problems if p), None),
            "scenes": [asdict(s) for s in selection.scenes],
            "keyframes": [k.to_dict() for k in selection.keyframes],
        }
        workdir.write_manifest(tmp, manifest)
    return workdir.check()


def _sound_only(info: VideoInfo, config: Config, workdir: WorkDir) -> dict:
    """The manifest of a file with no picture: nothing to decode or select, one scene as long as
    the sound (so times, lengths and the cache work as for a video), no key frames."""
    end_s = info.duration_s or 0.0
    with workdir.building() as tmp:
        workdir.write_manifest(tmp, {
            "vidqa": __version__, "video": info.to_dict(), "settings": config.to_dict(),
            "frame_size": [0, 0], "frames_sampled": 0, "end_s": round(end_s, 6),
            "decode_s": 0.0, "decode_problem": None,
            "scenes": [asdict(Scene(0, 0.0, round(end_s, 6)))] if end_s > 0 else [],
            "keyframes": []})
    return workdir.check()


PARALLEL_MIN_S = 120.0  # shorter videos decode in one pass (a second ffmpeg costs its start-up)
MAX_PARTS = 4
CONTEXT_S = 4  # seconds each part after the first also decodes before it (see below)


def plan_parts(info: VideoInfo, decode) -> list[tuple[float, float | None]]:
    """[start_s, end_s) of the parts decoded at once (end None: to the end of the stream).
    On 2 cores one ffmpeg with one thread leaves a core idle while the analysis waits for
    frames; two ffmpeg processes, each on half the video, keep both busy. Boundaries fall on
    the sampling grid, so every part samples the frames the single pass would."""
    count = decode.segments or (min(MAX_PARTS, cores())
                                if (info.duration_s or 0.0) >= PARALLEL_MIN_S else 1)
    duration = info.duration_s or 0.0
    # A boundary (and the context before it) on whole seconds and on the sampling grid: a
    # seek there gives each frame exactly the time the single pass gives it.
    step = next((k / decode.fps for k in range(1, 61) if (k / decode.fps).is_integer()), None)
    if count <= 1 or duration <= 0 or step is None:
        return [(0.0, None)]
    bounds = sorted({math.floor(duration * i / count / step) * step for i in range(1, count)})
    bounds = [b for b in bounds if CONTEXT_S < b < duration - CONTEXT_S]
    starts = [0.0, *bounds]
    return [(start, end) for start, end in zip(starts, [*bounds, None])]


def _end_s(info: VideoInfo, reader: FrameReader, config: Config) -> float:
    last = reader.last_pts_s if reader.last_pts_s is not None else 0.0
    end_s = max(info.duration_s or 0.0, last + 1.0 / config.decode.fps)
    if info.duration_s and info.duration_s > last:
        end_s = info.duration_s
    return end_s


def _decode_parts(info: VideoInfo, config: Config, parts: list[tuple[float, float | None]],
                  save, *, allow_errors: bool, on_progress: Callable[[float], None] | None):
    """Decode and analyse the parts at once, one thread and one single-threaded ffmpeg each,
    and join what they found into one selection.

    A part after the first also decodes the CONTEXT_S seconds before its start: those frames go
    through its detector and key-frame policy as in a single pass (a cut right at the boundary
    is found; a change that arrived just before it is compared as the single pass compares it),
    and are never kept or counted. Scene indexes and frame indexes are renumbered over the whole video. A part
    that fails stops the others (their ffmpeg is killed)."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    decode = replace(config.decode, threads=1)
    failed = threading.Event()
    lock = threading.Lock()
    done = [0.0] * len(parts)

    def run(i: int):
        start, end = parts[i]
        window = (max(0.0, start - CONTEXT_S) if i else 0.0,
                  end if end is not None else (info.duration_s or 0.0) + 3600.0)
        reader = FrameReader(info, decode, allow_errors=allow_errors, window=window)
        selector = KeyframeSelector(config.select, config.decode.fps, on_keyframe=save,
                                    starts_s=start if i else None)
        try:
            for frame in reader:
                if failed.is_set():
                    break
                selector.push(frame)
                if on_progress is not None and frame.pts_s >= start:
                    with lock:
                        done[i] = frame.pts_s - start
                        on_progress(sum(done))
        except BaseException:
            failed.set()
            raise
        last = end is None
        part_end = _end_s(info, reader, config) if last else end
        return reader, selector.finish(part_end, last=last), part_end

    with ThreadPoolExecutor(len(parts), thread_name_prefix="vidqa-decode") as pool:
        outcomes = [f.result() for f in [pool.submit(run, i) for i in range(len(parts))]]
    readers = [r for r, _, _ in outcomes]
    end_s = outcomes[-1][2]
    starts = sorted({s.start_s for _, sel, _ in outcomes for s in sel.scenes})
    scenes = [Scene(i, start, starts[i + 1] if i + 1 < len(starts) else max(end_s, start))
              for i, start in enumerate(starts)]
    keyframes, offset = [], 0
    for _, selection, _ in outcomes:
        for k in selection.keyframes:
            scene = bisect.bisect_right(starts, k.pts_s + 1e-9) - 1
            keyframes.append(Keyframe(**{**k.to_dict(), "scene_index": max(0, scene),
                                         "frame_index": offset + k.frame_index}))
        offset += selection.frames_sampled
    return readers, Selection(scenes, keyframes, offset), end_s
