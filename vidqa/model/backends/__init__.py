"""Model backends behind one protocol, and the registry the CLI's choices come from.

A backend whose optional dependencies are missing stays listed, and asking for it says which
extra to install; vidqa never falls back to another backend silently.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from vidqa.model.backends.base import Backend, Generation, Message
from vidqa.errors import BackendError


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


def backend_identity(name: str, model: str, base_url: str | None = None) -> str:
    """What answers for `model` besides its name, as cache keys see it: the server's URL for
    the openai backend (one name can mean other weights on another server), the weights'
    revision for the transformers backend (see `vidqa.model.hub.model_revision`). Computed without
    loading the backend, so `find` can read cached captions."""
    if name == "openai":
        return server_url(base_url)
    if name == "transformers":
        from vidqa.model.hub import model_revision

        return model_revision(model)
    return ""


def open_backend(config, *, api_key: str | None = None) -> Backend:
    """The backend a resolved `Config` asks for (see `vidqa.model.presets.resolve_model`)."""
    m = config.model
    return get_backend(m.backend, m.model, frame_max_pixels=config.decode.frame_max_pixels,
                       frame_min_pixels=config.decode.frame_min_pixels,
                       load_in_4bit=m.load_in_4bit, attention=m.attention,
                       base_url=m.base_url or None, api_key=api_key, timeout_s=m.timeout_s,
                       retries=m.retries, concurrency=m.concurrency)


__all__ = ["Backend", "BackendSpec", "Generation", "Message", "REGISTRY", "backend_identity",
           "backend_names", "get_backend", "load_backend_class", "open_backend", "server_url"]
