"""Any OpenAI-compatible chat server as a backend: vLLM, SGLang, DashScope, `transformers serve`.

The neutral messages (see `vidqa.model.backends.base`) become OpenAI chat content: text items stay as
they are, each `{"type": "image", "path": ...}` becomes an `image_url` item holding the JPEG's own
bytes as a base64 data URL (never re-encoded), in the same order, so every `<t seconds>` label
still sits right before its frame.

Requests go through the official `openai` client; the reply is bounded here, whatever the
server does: its body is read as a stream and no further than `reply_byte_limit(max_tokens)`
(a larger one is cut off and returned as `over_limit`), a reply whose token count (or, without
usage, its length) is past the `max_tokens` asked for is `over_limit` too, and the whole
attempt must finish within `timeout_s`. Retries are vidqa's own: 408, 409, 429, 5xx, refused
and dropped connections are tried again `retries` times with backoff (honouring Retry-After);
a timeout is not (a server that did not answer in `timeout_s` rarely does on the next try, and
each try would cost `timeout_s` more): vidqa asks the server's `/models` whether it still
answers and says which it is. Whatever fails becomes one `BackendError` line naming the
server, the model, what happened and the fix. The reply text is returned untouched, a leading
`<think>...</think>` block included: the caller strips it.

The `openai` client is imported when a backend is made: the class itself, and its
`identity_for`, cost nothing to import (`find` asks it with no model loaded).
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vidqa.errors import BackendError, ServerError, one_line
from vidqa.model.backends import POOL_IDENTITY, server_url, server_urls
from vidqa.model.backends.base import Backend, Generation, Message

if TYPE_CHECKING:
    import openai

    from vidqa.config import Config, ModelConfig
    from vidqa.model.backends.pool import Accounts

_CONTEXT_TOO_LONG = re.compile(
    r"context[_ ]length|maximum context|too many tokens|maximum model length|prompt is too long",
    re.IGNORECASE)
_MIME = {".png": "image/png", ".webp": "image/webp"}  # anything else is a JPEG (the frame cache)
_RETRY_STATUS = (408, 409, 429)  # and every 5xx
MAX_CHARS_PER_TOKEN = 16  # a reply longer than this per token asked for went past the limit
MAX_RETRY_AFTER_S = 30.0  # a server's Retry-After is honoured up to this
HEALTH_TIMEOUT_S = 5.0


def reply_byte_limit(max_tokens: int) -> int:
    """The largest reply body read for a request of `max_tokens`: 64 bytes a token (JSON escapes
    of non-ASCII text included) and 256 KiB for the envelope. 1024 tokens: 320 KiB."""
    return 256 * 1024 + 64 * max(1, max_tokens)


class _Dropped(Exception):
    """The connection closed before the whole reply arrived."""

    def __init__(self, received: int, cause: BaseException | None):
        super().__init__(received)
        self.received = received
        self.cause = cause


class _TimedOut(Exception):
    """The attempt ran past its deadline."""


def _backoff_s(attempt: int, error: openai.APIStatusError | None = None) -> float:
    """Seconds before retry `attempt` (0-based): the server's Retry-After when it gives one
    (capped), else 0.5 s doubling to 8 s, with jitter."""
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    try:
        after = float(headers.get("retry-after", ""))
        if after >= 0:
            return min(after, MAX_RETRY_AFTER_S)
    except (TypeError, ValueError):
        pass
    return min(8.0, 0.5 * 2 ** attempt) * (0.75 + 0.25 * random.random())


def _retryable(error: openai.OpenAIError) -> bool:
    import openai

    if isinstance(error, openai.APITimeoutError):
        return False
    if isinstance(error, openai.APIConnectionError):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in _RETRY_STATUS or error.status_code >= 500
    return False


def _reached(error: openai.APIConnectionError) -> bool:
    """Whether the server was reached at all (a connection made, then dropped) rather than
    refused or unknown: the HTTP library's own error class says which."""
    cause = error.__cause__
    return cause is not None and type(cause).__name__ in (
        "RemoteProtocolError", "ReadError", "WriteError", "LocalProtocolError")


