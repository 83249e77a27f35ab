"""The backend registry: a missing dependency names the extra, an unknown name the choices."""

from __future__ import annotations

import pytest


def test_missing_backend_dependency_names_the_extra(monkeypatch):
    import dataclasses

    from vidqa.model import backends

    spec = dataclasses.replace(backends.REGISTRY["openai"], needs=("no_such_module_here",))
    monkeypatch.setitem(backends.REGISTRY, "openai", spec)
    with pytest.raises(backends.BackendError, match=r"pip install 'vidqa\[openai\]'"):
        backends.get_backend("openai", "m")
    with pytest.raises(backends.BackendError, match="unknown backend 'nope'"):
        backends.get_backend("nope", "m")
