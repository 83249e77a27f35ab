"""vidqa: ask questions about hour-long recordings and get answers pinned to the second.

The package reads like the pipeline (see docs/architecture.md):

    media/      ffmpeg runner, probe, decode (frames with their stream times, `pts_s`), audio
    keyframes/  scene detectors and the key-frame policy, chunking, ingest (cached per video)
    tracks/     what happens at which second, one registered track per source (on-screen text,
                speech, model captions) -> Segments; event-log writers
    model/      backends (transformers, openai), messages, prompts, captions, answers, agent
    search/     embedders, the FAISS index over every track, find, the wall-clock lookup
    evaluation/ needle-in-a-haystack sweeps, multiple-choice benchmarks
    serve/      `vidqa serve`: the web page and the OpenAI-compatible API; `vidqa report`
    cluster/    the Ray executor (`vidqa index --ray`)
    cli/        the `vidqa` command
    plan.py     a video's stage plan, and the run it makes (`VideoRun`)
    execute.py  the local executor; pipeline.py, tools.py, scopes.py, api.py, config.py

`vidqa.pipeline` owns a run (its plan, run by an executor); every entry point goes through
it. Every time is absolute seconds with the unit in the name (`pts_s`, `start_s`, `end_s`);
ranges are half-open `TimeRange`s.

This module is a lazy public API: names are imported on first use, so `import vidqa` (and
`vidqa --help`) loads no OpenCV, PySceneDetect, PyAV or torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    "Pipeline": "vidqa.pipeline", "VideoRun": "vidqa.plan", "index_video": "vidqa.api",
    "find": "vidqa.api", "ask": "vidqa.api", "events": "vidqa.api",
    "transcript": "vidqa.api", "index_folder": "vidqa.api",
    "Config": "vidqa.config", "DecodeConfig": "vidqa.config", "SelectConfig": "vidqa.config",
    "ChunkConfig": "vidqa.config", "load_config": "vidqa.config",
    "TimeRange": "vidqa.timecode", "format_hms": "vidqa.timecode", "parse_time": "vidqa.timecode",
    "BackendError": "vidqa.errors", "DecodeError": "vidqa.errors",
    "VideoOpenError": "vidqa.errors", "VidqaError": "vidqa.errors",
    "VideoInfo": "vidqa.media.probe", "probe": "vidqa.media.probe",
    "Frame": "vidqa.media.decode", "iter_frames": "vidqa.media.decode",
    "Keyframe": "vidqa.keyframes.selection", "Scene": "vidqa.keyframes.selection",
    "select_keyframes": "vidqa.keyframes.selection",
    "Chunk": "vidqa.keyframes.chunking", "make_chunks": "vidqa.keyframes.chunking",
    "IngestResult": "vidqa.keyframes.ingest", "ingest": "vidqa.keyframes.ingest",
    "Segment": "vidqa.tracks.base", "Track": "vidqa.tracks.base", "get_track": "vidqa.tracks.base",
    "get_writer": "vidqa.tracks.writers",
    "Answer": "vidqa.model.answers",
    "CaptionEvent": "vidqa.model.captions", "ChunkCaption": "vidqa.model.captions",
    "VideoCaptions": "vidqa.model.captions", "caption_video": "vidqa.model.captions",
    "get_backend": "vidqa.model.backends", "open_backend": "vidqa.model.backends",
    "Report": "vidqa.evaluation.needle", "Sweep": "vidqa.evaluation.needle",
    "needle_eval": "vidqa.evaluation.needle",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'vidqa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
