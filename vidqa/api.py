"""The public API: one call each, through a `Pipeline` (see `vidqa.pipeline`).

    import vidqa
    run = vidqa.index_video("talk.mp4")
    vidqa.find("talk.mp4", "invoice number")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vidqa.config import Config
from vidqa.errors import VidqaError
from vidqa.pipeline import Pipeline
from vidqa.plan import VideoRun

if TYPE_CHECKING:
    from vidqa.model.answers import Answer
    from vidqa.search.find import Found
    from vidqa.tracks.base import Segment


def _pipeline(config: Config | None, backend, **options) -> Pipeline:
    return Pipeline(config, backend=backend, **options)


def index_video(video: str, config: Config | None = None, backend=None, **options) -> VideoRun:
    """Ingest `video`, make its tracks and build its search index (each step cached)."""
    pipeline = _pipeline(config, backend, **options)
    run = pipeline.run(video)
    pipeline.index(run)
    return run


def index_folder(videos: Sequence[str] | str, config: Config | None = None, backend=None, *,
                 ray: str | None = None, api_key: str | None = None, **options
                 ) -> tuple[list[VideoRun], list[str]]:
    """(runs, failure lines) of every video of `videos` (files, or folders holding them)
    indexed, and their collection's index; `ray`: on a Ray cluster at that address ("local":
    a Ray instance on this machine), see `vidqa.cluster`."""
    videos = [videos] if isinstance(videos, str) else videos
    pipeline = _pipeline(config, backend, **options)
    executor = None
    if ray is not None:
        from vidqa.cluster.driver import RayExecutor

        executor = RayExecutor(ray, api_key=api_key, with_model=pipeline.backend is not None)
    return pipeline.index_all(videos, executor=executor)


def find(video: str, query: str | None = None, config: Config | None = None, *, k: int = 5,
         backend=None, image: str | os.PathLike | bytes | None = None,
         **options) -> list[Found]:
    """Where `query` happens in `video` (or in every video of a folder); or, with `image` (a
    picture's path or bytes) instead, where that picture is shown."""
    if (query is None) == (image is None):
        raise VidqaError("give find a query or an image, one of the two")
    if image is not None:
        from vidqa.search.pictures import Picture

        query = Picture(bytes(image)) if isinstance(image, (bytes, bytearray)) else \
            Picture.from_path(image)
    return _pipeline(config, backend, **options).find(video, query, k=k)


def ask(video: str, question: str, backend, config: Config | None = None, *,
        scope: str = "chunks", **options) -> Answer:
    """The model's answer to `question` about `video`, citing time ranges."""
    return _pipeline(config, backend, **options).ask(video, question, scope=scope)[1]


def events(video: str, config: Config | None = None, *, backend=None,
           tracks: Sequence[str] | None = None, **options) -> list[Segment]:
    """The event log of `video`: every track's log segments in time order."""
    return _pipeline(config, backend, tracks=tracks, **options).run(video).log()


def transcript(video: str, config: Config | None = None, **options) -> list[Segment]:
    """What is said in `video` (its subtitles, or speech recognition), without decoding the
    frames; each segment's `extras["words"]` holds word times when recognised."""
    return _pipeline(config, None, tracks=("speech",), **options).transcript(video)[0].segments
