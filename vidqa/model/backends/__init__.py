"""Model backends behind one protocol (`vidqa.model.backends.base.Backend`), and the registry
the CLI's choices come from.

A backend whose optional dependencies are missing stays listed, and asking for it says which
extra to install; vidqa never falls back to another backend silently. `open_backend` makes the
backend a `Config` asks for (its class's `from_config`), `get_backend` one with options given
in code, and `backend_class(name).identity_for(settings)` says what its captions are cached
under, without making one.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vidqa.errors import BackendError, ConfigError
from vidqa.model.backends.base import Backend, Generation, Message


@dataclass(frozen=True)
class BackendSpec:
    name: str
    target: str  # "module:Class"
    extra: str  # pip extra that installs its dependencies
    needs: tuple[str, ...]  # importable modules it needs
    summary: str


# What captions made through a pool of servers are cached under, whichever servers it had
# (see `vidqa.model.backends.pool`).
POOL_IDENTITY = "pool"

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


def _spec(name: str) -> BackendSpec:
    spec = REGISTRY.get(name)
    if spec is None:
        raise BackendError(f"unknown backend '{name}'; choose one of: {', '.join(REGISTRY)}")
    return spec


def _needs(name: str, spec: BackendSpec, module: str | None) -> BackendError:
    return BackendError(f"backend '{name}' needs the Python package '{module}'; install it "
                        f"with: pip install 'vidqa[{spec.extra}]'")


def backend_class(name: str) -> type:
    """The backend class, its module imported but not the dependencies it needs to run (torch
    for a local model, the openai client): enough for its `identity_for`, which `find` asks
    with no model loaded. A BackendError for an unknown name."""
    spec = _spec(name)
    module_name, class_name = spec.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in spec.needs:
            raise
        raise _needs(name, spec, exc.name) from None
    return getattr(module, class_name)


def load_backend_class(name: str) -> type:
    """The backend class, ready to make backends, or a BackendError naming the extra to
    install."""
    spec = _spec(name)
    for module in spec.needs:
        try:
            importlib.import_module(module)
        except ImportError:
            raise _needs(name, spec, module) from None
    return backend_class(name)


def backend_options(cls: type) -> list[str]:
    """The options a backend class takes: its constructor's keyword-only parameters."""
    return [p.name for p in inspect.signature(cls).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def get_backend(name: str, model: str, **options) -> Backend:
    """An instance of the named backend for `model`, with `options` for its constructor; one
    it does not take is a TypeError that lists those it does."""
    cls = load_backend_class(name)
    accepted = backend_options(cls)
    unknown = [option for option in options if option not in accepted]
    if unknown:
        raise TypeError(f"backend '{name}' takes no option {', '.join(map(repr, unknown))}; "
                        f"its options: {', '.join(accepted) or 'none'}")
    return cls(model, **options)


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


def open_backend(config, *, api_key: str | None = None, pooled: bool = False,
                 ledger=None) -> Backend:
    """The backend a resolved `Config` asks for (see `vidqa.model.presets.resolve_model`),
    made by its class from the settings (`from_config`). `api_key`: the model server's;
    `pooled`: even one server is a pool (a Ray job, whose tasks share one server's accounts);
    `ledger`: the accounts the pool shares with other processes (see `vidqa.cluster`)."""
    cls = load_backend_class(config.model.backend)
    return cls.from_config(config, api_key=api_key, pooled=pooled, ledger=ledger)


__all__ = ["POOL_IDENTITY", "REGISTRY", "Backend", "BackendSpec", "Generation", "Message", "backend_class",
           "backend_names", "backend_options", "get_backend", "load_backend_class",
           "open_backend", "server_url", "server_urls"]
