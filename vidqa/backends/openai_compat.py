"""Any OpenAI-compatible chat server as a backend: vLLM, SGLang, DashScope, `transformers serve`.

The neutral messages (see `vidqa.backends.base`) become OpenAI chat content: text items stay as
they are, each `{"type": "image", "path": ...}` becomes an `image_url` item holding the JPEG's own
bytes as a base64 data URL (never re-encoded), in the same order, so every `<t seconds>` label
still sits right before its frame.

Retries (429, 5xx, dropped connections) and timeouts are the official `openai` client's own.
Whatever still fails becomes one `BackendError` line naming the server, the model and the fix.
The reply text is returned untouched, a leading `<think>...</think>` block included: the caller
strips it.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any, ClassVar

import openai

from vidqa.backends.base import Generation, Message
from vidqa.errors import BackendError

_CONTEXT_TOO_LONG = re.compile(
    r"context[_ ]length|maximum context|too many tokens|maximum model length|prompt is too long",
    re.IGNORECASE)
_MIME = {".png": "image/png", ".webp": "image/webp"}  # anything else is a JPEG (the frame cache)


def _one_line(text: object, limit: int = 300) -> str:
    """Collapse whitespace and cut to `limit` characters, so an error stays on one line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


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
    supports_images: ClassVar[bool] = True
    supports_video: ClassVar[bool] = False
    supports_json_mode: ClassVar[bool] = True
    supports_batching: ClassVar[bool] = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, retries: int = 3, concurrency: int = 4,
                 **ignored: Any) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
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
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.retries = retries
        self.timeout_s = timeout_s
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers: none
        try:
            self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key,
                                         timeout=timeout_s, max_retries=retries)
        except Exception as e:  # a malformed URL, mostly
            raise BackendError(f"cannot use server URL '{self.base_url}': {_one_line(e)}; fix "
                               f"--base-url or OPENAI_BASE_URL (e.g. http://localhost:8000/v1)"
                               ) from None

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def generate(self, messages: list[Message], *, max_new_tokens: int = 1024,
                 temperature: float = 0.0) -> Generation:
        """One chat completion; a BackendError with the fix when the server cannot give one."""
        request = [self._convert(message) for message in messages]
        try:
            reply = self._client.chat.completions.create(
                model=self.model, messages=request, max_tokens=max_new_tokens,
                temperature=temperature)
        except openai.OpenAIError as e:
            raise self._explain(e) from None
        choices = getattr(reply, "choices", None)
        if not choices:
            raise BackendError(f"the server at {self.base_url} sent no answer for model "
                               f"'{self.model}' (no choices in the reply); check that it is an "
                               f"OpenAI-compatible /v1 endpoint")
        usage = getattr(reply, "usage", None)
        return Generation(text=choices[0].message.content or "",
                          prompt_tokens=getattr(usage, "prompt_tokens", None),
                          completion_tokens=getattr(usage, "completion_tokens", None))

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

    def _explain(self, e: openai.OpenAIError) -> BackendError:
        """One actionable line for a failed request (after the client's own retries)."""
        url, model = self.base_url, self.model
        if isinstance(e, openai.APITimeoutError):
            return BackendError(f"the server at {url} did not answer within {self.timeout_s:g} s "
                                f"(model '{model}'); check that it is running and not overloaded, "
                                f"or raise model.timeout_s in the config file")
        if isinstance(e, openai.APIConnectionError):
            return BackendError(f"the server at {url} cannot be reached (model '{model}'); start "
                                f"it or fix --base-url/OPENAI_BASE_URL")
        if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return BackendError(f"the server at {url} refused the API key ({e.status_code}: "
                                f"{_server_message(e)}); set OPENAI_API_KEY or pass --api-key")
        if isinstance(e, openai.NotFoundError):
            served = self._served_models()
            if served is None:
                return BackendError(f"the server at {url} answered 404 for model '{model}' "
                                    f"({_server_message(e)}); check -m and that --base-url ends in "
                                    f"/v1")
            if model not in served:
                listed = ", ".join(served) or "none"
                return BackendError(f"the server at {url} does not serve model '{model}'; it "
                                    f"serves: {listed}; pass one with -m")
        if isinstance(e, openai.BadRequestError):
            message = _server_message(e)
            if e.code == "context_length_exceeded" or _CONTEXT_TOO_LONG.search(message):
                return BackendError(f"a chunk is too long for the context of model '{model}' at "
                                    f"{url} ({message}); lower the chunk budget (--max-tokens) or "
                                    f"the frame size (--max-pixels)")
        if isinstance(e, openai.APIStatusError):
            hint = ""
            if e.status_code == 429 or e.status_code >= 500:
                hint = (f"; still failing after {self.retries} retries: try again later or lower "
                        f"model.concurrency in the config file")
            return BackendError(f"the server at {url} answered {e.status_code} for model "
                                f"'{model}' ({_server_message(e)}){hint}")
        return BackendError(f"unexpected reply from the server at {url} for model '{model}': "
                            f"{_one_line(e)}; check that it is an OpenAI-compatible /v1 endpoint")

    def _served_models(self) -> list[str] | None:
        """The model ids the server lists, or None when it cannot list them."""
        try:
            client = self._client.with_options(max_retries=0, timeout=min(self.timeout_s, 10.0))
            return sorted(m.id for m in client.models.list())
        except Exception:
            return None


__all__ = ["OpenAIBackend"]
