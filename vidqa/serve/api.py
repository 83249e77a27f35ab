"""The OpenAI-compatible API: vidqa's whole pipeline as a model any OpenAI client can call.

    client = openai.OpenAI(base_url="http://127.0.0.1:8765/v1", api_key="...")
    client.chat.completions.create(model="vidqa", messages=[{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": "talks/keynote.mp4"}},
        {"type": "text", "text": "When is the budget shown?"}]}])

The user message names a served video (a `video_url` or `video` item holding its path as
`/api/videos` lists it, `vidqa://ID`, its id, or a `file://` URL or absolute path inside the
served folders; a sound-only recording likewise, or as an `audio_url` item), or sends one (a
`data:video/...;base64,` URL, `input_audio`), or only frames (`image_url` data URLs, as
lmms-eval sends them: answered from in order, with no times), and asks in text (what each
shape gives: `vidqa.serve.given`; what vidqa did: the response's `vidqa.input`). vidqa indexes
the video when it is not indexed, retrieves, and answers with the server's model; the reply's
text ends with the cited times, and the response carries them as data too
(`vidqa.citations`). A question with lettered options that asks for the letter ("Answer with
the option's letter") is answered with the letter alone, the model's own reply kept in
`vidqa.reply`; `"vidqa": {"answer": "letter"}` in the request asks for that too, and
`"vidqa": {"scope": "all"}` answers from every chunk summary. `POST /v1/find` searches
(`{"query": ..., "video": ...}`), finds where a picture is shown (`{"image_url":
"data:image/png;base64,...", ...}`), or looks up where the wall clock burned into the picture
shows a time (`{"at": "2024-12-05 12:01:30", ...}`).
"""

from __future__ import annotations

import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from vidqa.errors import BackendError, VidqaError
from vidqa.serve.given import picture_about, read_picture, read_request
from vidqa.serve.http import heartbeat_while, read_json, service_of, sse, threaded
from vidqa.serve.library import Refused
from vidqa.scopes import SCOPES
from vidqa.timecode import format_hms, seconds_and_hms

MODEL = "vidqa"


def model_ids(service) -> list[str]:
    """`vidqa` (retrieval, then the model's answer) and `vidqa-all` (from every summary)."""
    return [MODEL, f"{MODEL}-all"]


def _model_card(name: str, created: int) -> dict:
    return {"id": name, "object": "model", "created": created, "owned_by": "vidqa"}


async def models(request: Request) -> Response:
    service = service_of(request)
    return JSONResponse({"object": "list", "data": [_model_card(m, int(service.started))
                                                    for m in model_ids(service)]})


async def model(request: Request) -> Response:
    service = service_of(request)
    name = request.path_params["model"]
    if name not in model_ids(service):
        raise Refused(f"the model '{name}' does not exist here; GET /v1/models lists "
                      f"{', '.join(model_ids(service))}", 404, "model_not_found")
    return JSONResponse(_model_card(name, int(service.started)))


def citation_data(entry, citation, *, served: bool = True) -> dict:
    """A cited time range as data; `url` seeks the page's player (None for a video the page
    does not serve: one sent inside the request)."""
    return {**seconds_and_hms(citation.start_s, citation.end_s),
            "url": f"/#v={entry.id}&t={citation.start_s:g}" if served else None}


def answer_content(entry, answer, letter: str | None) -> str:
    """What the reply says: the letter alone for a multiple-choice request, else the answer
    followed by the times it rests on (none for frames given without a video)."""
    if letter is not None:
        return letter
    cited = ", ".join(f"{format_hms(c.start_s)}-{format_hms(c.end_s)}" for c in answer.citations)
    return answer.text.strip() + (f"\n\nSources: {entry.path} {cited}"
                                  if cited and entry is not None else "")


