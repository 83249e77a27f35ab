"""What the tests see of the machine's GPUs: none, unless a test is marked `gpu`.

vidqa picks its default model (`vidqa.model.presets.default_model`), the transformers backend's
device and dtype, and more from `torch.cuda`; a CPU test must expect the same on a machine with a
GPU as on one without.
"""

from __future__ import annotations

import sys
import types

import pytest


def hide_gpus(mp: pytest.MonkeyPatch) -> None:
    """No CUDA device for this process's Python callers and for the subprocesses it starts,
    without initialising CUDA (a `gpu` test later in the session still finds the GPU): with
    `PYTORCH_NVML_BASED_CUDA_CHECK=1`, `torch.cuda.is_available()` reads CUDA_VISIBLE_DEVICES
    each call; where torch is already imported (and CUDA perhaps initialised) its answers are
    patched as well."""
    mp.setenv("CUDA_VISIBLE_DEVICES", "")
    mp.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda"):
        mp.setattr(torch.cuda, "is_available", lambda: False)
        mp.setattr(torch.cuda, "device_count", lambda: 0)


def fake_gpu(mp: pytest.MonkeyPatch, total_gib: float | None) -> None:
    """`torch.cuda` reports one GPU of `total_gib` GiB (None: no GPU); a stand-in torch module
    where torch is not installed."""
    try:
        import torch
    except ImportError:
        torch = types.ModuleType("torch")
        torch.cuda = types.SimpleNamespace()
        mp.setitem(sys.modules, "torch", torch)
    mp.setattr(torch.cuda, "is_available", lambda: total_gib is not None, raising=False)
    mp.setattr(torch.cuda, "device_count", lambda: 0 if total_gib is None else 1, raising=False)
    mp.setattr(torch.cuda, "get_device_properties",
               lambda device=0: types.SimpleNamespace(total_memory=int((total_gib or 0) * 2**30)),
               raising=False)
