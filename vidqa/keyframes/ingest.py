"""Ingest: probe -> decode -> select key frames -> chunk, stored in a per-video work directory.

A re-run with the same file content and the same decode and select settings decodes nothing;
chunking is recomputed from the stored key frames (it is cheap), so a new token budget never
costs a decode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2

from vidqa import __version__
from vidqa.keyframes.chunking import Chunk, make_chunks
from vidqa.config import Config
from vidqa.media.decode import Frame, FrameReader, frame_size
from vidqa.errors import CacheError, DecodeError
from vidqa.keyframes.selection import POLICY_VERSION, Keyframe, KeyframeSelector, Scene
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
    per_frame = visual_tokens(height, width)
    kept, uniform = keyframes * per_frame, frames_sampled * per_frame
    return IngestStats(frames_sampled=frames_sampled, keyframes=keyframes, frame_width=width,
                       frame_height=height, tokens_per_frame=per_frame, tokens_kept=kept,
                       tokens_uniform=uniform,
                       token_reduction=round(1 - kept / uniform, 4) if uniform else 0.0,
                       end_s=round(end_s, 6), decode_s=round(decode_s, 3), cached=cached)


def ingest(video: str | os.PathLike | VideoInfo, config: Config | None = None, *,
           allow_errors: bool = False, on_progress: Callable[[float], None] | None = None,
           cache_root: Path | None = None) -> IngestResult:
    """Ingest one video (a path, or what `probe` returned) or return its cached result.

    `on_progress(pts_s)` follows the decode. Raises VideoOpenError or DecodeError for bad input;
    nothing is stored for a video that fails.
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
    if manifest is None:
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
    with workdir.building() as tmp:
        try:
            (tmp / "keyframes").mkdir()
        except OSError as exc:
            raise write_error(exc, workdir.path, "the cache at") from None
        started = time.perf_counter()

        def save(frame: Frame, keyframe: Keyframe) -> str:
            name = f"keyframes/{frame.index:06d}_{frame.pts_s:.3f}.jpg"
            ok, data = cv2.imencode(".jpg", frame.bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise CacheError(f"cannot encode key frame {frame.pts_s:.3f} s of "
                                 f"'{info.path}' as JPEG; report this with the file")
            try:
                (tmp / name).write_bytes(data.tobytes())
            except OSError as exc:
                raise write_error(exc, workdir.path / name, "key frame") from None
            return name

        reader = FrameReader(info, config.decode, allow_errors=allow_errors)
        selector = KeyframeSelector(config.select, config.decode.fps, on_keyframe=save)
        for frame in reader:
            selector.push(frame)
            if on_progress is not None:
                on_progress(frame.pts_s)
        last = reader.last_pts_s if reader.last_pts_s is not None else 0.0
        end_s = max(info.duration_s or 0.0, last + 1.0 / config.decode.fps)
        if info.duration_s and info.duration_s > last:
            end_s = info.duration_s
        selection = selector.finish(end_s)
        manifest = {
            "vidqa": __version__, "video": info.to_dict(), "settings": config.to_dict(),
            "frame_size": list(frame_size(info, config.decode)),
            "frames_sampled": selection.frames_sampled, "end_s": round(end_s, 6),
            "decode_s": round(time.perf_counter() - started, 3),
            "decode_problem": reader.problem(),
            "scenes": [asdict(s) for s in selection.scenes],
            "keyframes": [k.to_dict() for k in selection.keyframes],
        }
        workdir.write_manifest(tmp, manifest)
    return workdir.check()
