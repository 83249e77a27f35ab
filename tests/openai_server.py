"""A real, tiny OpenAI-compatible HTTP server on 127.0.0.1 for backend tests.

    server = OpenAIServer()
    with server as base_url:          # "http://127.0.0.1:PORT/v1"
        ...                           # talk to it with the official client
        server.requests               # every chat request body (parsed JSON), in arrival order

It speaks `POST /v1/chat/completions` and `GET /v1/models`, wants `Authorization: Bearer secret`,
and serves three models:

- `tiny-vl` answers like a captioner that read the `<t seconds>` labels: a `<think>` block, then a
  ```json fence holding {"summary": ..., "events": [{"start_s", "end_s", "text"}, ...]};
- `flaky-vl` answers 429 (retry-after: 0) to its first request, then like `tiny-vl`;
- `broken-vl` answers 500 to its first request, then like `tiny-vl`.

An unknown model gets a 404 `model_not_found`, more than 8 images a 400 `context_length_exceeded`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "secret"
MODELS = ("tiny-vl", "flaky-vl", "broken-vl")
MAX_IMAGES = 8
_LABEL = re.compile(r"<(\d+(?:\.\d+)?) seconds>")


def _error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _items(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def caption_reply(body: dict[str, Any]) -> str:
    """What a model that read the timestamps of the last user message would write."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    items = _items(users[-1]) if users else []
    texts = [i.get("text", "") for i in items if i.get("type") == "text"]
    times = [float(m.group(1)) for text in texts for m in _LABEL.finditer(text)]
    summary = (f"{len(times)} frames from {times[0]} s to {times[-1]} s" if times else "no frames")
    events = [{"start_s": t, "end_s": t + 1.0, "text": f"frame at {t} s"} for t in times]
    caption = json.dumps({"summary": summary, "events": events}, indent=2)
    return f"<think>reasoning</think>\n```json\n{caption}\n```"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep stderr quiet
        pass

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {API_KEY}":
            return True
        self._send(401, _error("Incorrect API key provided.", "invalid_request_error",
                               "invalid_api_key"))
        return False

    def do_GET(self) -> None:
        self.server.record(self, None)
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/models":
            self._send(404, _error(f"Not found: {self.path}", "invalid_request_error"))
            return
        self._send(200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "vidqa-tests"} for m in MODELS]})

    def do_POST(self) -> None:
        # Read the whole body before answering, even a refusal: closing on unread data resets.
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self.server.record(self, body)
        if not self._authorised():
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, _error(f"Not found: {self.path}", "invalid_request_error"))
            return
        if not isinstance(body, dict):
            self._send(400, _error("Request body is not JSON.", "invalid_request_error"))
            return
        model = body.get("model")
        if model not in MODELS:
            self._send(404, _error(f"The model `{model}` does not exist.", "invalid_request_error",
                                   "model_not_found"))
            return
        first = self.server.count(model) == 1
        if model == "flaky-vl" and first:
            self._send(429, _error("Rate limit reached for flaky-vl.", "rate_limit_error",
                                   "rate_limit_exceeded"), {"retry-after": "0"})
            return
        if model == "broken-vl" and first:
            self._send(500, _error("The server had an error while processing your request.",
                                   "server_error"))
            return
        items = [i for m in body.get("messages", []) for i in _items(m)]
        images = sum(1 for i in items if i.get("type") == "image_url")
        if images > MAX_IMAGES:
            self._send(400, _error("This model's maximum context length is 4096 tokens. However, "
                                   "you requested 9000 tokens (8976 in the messages, 24 in the "
                                   "completion). Please reduce the length of the messages.",
                                   "invalid_request_error", "context_length_exceeded"))
            return
        content = caption_reply(body)
        prompt_tokens = 100 * images + sum(len(i.get("text", "").split()) for i in items)
        completion_tokens = len(content.split())
        self._send(200, {
            "id": f"chatcmpl-test{self.server.count(None)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []  # chat request bodies
        self.hits: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)

    def record(self, handler: _Handler, body: Any) -> None:
        with self.lock:
            self.hits.append((handler.command, handler.path, handler.headers.get("Authorization")))
            if handler.command == "POST" and body is not None:
                self.requests.append(body)

    def count(self, model: str | None) -> int:
        """How many chat requests (for `model`, or all) arrived so far."""
        with self.lock:
            return sum(1 for b in self.requests
                       if model is None or (isinstance(b, dict) and b.get("model") == model))


class OpenAIServer:
    """Context manager: start on a free port, yield the base URL, stop cleanly on exit."""

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A copy of every chat request body received, in order."""
        assert self._server is not None, "server not started"
        with self._server.lock:
            return list(self._server.requests)

    @property
    def hits(self) -> list[tuple[str, str, str | None]]:
        """(method, path, Authorization header) of every request received, in order."""
        assert self._server is not None, "server not started"
        with self._server.lock:
            return list(self._server.hits)

    def __enter__(self) -> str:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="openai-test-server")
        self._thread.start()
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