async def chat_completions(request: Request) -> Response:
    from vidqa.model.choices import asks_for_letter, extract_letter, parse_options

    service = service_of(request)
    body = await read_json(request)
    name = body.get("model") or MODEL
    if name not in model_ids(service):
        raise Refused(f"the model '{name}' does not exist here; use one of "
                      f"{', '.join(model_ids(service))} (GET /v1/models)", 404,
                      "model_not_found")
    extras = body.get("vidqa") if isinstance(body.get("vidqa"), dict) else {}
    scope = extras.get("scope") or ("all" if name.endswith("-all") else "chunks")
    if scope not in SCOPES:
        raise Refused(f"scope '{scope}' is not one of {', '.join(SCOPES)}", 400,
                      "invalid_scope")
    given = read_request(body)
    question, media, entry, frames = given.question, given.media, None, []
    if media is not None and media.served:  # a bad name is an error before any work
        entry = await threaded(service.entry_given, media)
    service.need_model()
    if media is not None and not media.served:  # sent inside the request: kept, probed
        entry = await threaded(service.entry_given, media)
    elif media is None:
        frames = await threaded(service.frame_files, given.frames)
    options = parse_options(question)
    wants_letter = bool(options) and (extras.get("answer") == "letter"
                                      or asks_for_letter(question))
    created, reply_id = int(time.time()), f"chatcmpl-{uuid.uuid4().hex[:24]}"

    def work() -> tuple[str, dict]:
        if entry is not None:
            found, answer = service.ask_entry(entry, question, scope=scope)
        else:
            found, answer = None, service.ask_frames(frames, question)
        letter = extract_letter(answer.text, options) if wants_letter else None
        data = {"video": {"id": found.id, "path": found.path} if found else None,
                "citations": [citation_data(found, c, served=bool(media and media.served))
                              for c in answer.citations],
                "chunks": answer.chunks, "model": answer.model,
                "scope": scope if found else "frames",
                "warning": answer.warning, "input": given.described(answer.frames_sent)}
        if wants_letter:
            data.update(letter=letter, reply=answer.text)
            if letter is None:
                data["warning"] = "no option letter found in the model's reply; it is given whole"
        return answer_content(found, answer, letter), data

    if not body.get("stream"):
        content, data = await threaded(work)
        return JSONResponse({
            "id": reply_id, "object": "chat.completion", "created": created, "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop", "logprobs": None}],
            "vidqa": data})

    def chunk(delta: dict, finish: str | None = None, **more) -> bytes:
        return sse({"id": reply_id, "object": "chat.completion.chunk", "created": created,
                    "model": name, "choices": [{"index": 0, "delta": delta,
                                                "finish_reason": finish, "logprobs": None}],
                    **more})

    def progress() -> str:
        job = next((j for j in service.jobs.all() if entry is not None
                    and j.video == entry.id and j.state in ("queued", "running")), None)
        stage = job.stage_text() if job is not None else None
        return f"indexing: {stage}" if stage else "working"

    async def stream():
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for part in heartbeat_while(work, note=progress):
                if isinstance(part, bytes):
                    yield part
                    continue
                content, data = part
        except VidqaError as exc:
            status = getattr(exc, "status", 502 if isinstance(exc, BackendError) else 422)
            yield sse({"error": {"message": str(exc), "type": "invalid_request_error"
                                 if status < 500 else "server_error",
                                 "param": None, "code": getattr(exc, "code", "video_error")}})
            return
        for piece in _pieces(content):
            yield chunk({"content": piece})
        yield chunk({}, "stop", vidqa=data)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _pieces(text: str, size: int = 24) -> list[str]:
    """The reply in small pieces, split after spaces, as a token stream would come."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.rfind(" ", start, end) if end < len(text) else -1
        end = space + 1 if space > start else end
        pieces.append(text[start:end])
        start = end
    return pieces


async def find(request: Request) -> Response:
    """`{"query": TEXT, "video": ID|PATH | "videos": [...], "k": 5, "refine": true}`: hits
    with their video, time and text (every indexed video when none is named).
    `{"image_url": "data:image/png;base64,..." | {"url": ..., "name": "slide.png"}, ...}`
    instead of a query: where that picture is shown (hits of kind "picture", each pinned to
    the first sampled frame of a showing; none when no frame shows it).
    `{"at": "2024-12-05 12:01:30", "video": ...}` instead of a query: where the wall clock
    burned into the picture shows that time (`vidqa find --at --json`'s document, with
    `"object": "clock"` and each video's id and path)."""
    service = service_of(request)
    body = await read_json(request)
    query, at, image = body.get("query"), body.get("at"), body.get("image_url")
    given = [name for name, value in (("query", query), ("at", at), ("image_url", image))
             if value is not None]
    if len(given) > 1:
        which = f"'{given[0]}' or '{given[1]}', not both" if len(given) == 2 else \
            "one of 'query', 'image_url' and 'at', not all three"
        raise Refused(f"give {which}: 'query' searches what is shown and said, 'image_url' "
                      "finds where a picture is shown, 'at' looks a wall-clock time up", 400,
                      "invalid_query")
    refs = body.get("videos") if body.get("videos") is not None else (
        [body["video"]] if body.get("video") is not None else None)
    if refs is not None and (not isinstance(refs, list) or not all(isinstance(r, str)
                                                                    for r in refs)):
        raise Refused("'video' must be a video's path or id ('videos': a list of them)", 400,
                      "invalid_video")
    if at is not None:
        if not isinstance(at, str):
            raise Refused("'at' must be a wall-clock time as text, e.g. \"2024-12-05 "
                          "12:01:30\"", 400, "invalid_at")
        return JSONResponse({"object": "clock", **await threaded(service.clock, at, refs)})
    if image is None and not isinstance(query, str):
        raise Refused("'query' must be the text to look for (or 'image_url': a picture as a "
                      "data URL; 'at': a wall-clock time)", 400, "invalid_query")
    k = body.get("k", 5)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise Refused("'k' must be a whole number from 1 to 100", 400, "invalid_k")
    asked: dict = {"query": query}
    if image is not None:
        sent, name = read_picture(image)
        query = await threaded(service.picture, sent, name)  # checked, decoded, described
        asked = {"image": {"name": name, **picture_about(sent)}}
    found = await threaded(service.find, query, refs, k=k, refine=body.get("refine", True)
                           is not False)
    hits = []
    for hit in found:
        entry = service.library.entry_of(hit.video)
        data = hit.to_dict()
        data.pop("video")
        hits.append({"video": entry.id if entry else None, "path": entry.path if entry else None,
                     "time": format_hms(hit.time_s), **data})
    return JSONResponse({"object": "list", **asked, "data": hits})

