"""Fixtures of the server tests: a served folder of generated videos, indexed once per session
(a shared VIDQA_HOME), the `answering` model in the real backend registry, a live server."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.scripted import ANSWERING
from helpers.serving import running, served_folder
from vidqa.config import Config
from vidqa.model.backends import REGISTRY, get_backend


@pytest.fixture(scope="session")
def served_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("served-home")


@pytest.fixture(scope="session")
def library(tmp_path_factory, event_video, cuts_video) -> Path:
    """event.mp4 (a caption event at 41.3-43.3 s) and talks/cuts.mp4 (five shots)."""
    return served_folder(tmp_path_factory.mktemp("served") / "lib",
                         {"event.mp4": event_video[0], "talks/cuts.mp4": cuts_video[0]})


@pytest.fixture
def shared_home(served_home, monkeypatch) -> Path:
    """This test's cache is the session's served one (indexed once for all server tests)."""
    monkeypatch.setenv("VIDQA_HOME", str(served_home))
    return served_home


@pytest.fixture
def answering(monkeypatch):
    """The model that captions and answers, through the real backend registry."""
    monkeypatch.setitem(REGISTRY, "answering", ANSWERING)
    return get_backend("answering", "answering-model")


@pytest.fixture
def serve_config() -> Config:
    """The server tests' settings: no speech (the generated videos are silent)."""
    return Config().replace("speech", mode="off")


@pytest.fixture
def service(library, shared_home, answering, serve_config):
    from vidqa.serve.service import Service

    made = Service([library], serve_config, backend=answering)
    yield made
    made.close()


@pytest.fixture
def server(service):
    with running(service) as live:
        yield live


@pytest.fixture
def uploads(tmp_path, shared_home):
    """A service over an empty folder, `tmp_path/uploads` (its `library.roots[0]`), for the
    upload tests; closed after the test."""
    from vidqa.serve.service import Service

    folder = tmp_path / "uploads"
    folder.mkdir()
    made = Service([folder], check=False)
    yield made
    made.close()
