"""Chunk packing: whole scenes under the token budget, spans capped, the video tiled."""

from __future__ import annotations

from vidqa.config import ChunkConfig
from vidqa.keyframes.chunking import make_chunks
from vidqa.keyframes.selection import Keyframe, Scene


def _kf(t: float, scene: int) -> Keyframe:
    return Keyframe(pts_s=t, scene_index=scene, reason="change", change=0.1, frame_index=int(t * 2))


def test_chunks_follow_scenes_under_budget_and_tile_the_video():
    scenes = [Scene(0, 0.0, 10.0), Scene(1, 10.0, 25.0), Scene(2, 25.0, 40.0), Scene(3, 40.0, 50.0)]
    keyframes = ([_kf(t, 0) for t in (0, 4, 8)] + [_kf(t, 1) for t in (10, 15, 20)]
                 + [_kf(t, 2) for t in (25, 30, 35)] + [_kf(t, 3) for t in (40, 45)])
    chunks = make_chunks(scenes, keyframes, 100, ChunkConfig(max_tokens=600, max_span_s=300), 50.0)
    # Whole scenes: 3+3 frames fit in 600 tokens, the third scene opens a new chunk.
    assert [[k.pts_s for k in c.keyframes] for c in chunks] == [
        [0, 4, 8, 10, 15, 20], [25, 30, 35, 40, 45]]
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 25.0), (25.0, 50.0)]
    assert all(c.tokens <= 600 for c in chunks)
    # A scene larger than the budget is split; spans are capped.
    long_scene = [Scene(0, 0.0, 100.0)]
    many = [_kf(float(t), 0) for t in range(0, 100, 5)]
    chunks = make_chunks(long_scene, many, 100, ChunkConfig(max_tokens=500, max_span_s=12), 100.0)
    assert all(len(c.keyframes) <= 5 for c in chunks)
    assert all(c.keyframes[-1].pts_s - c.start_s < 12 for c in chunks)
    assert chunks[0].start_s == 0.0 and chunks[-1].end_s == 100.0
    assert all(a.end_s == b.start_s for a, b in zip(chunks, chunks[1:]))
    assert sum(len(c.keyframes) for c in chunks) == len(many)