def _content_text(content: Any) -> str:
    """A reply message's content: a string, or a list of parts whose text is joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _one_line(text: object, limit: int = 300) -> str:
    """A server's message on one line, at most `limit` characters."""
    return one_line(text, limit)


def _server_message(error: openai.APIStatusError) -> str:
    """The server's own message from an error body, else the client's."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return _one_line(body["message"])
    if isinstance(body, str) and body.strip():
        return _one_line(body)
    return "no message"


class OpenAIBackend:
    """A model served over the OpenAI chat-completions protocol; thread-safe (one shared client)."""

    name: ClassVar[str] = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, retries: int = 3, concurrency: int = 4) -> None:
        import openai

        base_url = server_url(base_url)
        if not base_url:
            raise BackendError("no server for the openai backend: pass --base-url or set "
                               "OPENAI_BASE_URL (e.g. http://localhost:8000/v1 for vLLM)")
        if not re.match(r"https?://", base_url):
            raise BackendError(f"server URL '{base_url}' has no http:// or https:// scheme; fix "
                               f"--base-url or OPENAI_BASE_URL (e.g. http://localhost:8000/v1)")
        if concurrency < 1:
            raise BackendError(f"concurrency must be at least 1, got {concurrency}")
        if retries < 0:
            raise BackendError(f"retries must be 0 or more, got {retries}")
        self.model = model
        self.base_url = base_url
        self.identity = base_url  # as `identity_for` says
        self.concurrency = concurrency
        self.retries = retries
        self.timeout_s = timeout_s
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers: none
        try:
            # Retries are vidqa's (see the module's docstring), not the client's.
            self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key,
                                         timeout=timeout_s, max_retries=0)
        except Exception as e:  # noqa: BLE001 - a malformed URL, mostly
            raise BackendError(f"cannot use server URL '{self.base_url}': {_one_line(e)}; fix "
                               f"--base-url or OPENAI_BASE_URL (e.g. http://localhost:8000/v1)"
                               ) from None

    @classmethod
    def from_config(cls, config: Config, *, api_key: str | None = None, pooled: bool = False,
                    ledger: Accounts | None = None) -> Backend:
        """The backend `config.model` asks for: this one for one server; a `ServerPool` for
        several, or for one when `pooled` (a Ray job, whose tasks share the server's accounts:
        `ledger`, see `vidqa.model.backends.pool`)."""
        m = config.model
        urls = server_urls(m.base_url)
        if len(urls) > 1 or (pooled and urls):
            from vidqa.model.backends.pool import ServerPool

            return ServerPool.from_config(config, api_key=api_key, pooled=pooled, ledger=ledger)
        return cls(m.model, base_url=urls[0] if urls else None, api_key=api_key,
                   timeout_s=m.timeout_s, retries=m.retries, concurrency=m.concurrency)

    @classmethod
    def identity_for(cls, settings: ModelConfig) -> str:
        """The server's URL (one model name can mean other weights on another server), "" when
        none is named; for several servers, "pool" (see `vidqa.model.backends.pool`), whichever
        they are."""
        urls = server_urls(settings.base_url)
        if len(urls) > 1:
            return POOL_IDENTITY
        return urls[0] if urls else ""

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def generate(self, messages: list[Message], *, max_new_tokens: int = 1024,
                 temperature: float = 0.0) -> Generation:
        """One chat completion; a BackendError with the fix when the server cannot give one.
        A reply past `max_new_tokens` comes back with `over_limit` set (see the module)."""
        import openai

        request = [self._convert(message) for message in messages]
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                return self._complete(request, max_new_tokens, temperature)
            except _TimedOut:
                raise self._timed_out() from None
            except _Dropped as dropped:
                if last:
                    raise self._dropped(dropped.received, dropped.cause) from None
                time.sleep(_backoff_s(attempt))
            except openai.OpenAIError as e:
                if isinstance(e, openai.APITimeoutError):
                    raise self._timed_out() from None
                if last or not _retryable(e):
                    raise self._explain(e) from None
                time.sleep(_backoff_s(attempt, e if isinstance(e, openai.APIStatusError)
                                      else None))
        raise AssertionError("unreachable")  # pragma: no cover

    def _complete(self, request: list[dict[str, Any]], max_tokens: int,
                  temperature: float) -> Generation:
        """One attempt: the reply read within the byte limit and the deadline, then checked."""
        import openai

        deadline = time.monotonic() + self.timeout_s
        limit = reply_byte_limit(max_tokens)
        body, cut = bytearray(), False
        with self._client.chat.completions.with_streaming_response.create(
                model=self.model, messages=request, max_tokens=max_tokens,
                temperature=temperature) as response:
            try:
                for block in response.iter_bytes():
                    body += block
                    if len(body) > limit:
                        cut = True  # stop reading: closing the response drops the rest
                        break
                    if time.monotonic() > deadline:
                        raise _TimedOut
            except (_TimedOut, openai.OpenAIError):
                raise
            except Exception as exc:  # noqa: BLE001 - the HTTP library's read errors
                if "Timeout" in type(exc).__name__:
                    raise _TimedOut from None
                raise _Dropped(len(body), exc) from None
        if cut:
            return Generation(text="", over_limit=True)
        return self._reply(bytes(body), max_tokens)

    def _reply(self, body: bytes, max_tokens: int) -> Generation:
        """The Generation in a reply body, or a BackendError saying what is wrong with it."""
        url, model = self.base_url, self.model
        try:
            data = json.loads(body)
        except ValueError:
            start = _one_line(body[:80].decode("utf-8", "replace"), 80) or "an empty body"
            raise ServerError(f"the server at {url} answered for model '{model}' with a body "
                               f"that is not JSON ({len(body):,} bytes, starting {start!r}); "
                               "check that --base-url is an OpenAI-compatible /v1 endpoint "
                               "and look at the server's log") from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ServerError(f"the server at {url} sent no answer for model "
                               f"'{model}' (no choices in the reply); check that it is an "
                               f"OpenAI-compatible /v1 endpoint")
        message = choices[0].get("message")
        text = _content_text(message.get("content") if isinstance(message, dict) else None)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt_tokens, completion_tokens = (
            value if isinstance(value, int) and not isinstance(value, bool) else None
            for value in (usage.get("prompt_tokens"), usage.get("completion_tokens")))
        over = (completion_tokens > max_tokens if completion_tokens is not None
                else len(text) > max_tokens * MAX_CHARS_PER_TOKEN)
        if over:
            text = text[:max_tokens * MAX_CHARS_PER_TOKEN]
        return Generation(text=text, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, over_limit=over)

    # -- messages ---------------------------------------------------------------------------

    def _convert(self, message: Message) -> dict[str, Any]:
        content = message.get("content")
        if isinstance(content, list):
            content = [self._convert_item(item) for item in content]
        return {**message, "content": content}

    def _convert_item(self, item: dict[str, Any]) -> dict[str, Any]:
        kind = item.get("type")
        if kind == "text":
            return {"type": "text", "text": item["text"]}
        if kind == "image":
            path = Path(item["path"])
            try:
                data = path.read_bytes()
            except OSError as e:
                raise BackendError(f"cannot read frame image '{path}': {e.strerror or e}; "
                                   f"re-run to rebuild the frame cache") from None
            mime = _MIME.get(path.suffix.lower(), "image/jpeg")
            url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
            return {"type": "image_url", "image_url": {"url": url}}
        raise BackendError(f"the openai backend cannot send message items of type '{kind}' "
                           f"(only text and image); send key frames as images instead")

    # -- errors -----------------------------------------------------------------------------

    def _timed_out(self) -> BackendError:
        """A request that ran past `timeout_s`: whether the server still answers at all says
        whether it is busy or hung."""
        url, model = self.base_url, self.model
        head = (f"the server at {url} did not answer within {self.timeout_s:g} s (model "
                f"'{model}'; not retried)")
        if self.served_models(HEALTH_TIMEOUT_S) is not None:
            return ServerError(f"{head}; it still lists its models, so it is busy: lower "
                                "model.concurrency, use shorter chunks (--max-tokens), or raise "
                                "model.timeout_s in the config file")
        return ServerError(f"{head}, and it no longer answers at all: it is hung or "
                            "overloaded; restart it, or raise model.timeout_s in the config file")

    def _dropped(self, received: int, cause: BaseException | None) -> BackendError:
        why = _one_line(cause, 120) if cause is not None and str(cause) else "no reason given"
        return ServerError(f"the server at {self.base_url} closed the connection in the middle "
                            f"of its reply for model '{self.model}' ({received:,} bytes in; "
                            f"{why}; {self.retries} retries); it was reached, so check its log: "
                            "it may have crashed, restarted or hit a limit")

    def _explain(self, e: openai.OpenAIError) -> BackendError:
        """One actionable line for a failed request (after the retries)."""
        import openai

        url, model = self.base_url, self.model
        if isinstance(e, openai.APIConnectionError):
            if _reached(e):
                return ServerError(f"the server at {url} accepted the connection but closed it "
                                    f"without a reply (model '{model}'; {self.retries} retries); "
                                    "check its log: it may have crashed or restarted")
            return ServerError(f"the server at {url} cannot be reached (model '{model}'); start "
                                f"it or fix --base-url/OPENAI_BASE_URL")
        if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return ServerError(f"the server at {url} refused the API key ({e.status_code}: "
                                f"{_server_message(e)}); set OPENAI_API_KEY or pass --api-key")
        if isinstance(e, openai.NotFoundError):
            served = self.served_models()
            if served is None:
                return ServerError(f"the server at {url} answered 404 for model '{model}' "
                                    f"({_server_message(e)}); check -m and that --base-url ends in "
                                    f"/v1")
            if model not in served:
                listed = ", ".join(served) or "none"
                return ServerError(f"the server at {url} does not serve model '{model}'; it "
                                    f"serves: {listed}; pass one with -m")
        if isinstance(e, openai.BadRequestError):
            message = _server_message(e)
            if e.code == "context_length_exceeded" or _CONTEXT_TOO_LONG.search(message):
                return BackendError(f"a chunk is too long for the context of model '{model}' at "
                                    f"{url} ({message}); lower the chunk budget (--max-tokens) or "
                                    f"the frame size (--max-pixels)")
        if isinstance(e, openai.APIStatusError):
            hint, kind = "", BackendError
            if e.status_code == 429 or e.status_code >= 500:
                hint = (f"; still failing after {self.retries} retries: try again later or lower "
                        f"model.concurrency in the config file")
                kind = ServerError
            return kind(f"the server at {url} answered {e.status_code} for model "
                        f"'{model}' ({_server_message(e)}){hint}")
        return ServerError(f"unexpected reply from the server at {url} for model '{model}': "
                            f"{_one_line(e)}; check that it is an OpenAI-compatible /v1 endpoint")

    def context_tokens(self) -> int | None:
        """The model's context length as the server reports it in /models (vLLM and SGLang
        list `max_model_len`), or None; asked once."""
        if not hasattr(self, "_context"):
            self._context = None
            try:
                client = self._client.with_options(max_retries=0,
                                                   timeout=min(self.timeout_s, HEALTH_TIMEOUT_S))
                for served in client.models.list():
                    if str(served.id) == self.model:
                        value = (served.model_extra or {}).get("max_model_len")
                        self._context = int(value) if value else None
            except Exception:  # noqa: BLE001, S110 - the preset's context is used instead
                pass
        return self._context

    def served_models(self, timeout_s: float = 10.0) -> list[str] | None:
        """The model ids the server lists, or None when it cannot list them."""
        try:
            client = self._client.with_options(max_retries=0,
                                               timeout=min(self.timeout_s, timeout_s))
            return sorted(str(m.id) for m in client.models.list())
        except Exception:  # noqa: BLE001 - whatever fails, it cannot list them
            return None


__all__ = ["OpenAIBackend"]
