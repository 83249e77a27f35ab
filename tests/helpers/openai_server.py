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

`OpenAIServer(misbehaving=True)` also serves the models of `MISBEHAVING`, each answering chat
requests in one way a real server went wrong (the hostile-input tests use them):

- `huge-vl`: 200 with ~10 MB of valid JSON, 80,000 events in the caption (max_tokens ignored);
- `runaway-vl`: a valid caption, but usage says it wrote 4x the max_tokens asked for;
- `prose-vl`: prose, never JSON; `many-vl`: 500 events in the chunk, usage within the limit;
- `dupes-vl`: one event 50 times over, plus events far outside the frames' times;
- `notjson-vl`: `Content-Type: application/json` with an HTML body;
- `drop-vl`: headers for 50,000 bytes, then 100 bytes, then the connection closes;
- `hangup-vl`: closes the connection without a reply;
- `silent-vl`: never answers (until the server stops).

`server.cure(model)` makes a misbehaving model answer like `tiny-vl` from then on.

A pool's tests use two more ways to go wrong, for every model: `OpenAIServer(delay_s=0.5)`
answers each chat request that much later (a slow server), and `OpenAIServer(die_after=3)`
answers three chat requests, then hangs up on the fourth and stops listening (a server that
crashed mid-run: later connections are refused). `server.answered` counts the chat requests
it answered with a caption.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "secret"
MODELS = ("tiny-vl", "flaky-vl", "broken-vl")
MISBEHAVING = ("huge-vl", "runaway-vl", "prose-vl", "many-vl", "dupes-vl", "notjson-vl",
               "drop-vl", "hangup-vl", "silent-vl")
MAX_IMAGES = 8
_LABEL = re.compile(r"<(\d+(?:\.\d+)?) seconds>")


def _error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _items(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def frame_times(body: dict[str, Any]) -> list[float]:
    """The `<t seconds>` labels of the first user message (the frames shown)."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    items = _items(users[0]) if users else []
    texts = [i.get("text", "") for i in items if i.get("type") == "text"]
    return [float(m.group(1)) for text in texts for m in _LABEL.finditer(text)]


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

    def _send(self, status: int, payload: dict[str, Any] | bytes,
              headers: dict[str, str] | None = None):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
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
            {"id": m, "object": "model", "created": 0, "owned_by": "vidqa-tests"}
            for m in self.server.models]})

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
        if model not in self.server.models:
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
        if model in MISBEHAVING and model not in self.server.cured:
            self._misbehave(model, body)
            return
        if self.server.die_after is not None and self.server.count(None) > self.server.die_after:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            self.server.die()
            return
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        content = caption_reply(body)
        with self.server.lock:
            self.server.answered += 1
        prompt_tokens = 100 * images + sum(len(i.get("text", "").split()) for i in items)
        self._send(200, self._completion(model, content, prompt_tokens, len(content.split())))

    def _completion(self, model: str, content: str, prompt_tokens: int | None,
                    completion_tokens: int | None) -> dict[str, Any]:
        reply = {"id": f"chatcmpl-test{self.server.count(None)}", "object": "chat.completion",
                 "created": int(time.time()), "model": model,
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}]}
        if prompt_tokens is not None and completion_tokens is not None:
            reply["usage"] = {"prompt_tokens": prompt_tokens,
                              "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens}
        return reply

    def _misbehave(self, model: str, body: dict[str, Any]) -> None:
        times = frame_times(body) or [0.0]
        limit = int(body.get("max_tokens") or 1024)
        if model == "huge-vl":
            events = [{"start_s": times[0] + (i % 50) * 0.01, "end_s": times[0] + 1,
                       "text": f"event number {i} of a runaway reply"} for i in range(80_000)]
            content = json.dumps({"summary": "everything", "events": events})
            self._send(200, self._completion(model, content, 100, len(content) // 4))
        elif model == "runaway-vl":
            self._send(200, self._completion(model, caption_reply(body), 100, 4 * limit))
        elif model == "prose-vl":
            self._send(200, self._completion(model, "The video shows people talking in a room.",
                                             100, 9))
        elif model == "many-vl":
            events = [{"start_s": times[0], "end_s": times[0] + 1, "text": f"thing {i}"}
                      for i in range(500)]
            self._send(200, self._completion(model, json.dumps({"summary": "busy",
                                                                "events": events}), 100, limit))
        elif model == "dupes-vl":
            same = {"start_s": times[0], "end_s": times[0] + 1, "text": "a door opens"}
            far = [{"start_s": times[-1] + 1000 + i, "end_s": times[-1] + 1001 + i,
                    "text": f"far away {i}"} for i in range(5)]
            content = json.dumps({"summary": "a door", "events": [same] * 50 + far})
            self._send(200, self._completion(model, content, 100, 40))
        elif model == "notjson-vl":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>")
        elif model == "drop-vl":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "50000")
            self.end_headers()
            self.wfile.write(b'{"id": "chatcmpl-cut", "choices": [{"index": 0, "message": '
                             + b" " * 40)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif model == "hangup-vl":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif model == "silent-vl":
            self.server.stopping.wait()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, misbehaving: bool = False, delay_s: float = 0.0,
                 die_after: int | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay_s, self.die_after, self.answered = delay_s, die_after, 0
        self.dead = threading.Event()
        self.models = MODELS + (MISBEHAVING if misbehaving else ())
        self.stopping = threading.Event()  # releases `silent-vl` when the server stops
        self.cured: set[str] = set()  # misbehaving models that now answer like tiny-vl
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []  # chat request bodies
        self.hits: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up on a reply it will not read (a runaway one) is expected."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def record(self, handler: _Handler, body: Any) -> None:
        with self.lock:
            self.hits.append((handler.command, handler.path, handler.headers.get("Authorization")))
            if handler.command == "POST" and body is not None:
                self.requests.append(body)

    def die(self) -> None:
        """Stop listening at once (from a handler thread: `shutdown` waits for the loop)."""
        if not self.dead.is_set():
            self.dead.set()
            threading.Thread(target=lambda: (self.shutdown(), self.server_close()),
                             daemon=True).start()

    def count(self, model: str | None) -> int:
        """How many chat requests (for `model`, or all) arrived so far."""
        with self.lock:
            return sum(1 for b in self.requests
                       if model is None or (isinstance(b, dict) and b.get("model") == model))


class OpenAIServer:
    """Context manager: start on a free port, yield the base URL, stop cleanly on exit."""

    def __init__(self, *, misbehaving: bool = False, delay_s: float = 0.0,
                 die_after: int | None = None) -> None:
        self.misbehaving, self.delay_s, self.die_after = misbehaving, delay_s, die_after
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

    def cure(self, model: str) -> None:
        """From now on `model` answers like `tiny-vl` (a server fixed between two runs)."""
        assert self._server is not None, "server not started"
        self._server.cured.add(model)

    @property
    def answered(self) -> int:
        """Chat requests answered with a caption."""
        assert self._server is not None, "server not started"
        with self._server.lock:
            return self._server.answered

    @property
    def hits(self) -> list[tuple[str, str, str | None]]:
        """(method, path, Authorization header) of every request received, in order."""
        assert self._server is not None, "server not started"
        with self._server.lock:
            return list(self._server.hits)

    def __enter__(self) -> str:
        self._server = _Server(self.misbehaving, self.delay_s, self.die_after)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="openai-test-server")
        self._thread.start()
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
