"""What the routes of `vidqa serve` share: the service they serve, blocking work in threads,
JSON bodies taken only as JSON, and server-sent events."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from vidqa.serve.library import Refused

if TYPE_CHECKING:
    from vidqa.serve.service import Service

STATIC = Path(__file__).parent / "static"


def service_of(request: Request) -> Service:
    """The `Service` a route serves."""
    return request.app.state.service


async def threaded(func, *args, **kwargs):
    """Run blocking pipeline work in the thread pool."""
    return await run_in_threadpool(func, *args, **kwargs)


def is_json(content_type: str) -> bool:
    """Whether a Content-Type says JSON (`application/json`, `application/x+json`)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


async def read_json(request: Request) -> dict:
    """The request's JSON object, or an error that says what is wrong: 415 for a body sent as
    anything but JSON (a form, `text/plain`: what another site's page can send unasked), 400
    for a body that is not a JSON object."""
    if not is_json(request.headers.get("content-type", "")):
        raise Refused("send the body as JSON with 'Content-Type: application/json' (got "
                      f"{request.headers.get('content-type') or 'none'})", 415,
                      "unsupported_media_type")
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(f"the request body is not JSON ({exc}); send a JSON object", 400,
                      "invalid_json") from None
    if not isinstance(body, dict):
        raise Refused("the request body must be a JSON object", 400, "invalid_json")
    return body


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def heartbeat_while(work, *, every_s: float = 5.0, note=None):
    """Run `work()` in a thread; yield SSE comments every `every_s` while it runs (so a client
    and the proxies between keep the stream open), then the result (or raise its error)."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, work)
    while True:
        done, _ = await asyncio.wait({future}, timeout=every_s)
        if done:
            break
        yield (f": {note() if note else 'working'}\n\n").encode()
    yield future.result()
