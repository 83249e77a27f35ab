"""`vidqa mcp`: vidqa's tools for agents, over the Model Context Protocol.

Coding and desktop assistants (Claude Desktop and Code, Cursor, VS Code, agent frameworks) call
tools over MCP. This server gives them vidqa's, over one `vidqa.serve.service.Service` (the
same library, warm models and indexing jobs as `vidqa serve`):

- `list_videos`: the recordings under the served folders, with their state;
- `index_video`: index one (progress notifications while it runs; cancelling the call cancels
  the indexing it started);
- `find`: hits pinned to the second (kind, text, score), for words or for a picture (where
  a screenshot, a photo of a slide or a crop of a frame is shown);
- `transcript`, `events`: what is said, and the event log, over a time range;
- `frames`: key frames (or frames at given times) as images, each after its `<t seconds>`;
- `ask`: an answer with the times it cites, and the scope it used (needs `-m MODEL`).

Resources: each video's transcript (`vidqa://videos/{video}/transcript`, WebVTT) and event log
(`vidqa://videos/{video}/events`, the `vidqa events` JSON document). Every time in a result is
given twice: in seconds (`start_s`) and as HH:MM:SS.mmm (`start`). A bad argument comes back
as a tool error in one line, never as a crash of the server.

Transports: stdio (what desktop clients start), and streamable HTTP behind the same guards as
`vidqa serve` (`vidqa.serve.guard`: Host and Origin checks, the API key, body limits), at
`/mcp`. The SDK's own DNS-rebinding check is off: vidqa's guard does that job, once, for every
server it runs.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from vidqa import __version__
from vidqa.errors import VidqaError
from vidqa.model.messages import timestamp_label
from vidqa.scopes import SCOPES
from vidqa.media.images import picture_header
from vidqa.serve.given import picture_about, picture_name, read_picture
from vidqa.serve.library import Refused
from vidqa.serve.service import Service
from vidqa.timecode import format_hms, parse_time
from vidqa.timecode import seconds_and_hms as when
from vidqa.tracks.base import track_classes

MAX_FRAMES = 32  # images one `frames` call returns at most
DEFAULT_FRAMES = 8
MAX_LINES = 2000  # transcript and event lines one call returns at most
INSTRUCTIONS = (
    "vidqa answers questions about long recordings (meetings, lectures, screen recordings, "
    "footage) to the second. Start with list_videos; index_video a recording that is not "
    "indexed; find says when something is shown or said (given an image: when that picture "
    "is shown); transcript and events read a time range; frames shows key frames (each after "
    "its time); ask answers with cited times. Times: seconds (12.5) or HH:MM:SS(.mmm).")
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
TimeArg = Annotated[float | str | None, Field(
    description="seconds (12.5) or HH:MM:SS(.mmm); none: the recording's start or end")]
VideoArg = Annotated[str, Field(description="the video's id or its path as list_videos lists it")]


def _time(value: float | str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ToolError(f"'{name}': {exc}") from None


def _span(start: float | str | None, end: float | str | None,
          duration_s: float) -> tuple[float, float]:
    start_s = _time(start, "start") or 0.0
    end_s = _time(end, "end")
    end_s = duration_s if end_s is None else min(end_s, duration_s)
    if start_s >= end_s:
        raise ToolError(f"the range {format_hms(start_s)}-{format_hms(end_s)} is empty; the "
                        f"recording lasts {format_hms(duration_s)}: give start < end within it")
    return start_s, end_s


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "arguments"
        parts.append(f"'{where}': {error.get('msg', 'invalid')}")
    return "; ".join(parts)


class VidqaMCP(MCPServer):
    """The SDK's server, with every failed call's text on one line: an argument that does
    not validate names the argument and what it must be (not pydantic's page), and vidqa's
    own errors (a video not served, not indexed, no model) keep their one line."""

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context | None = None):
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise  # a crash: the SDK logs its traceback and tells the client only the tool
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(f"{name}: {_one_line(cause)}") from None
            text = " ".join(str(exc).split())
            prefix = f"Error executing tool {name}: "  # the SDK's; the tool's name stays
            raise ToolError(f"{name}: {text[len(prefix):]}" if text.startswith(prefix)
                            else text) from None


class VideoTools:
    """What the tools do, over one service: plain methods (run in worker threads by the SDK),
    each raising `ToolError` with one line a model (or a person) can act on."""

    def __init__(self, service: Service):
        self.service = service

    def entry(self, ref: str):
        try:
            return self.service.entry(ref)
        except Refused as exc:
            raise ToolError(str(exc)) from None

    def _run(self, ref: str):
        """The indexed run of a served video; a tool error saying to index it first."""
        entry = self.entry(ref)
        try:
            run = self.service.run_of(entry)
        except VidqaError as exc:
            raise ToolError(str(exc)) from None
        if run is None:
            why = f" ({entry.error})" if entry.state == "failed" and entry.error else ""
            raise ToolError(f"'{entry.path}' is not indexed{why}; call index_video with "
                            f"video='{entry.id}' first")
        return entry, run

    def list_videos(self) -> dict:
        videos = []
        for item in self.service.videos():
            duration = item.get("duration_s")
            videos.append({
                "id": item["id"], "path": item["path"], "state": item["state"],
                "duration_s": duration, "duration": format_hms(duration) if duration else None,
                "has_picture": item.get("has_picture"), "error": item.get("error"),
                "transcript": f"vidqa://videos/{item['id']}/transcript",
                "events": f"vidqa://videos/{item['id']}/events"})
        return {"videos": videos, "model": self.service.model}

    def find(self, query: str | None, video: str | None, k: int,
             image: str | None = None) -> dict:
        if (query is None) == (image is None):
            raise ToolError("give 'query' (words to look for) or 'image' (a picture to find), "
                            "one of the two")
        asked: dict = {"query": query}
        if image is not None:
            data, name = _picture(image)
            try:
                query = self.service.picture(data, name)
            except Refused as exc:
                raise ToolError(str(exc)) from None
            asked = {"image": picture_about(data)}
        refs = [self._run(video)[0].id] if video else None  # indexing is index_video's
        try:
            found = self.service.find(query, refs, k=k)
        except Refused as exc:
            raise ToolError(str(exc)) from None
        hits = []
        for hit in found:
            entry = self.service.library.entry_of(hit.video)
            hits.append({"video": entry.id if entry else None,
                         "path": entry.path if entry else None,
                         "time_s": round(hit.time_s, 3), "time": format_hms(hit.time_s),
                         **when(hit.start_s, hit.end_s), "kind": hit.kind, "text": hit.text,
                         "score": round(hit.score, 4), "pinned_by": hit.refined_by})
        return {**asked, "hits": hits}

    def lines(self, video: str, start, end, *, said: bool,
              tracks: list[str] | None = None) -> dict:
        entry, run = self._run(video)
        start_s, end_s = _span(start, end, run.duration_s)
        if tracks:
            unknown = [t for t in tracks if t not in run.tracks]
            if unknown:
                raise ToolError(f"'{entry.path}' has no track {', '.join(unknown)}; it has "
                                f"{', '.join(run.tracks) or 'none'}")
        segments = run.said() if said else run.log(tracks)
        chosen = [s for s in segments if s.end_s > start_s and s.start_s < end_s]
        out = [{**when(s.start_s, s.end_s), "text": " ".join(s.text.split()),
                "source": s.source, "kind": s.kind} for s in chosen[:MAX_LINES]]
        doc = {"video": entry.id, "path": entry.path, "range": when(start_s, end_s),
               "lines": out}
        if len(chosen) > MAX_LINES:
            doc["note"] = (f"the first {MAX_LINES} of {len(chosen)} lines; ask for a shorter "
                           "range for the rest")
        if said and not any(cls.said_kinds for cls in track_classes(run.tracks)):
            why = "; ".join(run.warnings)
            doc["note"] = "no track that hears speech ran on this recording" + \
                (f" ({why})" if why else "")
        return doc

    def frames(self, video: str, times: list[float | str] | None, start, end,
               max_frames: int) -> list:
        entry, run = self._run(video)
        if not run.ingest.video.has_picture:
            raise ToolError(f"'{entry.path}' has no picture (a sound-only recording); read "
                            "what is said with transcript")
        if times:
            if start is not None or end is not None:
                raise ToolError("give 'times' or a range (start, end), not both")
            if len(times) > max_frames:
                raise ToolError(f"{len(times)} times asked for, more than max_frames "
                                f"({max_frames}); raise max_frames (at most {MAX_FRAMES}) or "
                                "ask for fewer times")
            wanted = [_time(t, "times") for t in times]
            late = [t for t in wanted if t >= run.duration_s]
            if late:
                raise ToolError(f"{format_hms(late[0])} is past the end of '{entry.path}' "
                                f"({format_hms(run.duration_s)})")
            shots = frames_at(self.service, run, wanted, entry.path)
            note = f"{len(shots)} frames at the times asked"
        else:
            start_s, end_s = _span(start, end, run.duration_s)
            kept = [kf for kf in run.ingest.keyframes
                    if start_s <= kf.pts_s < end_s and kf.image]
            chosen = thin(kept, max_frames)
            shots = [(kf.pts_s, run.ingest.image_path(kf).read_bytes()) for kf in chosen]
            note = (f"{len(chosen)} of the {len(kept)} key frames in "
                    f"{format_hms(start_s)}-{format_hms(end_s)}")
        content: list = [TextContent(type="text", text=f"{entry.path}: {note}")]
        for pts_s, jpeg in shots:
            content.append(TextContent(type="text",
                                       text=f"{timestamp_label(pts_s)} ({format_hms(pts_s)})"))
            content.append(ImageContent(type="image", data=_b64(jpeg), mime_type="image/jpeg"))
        return content

    def ask(self, video: str, question: str, scope: str) -> dict:
        if not question.strip():
            raise ToolError("the question is empty; ask something about the recording")
        if scope not in SCOPES:
            raise ToolError(f"scope '{scope}' is not one of {', '.join(SCOPES)}")
        entry, _ = self._run(video)  # indexing is index_video's (with progress, cancellable)
        try:
            found, answer = self.service.ask_entry(entry, question, scope=scope)
        except (Refused, VidqaError) as exc:
            raise ToolError(str(exc)) from None
        return {"video": found.id, "path": found.path, "answer": answer.text.strip(),
                "citations": [when(c.start_s, c.end_s) for c in answer.citations],
                "scope": scope, "strategy": answer.strategy, "model": answer.model,
                "warning": answer.warning}

    def transcript_vtt(self, video: str) -> str:
        from vidqa.tracks.writers import EventLog, WriteVTT

        _, run = self._resource_run(video)
        buffer = io.StringIO()
        WriteVTT().write(EventLog(run.video, run.duration_s, run.said()), buffer)
        return buffer.getvalue()

    def events_json(self, video: str) -> str:
        entry, run = self._resource_run(video)
        doc = run.event_log().to_dict()
        doc["video"] = entry.path  # as the library names it, not its place on this machine
        return json.dumps(doc, ensure_ascii=False, indent=1)

    def _resource_run(self, video: str):
        try:
            return self._run(video)
        except ToolError as exc:
            raise ResourceError(str(exc)) from None


def _picture(image: str) -> tuple[bytes, str]:
    """(bytes, name) of `find`'s `image`: a data URL, or the file's bytes in base64."""
    text = image.strip()
    if text[:5].lower() == "data:":
        try:
            return read_picture(text, "'image'")
        except Refused as exc:
            raise ToolError(str(exc)) from None
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ToolError("'image' is neither a data URL nor valid base64; send the PNG, JPEG or "
                        "WebP file's bytes in base64, or data:image/png;base64,...") from None
    form = picture_header(data)
    return data, picture_name(None, {"JPEG": "jpg"}.get(form[0], form[0].lower())
                              if form else "png")


def thin(items: list, count: int) -> list:
    """At most `count` of `items`, spread evenly (the first and the last kept)."""
    if len(items) <= count:
        return items
    if count == 1:
        return items[:1]
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def frames_at(service: Service, run, times: list[float],
              name: str) -> list[tuple[float, bytes]]:
    """(the frame's own time, its JPEG) of the first frame shown at or after each time, at
    the decode's picture size (`vidqa.media.decode.frame_at`); `name`: the video as errors
    name it."""
    import cv2

    from vidqa.media.decode import frame_at

    out = []
    for t in times:
        frame = frame_at(run.ingest.video, service.config.decode, t)
        ok, jpeg = cv2.imencode(".jpg", frame.bgr, [cv2.IMWRITE_JPEG_QUALITY, 90]) \
            if frame is not None else (False, None)
        if not ok:
            raise ToolError(f"no frame could be decoded at {format_hms(t)} of '{name}'; "
                            "try a time a little earlier, or key frames (no times)")
        out.append((frame.pts_s, jpeg.tobytes()))
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def create_mcp(service: Service) -> MCPServer:
    """The MCP server of `service`: its tools and resources (no transport yet)."""
    tools = VideoTools(service)
    mcp = VidqaMCP("vidqa", title="vidqa", version=__version__, instructions=INSTRUCTIONS,
                   log_level="WARNING")

    @mcp.tool(annotations=READ_ONLY)
    def list_videos() -> dict[str, Any]:
        """The recordings this server serves: id, path, state (indexed, not_indexed,
        indexing, failed), duration, whether it has a picture, and its resources."""
        return tools.list_videos()

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False,
                                          idempotentHint=True, openWorldHint=False))
    async def index_video(video: VideoArg, ctx: Context) -> dict[str, Any]:
        """Index a recording (decode, key frames, on-screen text, speech, captions with a
        model), reporting progress; what is already cached is read, not redone. Cancelling
        the call cancels the indexing it started."""
        return await index(service, tools, video, ctx)

    @mcp.tool(annotations=READ_ONLY)
    def find(query: Annotated[str | None, Field(
                 description="what to look for, in words")] = None,
             video: Annotated[str | None, Field(
                 description="one video's id or path; none: every indexed video")] = None,
             k: Annotated[int, Field(ge=1, le=100, description="hits to return")] = 5,
             image: Annotated[str | None, Field(
                 description="instead of query: a picture to find (a screenshot, a photo of "
                 "a slide, a crop of a frame), as data:image/png;base64,... or the PNG, JPEG "
                 "or WebP file's bytes in base64")] = None,
             ) -> dict[str, Any]:
        """When something is shown or said: ranked hits with their time (pinned to the
        second), kind (speech, text, event, summary), text and score. With image instead of
        query: where that picture is shown (kind picture, each showing pinned to its first
        frame; no hit when no frame shows it)."""
        return tools.find(query, video, k, image)

    @mcp.tool(annotations=READ_ONLY)
    def transcript(video: VideoArg, start: TimeArg = None, end: TimeArg = None,
                   ) -> dict[str, Any]:
        """What is said over a time range (all of it by default), line by line with times."""
        return tools.lines(video, start, end, said=True)

    @mcp.tool(annotations=READ_ONLY)
    def events(video: VideoArg, start: TimeArg = None, end: TimeArg = None,
               tracks: Annotated[list[str] | None, Field(
                   description="tracks to read (captions, ocr, speech); none: all")] = None,
               ) -> dict[str, Any]:
        """The event log over a time range: what happens when, from every track (captions'
        events, on-screen text, speech), in time order."""
        return tools.lines(video, start, end, said=False, tracks=tracks)

    @mcp.tool(annotations=READ_ONLY)
    def frames(video: VideoArg, start: TimeArg = None, end: TimeArg = None,
               times: Annotated[list[float | str] | None, Field(
                   description="exact times to show instead of key frames")] = None,
               max_frames: Annotated[int, Field(ge=1, le=MAX_FRAMES)] = DEFAULT_FRAMES,
               ) -> CallToolResult:
        """Pictures of the recording: its key frames over a time range (spread evenly, at
        most max_frames), or the frames at given times; each image follows its time as
        `<12.5 seconds> (00:00:12.500)`."""
        return CallToolResult(content=tools.frames(video, times, start, end, max_frames))

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=True))
    def ask(video: VideoArg, question: Annotated[str, Field(description="the question")],
            scope: Annotated[str, Field(description=f"how to answer: {', '.join(SCOPES)}")]
            = "chunks") -> dict[str, Any]:
        """Answer a question about one recording with the server's model, citing the time
        ranges the answer rests on (index_video it first; one indexed without the model's
        captions is captioned first)."""
        return tools.ask(video, question, scope)

    @mcp.resource("vidqa://videos/{video}/transcript", name="transcript", mime_type="text/vtt",
                  description="what is said in the video, as WebVTT")
    def transcript_resource(video: str) -> str:
        return tools.transcript_vtt(video)

    @mcp.resource("vidqa://videos/{video}/events", name="events",
                  mime_type="application/json",
                  description="the video's event log (vidqa events' JSON document)")
    def events_resource(video: str) -> str:
        return tools.events_json(video)

    return mcp


async def index(service: Service, tools: VideoTools, video: str,
                ctx: Context) -> dict[str, Any]:
    """Index one video, telling the client each stage's progress; a cancelled call cancels the
    job when this call started it (a job someone else started goes on)."""
    import anyio

    entry = await anyio.to_thread.run_sync(tools.entry, video)  # scans folders: off the loop
    run = await anyio.to_thread.run_sync(service.run_of, entry)
    if run is not None and not run.missing:
        return {"video": entry.id, "path": entry.path, "state": "indexed", "cached": True,
                "duration_s": run.duration_s, "duration": format_hms(run.duration_s),
                "tracks": {name: len(segs) for name, segs in run.tracks.items()}}
    job = await anyio.to_thread.run_sync(service.index, entry)  # held by this call
    version, shown = -1, -1.0
    try:
        while job.state in ("queued", "running"):
            version = await job.next_change(version, 5.0)
            done = job.fraction()
            if done > shown:
                shown = done
                await ctx.report_progress(done, None, job.stage_text() or job.state)
    finally:
        job.release()  # a cancelled call: the job stops unless someone else still wants it
    if job.state != "done":
        raise ToolError(job.error or f"indexing '{entry.path}' {job.state}")
    run = job.result
    return {"video": entry.id, "path": entry.path, "state": "indexed", "cached": False,
            "duration_s": run.duration_s, "duration": format_hms(run.duration_s),
            "tracks": {name: len(segs) for name, segs in run.tracks.items()},
            "warnings": list(job.warnings)}


def http_app(service: Service, mcp: MCPServer, *, host: str, api_key: str | None = None,
             allowed_hosts: tuple[str, ...] = (), cors_origins: tuple[str, ...] = ()) -> Any:
    """The streamable HTTP transport at `/mcp`, behind vidqa's guard (as `vidqa serve` is):
    the Host must name this server, another site's page is refused, the key when one is set,
    the body limit. The SDK checks the rest of the transport (JSON only as JSON, the session
    header, Accept)."""
    from mcp.server.transport_security import TransportSecuritySettings

    from vidqa.serve.guard import guarded

    settings = service.config.serve
    limit = int(settings.max_body_mb * 2**20)
    app = mcp.streamable_http_app(
        streamable_http_path="/mcp", host=host, max_request_body_size=limit,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    return guarded(app, host=host, allowed_hosts=tuple(allowed_hosts or settings.allowed_hosts),
                   cors_origins=tuple(cors_origins or settings.cors_origins), api_key=api_key,
                   max_body_bytes=limit, max_upload_bytes=limit, public=(), page_files=())
