"""The HTTP side of `vidqa serve`: the page, its JSON API, and the OpenAI-compatible API.

Built on Starlette (the ASGI toolkit FastAPI is made of: small, typed, maintained, with range
requests in `FileResponse`, streaming responses for server-sent events and a test client) and
served by uvicorn (the reference ASGI server; its pure-Python h11 protocol needs nothing
compiled). vidqa's API is a handful of routes validated by hand, so FastAPI's model layer
would add pydantic and little else.

The guards (`vidqa.serve.guard`) run before any route: the `Host` must name this server, a
request another site's page sent is refused (CORS is off unless origins are named), the API
key when one is set, body limits. Errors have OpenAI's shape: `{"error": {"message", "type",
"param", "code"}}`. The routes live in `vidqa.serve.pages` (the page's API) and
`vidqa.serve.api` (OpenAI's and vidqa's); what they share, in `vidqa.serve.http`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vidqa.errors import BackendError, VidqaError
from vidqa.serve import api, pages
from vidqa.serve.guard import TooLarge, mib, error_response, guarded
from vidqa.serve.http import STATIC
from vidqa.serve.library import Refused
from vidqa.serve.service import Service

def create_app(service: Service, *, api_key: str | None = None,
               cors_origins: tuple[str, ...] = (), max_body_mb: float | None = None,
               max_upload_mb: float | None = None, host: str | None = None,
               allowed_hosts: tuple[str, ...] = ()) -> Any:
    """The ASGI application serving `service` behind the guards (`vidqa.serve.guard`); the
    address it listens on (`host`), the extra host names, origins and limits default to the
    service's settings."""
    settings = service.config.serve
    routes = [
        Route("/", pages.index),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/api/session", pages.session, methods=["POST"]),
        Route("/api/videos", pages.videos),
        Route("/api/videos/{video}", pages.video),
        Route("/api/videos/{video}/media", pages.media),
        Route("/api/videos/{video}/timeline", pages.timeline),
        Route("/api/videos/{video}/transcript", pages.transcript),
        Route("/api/videos/{video}/keyframes/{name}", pages.keyframe),
        Route("/api/videos/{video}/index", pages.index_video, methods=["POST"]),
        Route("/api/jobs/{job}", pages.job),
        Route("/api/jobs/{job}/events", pages.job_events),
        Route("/api/upload/{name}", pages.upload, methods=["PUT", "POST"]),
        Route("/v1/models", api.models),
        Route("/v1/models/{model:path}", api.model),
        Route("/v1/chat/completions", api.chat_completions, methods=["POST"]),
        Route("/v1/find", api.find, methods=["POST"]),
    ]

    async def refused(request: Request, exc: Refused) -> Response:
        return error_response(exc.status, str(exc), exc.code)

    async def too_large(request: Request, exc: TooLarge) -> Response:
        return error_response(413, f"the request body is larger than this server's limit of "
                              f"{mib(exc.limit)}", "body_too_large")

    async def backend_failed(request: Request, exc: BackendError) -> Response:
        return error_response(502, str(exc), "model_error")

    async def failed(request: Request, exc: VidqaError) -> Response:
        return error_response(422, str(exc), "video_error")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = exc.detail if exc.status_code != 404 else \
            f"no route {request.url.path}; see /v1/models, /v1/chat/completions, /v1/find, " \
            "/api/videos"
        return error_response(exc.status_code, message, code, headers=exc.headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # An OSError's text names the file with the server's own path: its reason alone.
        first = (exc.strerror or "") if isinstance(exc, OSError) else \
            (str(exc).splitlines() or [""])[0]
        return error_response(500, f"unexpected {type(exc).__name__}: {first}", "server_error")

    app = Starlette(routes=routes, exception_handlers={
        Refused: refused, TooLarge: too_large, BackendError: backend_failed,
        VidqaError: failed, HTTPException: http_error, Exception: unexpected})
    app.state.service = service
    app.state.api_key = api_key
    app.state.max_upload_bytes = int((max_upload_mb or settings.max_upload_mb) * 2**20)
    return guarded(app, host=host or settings.host,
                   allowed_hosts=tuple(allowed_hosts or settings.allowed_hosts),
                   cors_origins=tuple(cors_origins or settings.cors_origins), api_key=api_key,
                   max_body_bytes=int((max_body_mb or settings.max_body_mb) * 2**20),
                   max_upload_bytes=app.state.max_upload_bytes)


class Server:
    """A running server in a background thread (tests, notebooks): `url`, `close()`."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.socket = bind(host, port)
        self.host, self.port = self.socket.getsockname()[:2]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       daemon=True, name="vidqa-server")
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise VidqaError("the server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (0: a free port), or a VidqaError with the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so that asyncio turns Nagle off on every connection it accepts (it
    # does only for sockets whose protocol says TCP): else a kept-alive client waits ~40 ms
    # for each response body.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise VidqaError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another "
                         "--port (0: any free one) or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
