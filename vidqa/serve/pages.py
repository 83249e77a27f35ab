"""The page and the JSON routes it calls: the library, the player's media, the timeline, key
frames, indexing jobs with live progress (server-sent events) and uploads."""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from vidqa.serve.http import STATIC, service_of, sse, threaded
from vidqa.serve.guard import COOKIE, bearer_token, error_response, key_matches
from vidqa.serve.library import Refused

KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream

# The Content-Type of each file the library serves, by extension: not the system's mime.types,
# which varies by machine and calls .ts a Qt translation (text/...) and knows no .mka or .weba.
MEDIA_TYPES = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska", ".webm": "video/webm", ".avi": "video/x-msvideo",
    ".flv": "video/x-flv", ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".ts": "video/mp2t",
    ".mts": "video/mp2t", ".m2ts": "video/mp2t", ".wmv": "video/x-ms-wmv",
    ".3gp": "video/3gpp", ".ogv": "video/ogg",
    ".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac",
    ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".aac": "audio/aac",
    ".wma": "audio/x-ms-wma", ".aif": "audio/aiff", ".aiff": "audio/aiff",
    ".mka": "audio/x-matroska", ".weba": "audio/webm", ".amr": "audio/amr",
}
# A sound-only file in a container named for video (a meeting's .webm or .mp4) is sound.
SOUND_TYPES = {"video/mp4": "audio/mp4", "video/webm": "audio/webm", "video/ogg": "audio/ogg",
               "video/x-matroska": "audio/x-matroska", "video/3gpp": "audio/3gpp"}


def media_type(entry) -> str:
    """The Content-Type the player gets for a served file."""
    kind = MEDIA_TYPES.get(entry.file.suffix.lower(), "application/octet-stream")
    return SOUND_TYPES.get(kind, kind) if entry.info.get("has_picture") is False else kind


class MediaFile(FileResponse):
    """A file with range requests whose refusals (400 for a malformed `Range`, 416 for one past
    the end) come in the API's JSON error shape, not Starlette's plain text."""

    async def __call__(self, scope, receive, send):
        refused: dict = {}

        async def relay(message):
            if message["type"] == "http.response.start" and message["status"] in (400, 416):
                refused["status"] = message["status"]
                refused["headers"] = {k.decode("latin-1"): v.decode("latin-1")
                                      for k, v in message["headers"]
                                      if k.lower() == b"content-range"}
                return
            if refused:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    status = refused["status"]
                    text = ("the Range header asks for bytes past the end of the file"
                            if status == 416 else "the Range header is malformed")
                    await error_response(status, f"{text}; ask for bytes=START-END within "
                                         "the file's size", "invalid_range",
                                         headers=refused["headers"])(scope, receive, send)
                return
            await send(message)

        await super().__call__(scope, receive, relay)


async def _entry(request: Request):
    return await threaded(service_of(request).entry, request.path_params["video"])


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def session(request: Request) -> Response:
    """Trade the API key (as a bearer token) for a cookie, so the page's <video> and event
    streams, which cannot send headers, are let in too."""
    key = request.app.state.api_key
    if not key:
        return JSONResponse({"ok": True, "key_needed": False})
    if not key_matches(bearer_token(request.headers.get("authorization", "")), key):
        return error_response(401, "wrong API key", "invalid_api_key")
    response = JSONResponse({"ok": True, "key_needed": True})
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict")
    return response


async def videos(request: Request) -> Response:
    service = service_of(request)
    listed = await threaded(service.videos)
    return JSONResponse({"videos": listed, "model": service.model,
                         "jobs": [j.to_dict() for j in service.jobs.all()
                                  if j.state in ("queued", "running")]})


def _detail(entry) -> dict:
    base = f"/api/videos/{entry.id}"
    playable = entry.info.get("playable", True)
    return {**entry.to_dict(), "media_url": base + "/media" + ("" if playable else "?proxy=1"),
            "proxy_url": base + "/media?proxy=1"}


async def video(request: Request) -> Response:
    entry = await _entry(request)
    if "start_offset_s" not in entry.info:  # not probed yet by the background check
        await threaded(service_of(request).check, entry)
    return JSONResponse(_detail(entry))


async def media(request: Request) -> Response:
    """The file (range requests, so the player seeks in large files), or with `proxy=1` a copy
    that every browser plays (H.264 .mp4; AAC .m4a for a sound-only file), made on first
    request."""
    service = service_of(request)
    entry = await _entry(request)
    nosniff = {"X-Content-Type-Options": "nosniff"}
    if request.query_params.get("proxy") in ("1", "true"):
        path = await threaded(service.proxy, entry)
        return MediaFile(path, media_type="audio/mp4" if path.suffix == ".m4a" else "video/mp4",
                         headers=nosniff)
    return MediaFile(entry.file, media_type=media_type(entry), headers=nosniff)


