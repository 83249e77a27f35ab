"""How each `ask` scope answers over one video's run (the table of scopes is
`vidqa.scopes.SCOPES`): the run's chunks, summaries, whole video or the agent's tools, with the
tracks' lines (`VideoRun.prompt_lines`) among the frames by time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vidqa.errors import VidqaError

if TYPE_CHECKING:
    from vidqa.model.answers import Answer
    from vidqa.pipeline import Pipeline
    from vidqa.plan import VideoRun


def _captions(run: VideoRun):
    captions = run.captions
    if captions is None:
        raise VidqaError(f"'{run.video}' has no captions to answer from; run `vidqa index` "
                         "with a model (the captions track), or ask with --scope full")
    return captions


def by_chunks(pipeline: Pipeline, run: VideoRun, question: str, hits: list, *,
              top_k: int = 2, max_steps: int = 8) -> Answer:
    from vidqa.model.answers import ask

    m = pipeline.config.model
    return ask(run.ingest, _captions(run), pipeline.backend, question, top_k=top_k,
               max_new_tokens=m.max_new_tokens, temperature=m.temperature, hits=hits,
               lines=run.prompt_lines())


def by_summaries(pipeline: Pipeline, run: VideoRun, question: str, hits: list, *,
                 top_k: int = 2, max_steps: int = 8) -> Answer:
    from vidqa.model.answers import ask_all

    m = pipeline.config.model
    return ask_all(_captions(run), pipeline.backend, question, lines=run.prompt_lines(),
                   max_new_tokens=m.max_new_tokens, temperature=m.temperature)


def whole_video(pipeline: Pipeline, run: VideoRun, question: str, hits: list, *,
                top_k: int = 2, max_steps: int = 8) -> Answer:
    from vidqa.model.answers import ask_full, context_tokens

    m = pipeline.config.model
    fallback = (lambda: by_chunks(pipeline, run, question, hits, top_k=top_k)) \
        if run.captions else None
    return ask_full(run.ingest, pipeline.backend, question, lines=run.prompt_lines(),
                    context=context_tokens(pipeline.backend), max_new_tokens=m.max_new_tokens,
                    temperature=m.temperature, fallback=fallback)


def from_speech(pipeline: Pipeline, run: VideoRun, question: str, hits: list, *,
                top_k: int = 2, max_steps: int = 8) -> Answer:
    """A recording with no picture: answered from every track's lines (what is said), or from
    the stretches around the hits when they do not all fit the model's context."""
    from vidqa.model.answers import ask_heard, context_tokens

    m = pipeline.config.model
    return ask_heard(run.video, run.duration_s, pipeline.backend, question,
                     lines=run.prompt_lines(), hits=hits, context=context_tokens(pipeline.backend),
                     max_new_tokens=m.max_new_tokens, temperature=m.temperature)


def by_agent(pipeline: Pipeline, run: VideoRun, question: str, hits: list, *,
             top_k: int = 2, max_steps: int = 8) -> Answer:
    import tempfile

    from vidqa.model.agent import ask_agent

    m = pipeline.config.model
    with tempfile.TemporaryDirectory(prefix="vidqa-agent-") as scratch:
        return ask_agent(agent_tools(pipeline, run, Path(scratch)), pipeline.backend, question,
                         max_steps=max_steps, max_new_tokens=m.max_new_tokens,
                         temperature=m.temperature)


def agent_tools(pipeline: Pipeline, run: VideoRun, scratch: Path):
    """The agent's tools over one video: the index, each track's reader (its `tool`), and
    frames decoded at a higher rate into `scratch`."""
    from vidqa.model.agent import INSPECT_MAX_FRAMES, AgentTools
    from vidqa.tracks.base import track_classes

    def search(query: str) -> list[str]:
        if not run.entries():
            return []
        return [f"[{h.start_s:.1f}-{h.end_s:.1f} s] ({h.kind}) {h.text}"
                for h in pipeline.search([run], query, k=8)]

    def reader(track: str, kinds: tuple[str, ...]) -> Callable[[float, float], list[str]]:
        def read(start_s: float, end_s: float) -> list[str]:
            return [f"[{s.start_s:.1f}-{s.end_s:.1f} s] {s.text.strip()}"
                    for s in run.segments([track], kinds)
                    if s.end_s > start_s and s.start_s < end_s]
        return read

    def inspect(start_s: float, end_s: float) -> list[tuple[float, str]]:
        import dataclasses

        import cv2

        from vidqa.media.decode import FrameReader

        fps = min(4.0, INSPECT_MAX_FRAMES / max(end_s - start_s, 0.25))
        decode = dataclasses.replace(pipeline.config.decode, fps=max(fps, 0.05))
        out = []
        for frame in FrameReader(run.ingest.video, decode, window=(start_s, end_s),
                                 allow_errors=True):
            path = scratch / f"inspect_{frame.pts_s:.3f}.jpg"
            path.write_bytes(cv2.imencode(".jpg", frame.bgr,
                                          [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
            out.append((frame.pts_s, str(path)))
        return out[:INSPECT_MAX_FRAMES]

    readers = {cls.tool.name: (cls.tool.about, reader(cls.name, cls.tool.kinds))
               for cls in track_classes(run.tracks) if cls.tool is not None}
    return AgentTools(duration_s=run.duration_s, search=search,
                      inspect=inspect if run.ingest.video.has_picture else None, readers=readers)
