"""The Qwen3-VL and Qwen3.5 families: one table of presets (frame size and token budgets per
model).

`configs/models.yaml` is rendered from this table (a test keeps them in sync). A preset applies
when `-m` names its hub id (or its short name, e.g. `8b`, `30b-a3b-thinking`), as a layer of
settings under the user's: its frame size and chunk budget fill in only what no file,
environment variable or flag set (`Config.with_preset`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass

import yaml


@dataclass(frozen=True)
class ModelPreset:
    name: str  # short name: 2b, 8b-thinking, 30b-a3b, 3.5-9b, ...
    hub_id: str
    family: str  # qwen3_vl or qwen3_5 (both load through the Auto classes, one processor)
    total_params_b: float
    active_params_b: float  # equal to total for dense models
    thinking: bool  # writes <think>...</think> before its answer (stripped before parsing)
    frame_max_pixels: int  # model frame area: 16:9 frames at 640x352 = 220 tokens, ...
    chunk_max_tokens: int  # visual tokens per chunk
    context_tokens: int  # the model's native context
    bf16_gib: float  # weights in bf16, for choosing a GPU

    @property
    def moe(self) -> bool:
        return self.active_params_b < self.total_params_b


_BASE = [
    # size, total, active, frame pixels, chunk tokens, bf16 GiB
    ("2b", "2B", 2.1, 2.1, 230_400, 8_192, 4.3),
    ("4b", "4B", 4.4, 4.4, 230_400, 12_288, 8.9),
    ("8b", "8B", 8.8, 8.8, 409_600, 16_384, 17.5),
    ("32b", "32B", 33.4, 33.4, 409_600, 24_576, 66.7),
    ("30b-a3b", "30B-A3B", 31.1, 3.3, 409_600, 24_576, 62.2),
    ("235b-a22b", "235B-A22B", 236.0, 22.0, 409_600, 32_768, 471.0),
]

# Qwen3.5 (2026): natively multimodal (one model for text, images and video), its text layers
# mixing Gated DeltaNet linear attention with full attention 3:1; one checkpoint per size that
# thinks before it answers by default. Sizes as published: Small 0.8B-9B, Medium 27B to
# 397B-A17B. LVBench: 70.0 at 9B, above Qwen3-VL-235B-A22B's 63.6.
_QWEN35 = [
    # size, total, active, frame pixels, chunk tokens
    ("0.8B", 0.8, 0.8, 230_400, 8_192),
    ("2B", 2.0, 2.0, 230_400, 8_192),
    ("4B", 4.0, 4.0, 230_400, 12_288),
    ("9B", 9.0, 9.0, 409_600, 16_384),
    ("27B", 27.0, 27.0, 409_600, 24_576),
    ("35B-A3B", 35.0, 3.0, 409_600, 24_576),
    ("122B-A10B", 122.0, 10.0, 409_600, 32_768),
    ("397B-A17B", 397.0, 17.0, 409_600, 32_768),
]

PRESETS: dict[str, ModelPreset] = {}
for short, size, total, active, pixels, budget, gib in _BASE:
    for variant, thinking in (("Instruct", False), ("Thinking", True)):
        name = short + ("-thinking" if thinking else "")
        PRESETS[name] = ModelPreset(name, f"Qwen/Qwen3-VL-{size}-{variant}", "qwen3_vl", total,
                                    active, thinking, pixels, budget, 262_144, gib)
for size, total, active, pixels, budget in _QWEN35:
    name = f"3.5-{size.lower()}"
    PRESETS[name] = ModelPreset(name, f"Qwen/Qwen3.5-{size}", "qwen3_5", total, active, True,
                                pixels, budget, 262_144, round(total * 1e9 * 2 / 2**30, 1))

# On a GPU, Qwen3.5-9B (LVBench 70.0) when its linear-attention kernels are installed
# (flash-linear-attention: without them transformers runs a reference PyTorch path that is
# "correct but much slower"), else Qwen3-VL-8B. Without a GPU, Qwen3-VL-2B: on the CPU there are
# no such kernels for Qwen3.5 at all.
DEFAULT_GPU_MODEL = PRESETS["8b"].hub_id
DEFAULT_GPU_QWEN35 = PRESETS["3.5-9b"].hub_id
DEFAULT_CPU_MODEL = PRESETS["2b"].hub_id


def find_preset(model: str) -> ModelPreset | None:
    """The preset a model name or hub id refers to, if any (case-insensitive)."""
    key = model.strip().lower()
    for preset in PRESETS.values():
        if key in (preset.name, preset.hub_id.lower(), preset.hub_id.lower().split("/")[-1]):
            return preset
    return None


def _gpu_driver() -> bool:
    """Whether this machine has a GPU driver torch could use (NVIDIA's or ROCm's device files):
    without one the answer is known without importing torch (2 s of `vidqa find`'s start)."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd"))


def linear_attention_kernels() -> bool:
    """Whether Qwen3.5's linear-attention layers have their fast kernels here."""
    import importlib.util

    return importlib.util.find_spec("fla") is not None


def default_model() -> str:
    """On a CUDA GPU with room (24 GiB): Qwen3.5-9B where flash-linear-attention is installed,
    else Qwen3-VL-8B-Instruct; otherwise Qwen3-VL-2B-Instruct. torch is asked only where it is
    imported already or a GPU driver is there."""
    if "torch" not in sys.modules and not _gpu_driver():
        return DEFAULT_CPU_MODEL
    try:
        import torch
    except ImportError:
        return DEFAULT_CPU_MODEL
    if torch.cuda.is_available():
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        if total >= 24:
            return DEFAULT_GPU_QWEN35 if linear_attention_kernels() else DEFAULT_GPU_MODEL
    return DEFAULT_CPU_MODEL


def render_models_yaml() -> str:
    """`configs/models.yaml`: every preset, with what its numbers mean."""
    header = ("# Qwen3-VL and Qwen3.5 presets: frame size (pixels per frame, sides rounded to\n"
              "# multiples of 32; 230400 = 640x352 for 16:9, 220 tokens; 409600 = 832x480, 390\n"
              "# tokens) and visual tokens per chunk. Generated from vidqa/model/presets.py; a\n"
              "# test keeps them in sync. Use one with `-m NAME` (e.g. -m 8b, -m 3.5-9b) or its\n"
              "# hub id.\n")
    body = {p.name: {k: v for k, v in asdict(p).items() if k != "name"} | {"moe": p.moe}
            for p in PRESETS.values()}
    return header + yaml.safe_dump(body, sort_keys=False)


def resolve_model(config):
    """The config with its model filled in (the hardware default when empty) and, when the model
    is a known preset, the preset's frame size and chunk budget for the settings nobody set (a
    file, the environment or a flag: `Config.explicit`)."""
    model = config.model.model or default_model()
    preset = find_preset(model)
    if preset is not None:
        model = preset.hub_id if model.lower() == preset.name else model
        config = config.with_preset("decode", frame_max_pixels=preset.frame_max_pixels)
        config = config.with_preset("chunk", max_tokens=preset.chunk_max_tokens)
    if config.is_set("model", "model"):  # a preset's short name becomes its hub id
        return config.replace("model", model=model)
    return config.with_preset("model", model=model)