def _float(request: Request, name: str) -> float | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise Refused(f"{name}={value!r} is not a number of seconds", 400, "invalid_value") \
            from None


async def _run(request: Request):
    service = service_of(request)
    entry = await _entry(request)
    run = await threaded(service.run_of, entry)
    if run is None:
        raise Refused(f"'{entry.path}' is not indexed yet; POST /api/videos/{entry.id}/index "
                      "(the page's Index button) or run `vidqa index`", 409, "not_indexed")
    return entry, run


async def timeline(request: Request) -> Response:
    from vidqa.serve.timeline import timeline as summary

    entry, run = await _run(request)
    bins = _float(request, "bins")
    data = await threaded(summary, run, bins=int(bins or 1500), start_s=_float(request, "start_s"),
                          end_s=_float(request, "end_s"))
    return JSONResponse({"video": entry.id, **data})


async def transcript(request: Request) -> Response:
    entry, run = await _run(request)
    return JSONResponse({"video": entry.id, "segments": [
        {"start_s": s.start_s, "end_s": s.end_s, "text": s.text} for s in run.said()]})


async def keyframe(request: Request) -> Response:
    entry = await _entry(request)
    path = await threaded(service_of(request).keyframe, entry, request.path_params["name"])
    return FileResponse(path, media_type="image/jpeg",
                        headers={"Cache-Control": "max-age=86400, immutable"})


async def index_video(request: Request) -> Response:
    service = service_of(request)
    entry = await _entry(request)
    if entry.state == "indexed" and not entry.info.get("missing"):
        return JSONResponse({"video": entry.id, "state": "indexed", "job": None})
    job = service.index(entry)
    return JSONResponse({"video": entry.id, "state": entry.state, "job": job.to_dict()},
                        status_code=202)


def _job(request: Request):
    job = service_of(request).jobs.get(request.path_params["job"])
    if job is None:
        raise Refused(f"no job '{request.path_params['job']}'", 404, "not_found")
    return job


async def job(request: Request) -> Response:
    return JSONResponse(_job(request).to_dict())


async def job_events(request: Request) -> Response:
    """The job's progress as server-sent events: `progress` on every change (at most five a
    second while a stage counts), then `done`, `failed` or `cancelled`. The stream waits for
    the job's next change (`Job.next_change`: no polling, no thread held) and sends a
    keep-alive comment after KEEPALIVE_S without one."""
    job = _job(request)

    async def stream():
        version = -1
        while True:
            if job.version != version:
                version = job.version  # read first: a change while sending wakes the wait
                finished = job.state in ("done", "failed", "cancelled")
                yield sse(job.to_dict(), job.state if finished else "progress")
                if finished:
                    return
            else:
                yield b": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await job.next_change(version, KEEPALIVE_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def upload(request: Request) -> Response:
    """A video sent as the request body (the page's file picker). The name is checked before
    anything is written; the body goes to a store temporary beside the target in the first
    served folder (`vidqa.store.temp_path`: `.tmp-upload-<pid>@<host>-<random>.part`, so a
    killed server's leftover is removed by the next `clean_stale` there, the next upload's
    included), bounded by the upload limit; it must be a file vidqa reads (probed), then it is
    linked into place (never over a file that appeared meanwhile: 409) with the folder's usual
    permissions. The temporary never stays."""
    from vidqa.store import temp_path

    service = service_of(request)
    target = await threaded(service.library.upload_target, request.path_params["name"])
    partial = await threaded(temp_path, target, ".part", tag="upload")
    try:
        try:
            # "xb": 0666 less the umask, as any new file; opened and written off the event loop
            handle = await threaded(open, partial, "xb")
            with handle:
                async for block in request.stream():
                    await threaded(handle.write, block)
        except OSError as exc:
            raise _write_refused(exc, target.name) from None
        if os.path.getsize(partial) == 0:
            raise Refused("the upload is empty; send the video's bytes as the body", 400,
                          "empty_upload")
        await threaded(service.accept_upload, partial, target)
    finally:
        partial.unlink(missing_ok=True)
    service.library.scan(force=True)
    entry = await threaded(service.entry, target.name if len(service.library.roots) == 1
                           else f"{service.library.prefixes[0]}/{target.name}")
    return JSONResponse(entry.to_dict(), status_code=201)


def _write_refused(exc: OSError, name: str) -> Refused:
    """An upload that could not be written, in words that name the upload, not the server's
    folders."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Refused(f"no space is left on the server's disk for '{name}'; free space there "
                       "and upload again", 507, "insufficient_storage")
    return Refused(f"the server cannot write '{name}' into its folder ({exc.strerror}); check "
                   "the folder's permissions", 500, "write_failed")
