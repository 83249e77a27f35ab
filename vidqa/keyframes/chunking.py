"""Key frames grouped into chunks a model can take: under a visual-token budget and a maximum
span, cut at scene boundaries where they can be.

Chunks tile the video: each is half-open [start_s, end_s), the next starts where one ends, the
first starts with the first scene and the last ends with the video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vidqa.config import ChunkConfig
from vidqa.keyframes.selection import Keyframe, Scene
from vidqa.timecode import Timed


@dataclass(frozen=True)
class Chunk(Timed):
    """Key frames the model reads together: half-open [start_s, end_s), tiling the video."""

    index: int
    start_s: float
    end_s: float
    keyframes: list[Keyframe] = field(default_factory=list)
    tokens: int = 0  # visual tokens of its key frames

    def to_dict(self) -> dict:
        return {"index": self.index, "start_s": self.start_s, "end_s": self.end_s,
                "tokens": self.tokens, "keyframes": [k.to_dict() for k in self.keyframes]}


def make_chunks(scenes: list[Scene], keyframes: list[Keyframe], tokens_per_frame: int,
                config: ChunkConfig, end_s: float) -> list[Chunk]:
    """Pack whole scenes into chunks; split a scene only when it alone is over budget, or when
    the chunk so far is under half full (so chunks do not come out tiny)."""
    if not keyframes:
        return []
    per_chunk = max(1, config.max_tokens // max(1, tokens_per_frame))
    by_scene: dict[int, list[Keyframe]] = {}
    for kf in keyframes:
        by_scene.setdefault(kf.scene_index, []).append(kf)
    groups: list[tuple[float, list[Keyframe]]] = []  # (start_s, key frames)
    current: list[Keyframe] = []
    start = scenes[0].start_s if scenes else keyframes[0].pts_s

    def close(at_s: float) -> None:
        nonlocal current, start
        if current:
            groups.append((start, current))
        current, start = [], at_s

    for scene in scenes:
        frames = by_scene.get(scene.index, [])
        if not frames:
            continue
        fits = (len(current) + len(frames) <= per_chunk
                and scene.end_s - start <= config.max_span_s)
        alone = len(frames) <= per_chunk and scene.length_s <= config.max_span_s
        if current and not fits and (alone or len(current) * 2 >= per_chunk):
            close(scene.start_s)
        for kf in frames:
            if current and (len(current) >= per_chunk or kf.pts_s - start >= config.max_span_s):
                close(kf.pts_s)
            current.append(kf)
    close(end_s)
    return [Chunk(index=i, start_s=round(s, 6),
                  end_s=round(groups[i + 1][0] if i + 1 < len(groups) else max(end_s, frames[-1].pts_s), 6),
                  keyframes=frames, tokens=len(frames) * tokens_per_frame)
            for i, (s, frames) in enumerate(groups)]
