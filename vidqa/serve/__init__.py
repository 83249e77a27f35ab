"""`vidqa serve`: a web page to watch, search, ask and index, and an OpenAI-compatible API.

    service.py   what the server does (library, warm models, jobs, find, ask), without HTTP
    library.py   the served folders: which paths a request may name
    jobs.py      indexing jobs, one at a time, with their progress
    timeline.py  the lanes under the player, summarised for long videos
    app.py       the ASGI app (Starlette), its guards (API key, body limits, CORS) and errors
    pages.py     the page's routes; api.py: the OpenAI-compatible routes
    static/      the page (no network: every asset is served from here)

From Python (a notebook):

    from vidqa.serve import Server, Service, create_app
    with Server(create_app(Service(["talks/"]))) as server:
        print(server.url)
"""

from __future__ import annotations

import importlib

_API = {"Service": "vidqa.serve.service", "create_app": "vidqa.serve.app",
        "Server": "vidqa.serve.app"}


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'vidqa.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
