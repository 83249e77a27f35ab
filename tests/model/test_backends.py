"""The backend registry: a missing dependency names the extra, an unknown name the choices, an
unknown option the options taken; a backend's cache identity comes from its class."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
from helpers.scripted import ScriptedBackend

from vidqa.config import Config
from vidqa.model import backends
from vidqa.model.backends.base import Backend


def test_missing_backend_dependency_names_the_extra(monkeypatch):
    spec = dataclasses.replace(backends.REGISTRY["openai"], needs=("no_such_module_here",))
    monkeypatch.setitem(backends.REGISTRY, "openai", spec)
    with pytest.raises(backends.BackendError, match=r"pip install 'vidqa\[openai\]'"):
        backends.get_backend("openai", "m")
    with pytest.raises(backends.BackendError, match="unknown backend 'nope'"):
        backends.get_backend("nope", "m")


def test_a_backend_follows_the_protocol_through_the_registry(scripted):
    made = backends.get_backend("scripted", "m", replies=["hi"])
    assert isinstance(made, ScriptedBackend) and isinstance(made, Backend)
    assert backends.backend_options(ScriptedBackend) == ["replies"]
    with pytest.raises(TypeError) as info:
        backends.get_backend("scripted", "m", base_url="http://a/v1")
    assert str(info.value) == ("backend 'scripted' takes no option 'base_url'; its options: "
                               "replies")
    config = Config()
    config = dataclasses.replace(config, model=dataclasses.replace(
        config.model, backend="scripted", model="scripted-model"))  # past the CLI's choices
    opened = backends.open_backend(config, api_key="unused")
    assert isinstance(opened, ScriptedBackend) and opened.model == "scripted-model"
    assert opened.identity == ScriptedBackend.identity_for(config.model) == ""


def test_identity_needs_no_model_loaded_nor_its_extra(tmp_path):
    """`find` reads cached captions under the identity the class gives, importing neither
    torch nor the openai client."""
    code = textwrap.dedent("""
        import sys
        from vidqa.config import Config
        from vidqa.model.backends import backend_class
        from vidqa.model.hub import model_revision
        local = Config().replace("model", model=sys.argv[1]).model
        served = Config().replace("model", backend="openai", base_url="http://a/v1/").model
        print(backend_class("transformers").identity_for(local) == model_revision(sys.argv[1]),
              backend_class("openai").identity_for(served),
              [m for m in ("torch", "openai", "transformers", "PIL") if m in sys.modules])
        """)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "http://a/v1", "[]"]


def test_a_class_whose_module_needs_a_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(backends.REGISTRY, "elsewhere", backends.BackendSpec(
        "elsewhere", "no_such_module_here.backend:Elsewhere", "elsewhere",
        ("no_such_module_here",), "a backend whose extra is not installed"))
    with pytest.raises(backends.BackendError, match=r"pip install 'vidqa\[elsewhere\]'"):
        backends.backend_class("elsewhere")
