"""Model backends behind one protocol, and the registry the CLI's choices come from.

A backend whose optional dependencies are missing stays listed, and asking for it says which
extra to install; vidqa never falls back to another backend silently.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vidqa.model.backends.base import Backend, Generation, Message
from vidqa.errors import BackendError, ConfigError


@dataclass(frozen=True)
class BackendSpec:
    name: str
    target: str  # "module:Class"
    extra: str  # pip extra that installs its dependencies
    needs: tuple[str, ...]  # importable modules it needs
    summary: str


REGISTRY: dict[str, BackendSpec] = {
    "transformers": BackendSpec(
        "transformers", "vidqa.model.backends.hf:TransformersBackend", "local",
        ("torch", "transformers", "torchvision"),
        "local Qwen3-VL through transformers (hub id or local directory)"),
    "openai": BackendSpec(
        "openai", "vidqa.model.backends.openai_compat:OpenAIBackend", "openai", ("openai",),
        "any OpenAI-compatible server: vLLM, SGLang, DashScope, transformers serve"),
}


def backend_names() -> list[str]:
    return list(REGISTRY)


def load_backend_class(name: str) -> type:
    """The backend class, or a BackendError naming the extra to install."""
    spec = REGISTRY.get(name)
    if spec is None:
        raise BackendError(f"unknown backend '{name}'; choose one of: {', '.join(REGISTRY)}")
    for module in spec.needs:
        try:
            importlib.import_module(module)
        except ImportError:
            raise BackendError(f"backend '{name}' needs the Python package '{module}'; install it "
                               f"with: pip install 'vidqa[{spec.extra}]'") from None
    module_name, class_name = spec.target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_backend(name: str, model: str, **options) -> Backend:
    """An instance of the named backend for `model` (options: see each backend's __init__)."""
    return load_backend_class(name)(model, **options)


def server_url(base_url: str | None) -> str:
    """The OpenAI-compatible server a backend talks to: `base_url`, else $OPENAI_BASE_URL,
    without a trailing slash ("" when neither is set)."""
    return (base_url or os.environ.get("OPENAI_BASE_URL") or "").strip().rstrip("/")


def server_urls(base_url: str | Sequence[str] | None) -> list[str]:
    """The servers `model.base_url` names, in order, each once: URLs as they are, and the URLs
    of any file named (one a line; blank lines and # comments skipped); none: $OPENAI_BASE_URL
    (which may hold several, comma-separated). A name that is neither is a ConfigError."""
    items = [base_url] if isinstance(base_url, str) else list(base_url or ())
    items = [i.strip() for i in items if i and i.strip()]
    if not items:
        items = [u.strip() for u in os.environ.get("OPENAI_BASE_URL", "").split(",") if u.strip()]
    urls: list[str] = []
    for item in items:
        if "://" in item:
            found = [item]
        elif os.path.isfile(item):
            try:
                lines = Path(item).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read the server list '{item}': "
                                  f"{getattr(exc, 'strerror', None) or exc}; give URLs, one a "
                                  "line") from None
            found = [line.split("#", 1)[0].strip() for line in lines]
            found = [u for u in found if u]
            if not found:
                raise ConfigError(f"the server list '{item}' holds no URL; write one a line, "
                                  "e.g. http://gpu1:8000/v1")
        else:
            raise ConfigError(f"'{item}' is neither a server URL nor a file of URLs; pass "
                              "--base-url http://HOST:PORT/v1 (several times for a pool) or a "
                              "file with one URL a line")
        urls += [u.rstrip("/") for u in found if u.rstrip("/") not in urls]
    return urls


def backend_identity(name: str, model: str, base_url: str | Sequence[str] | None = None) -> str:
    """What answers for `model` besides its name, as cache keys see it: the server's URL for
    the openai backend (one name can mean other weights on another server), "pool" for several
    servers (see `vidqa.model.backends.pool`), the weights' revision for the transformers
    backend (see `vidqa.model.hub.model_revision`). Computed without loading the backend, so
    `find` can read cached captions."""
    if name == "openai":
        urls = server_urls(base_url)
        if len(urls) > 1:
            from vidqa.model.backends.pool import POOL_IDENTITY

            return POOL_IDENTITY
        return urls[0] if urls else ""
    if name == "transformers":
        from vidqa.model.hub import model_revision

        return model_revision(model)
    return ""


def open_backend(config, *, api_key: str | None = None, pooled: bool = False,
                 ledger=None) -> Backend:
    """The backend a resolved `Config` asks for (see `vidqa.model.presets.resolve_model`): for
    the openai backend with several servers, or with one and `pooled` (a Ray job, whose tasks
    share one server's accounts), a `ServerPool` (`ledger`: the accounts it shares with other
    processes, see `vidqa.cluster`; its own otherwise). Its cache identity is a single
    server's URL, or the pool's."""
    m = config.model
    urls = server_urls(m.base_url) if m.backend == "openai" else []
    if len(urls) > 1 or (pooled and urls):
        load_backend_class("openai")  # the extra's check
        from vidqa.model.backends.pool import ServerPool

        return ServerPool(m.model, urls, api_key=api_key, timeout_s=m.timeout_s,
                          retries=m.retries, per_server=m.concurrency, ledger=ledger,
                          identity=backend_identity("openai", m.model, urls))
    return get_backend(m.backend, m.model, frame_max_pixels=config.decode.frame_max_pixels,
                       frame_min_pixels=config.decode.frame_min_pixels,
                       load_in_4bit=m.load_in_4bit, attention=m.attention,
                       base_url=urls[0] if urls else None, api_key=api_key,
                       timeout_s=m.timeout_s, retries=m.retries, concurrency=m.concurrency)


__all__ = ["Backend", "BackendSpec", "Generation", "Message", "REGISTRY", "backend_identity",
           "backend_names", "get_backend", "load_backend_class", "open_backend", "server_url",
           "server_urls"]
