"""Settings: one dataclass per stage, one table of defaults, and where state lives.

The field metadata of each dataclass (help text and valid range) is the single table that drives
validation, the CLI's `--help` and the commented `configs/default.yaml`; a test keeps the YAML in
sync. Settings merge in this order, later wins: defaults, the config file, command-line flags.
All state lives under platformdirs locations, or under `$VIDQA_HOME` when it is set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs
import yaml

from vidqa.errors import ConfigError

APP_NAME = "vidqa"


def _opt(default: Any, help: str, *, lo: float | None = None, hi: float | None = None,
         choices: tuple[str, ...] | None = None, added: bool = False) -> Any:
    """A setting. `added`: a setting newer than the caches; left out of cache keys while it has
    its default, so caches made before it existed stay valid."""
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi, "choices": choices,
                                            "added": added})


@dataclass(frozen=True)
class DecodeConfig:
    """How frames come out of ffmpeg."""

    fps: float = _opt(2.0, "frames sampled per second of video (each keeps its own stream time)",
                      lo=0.05, hi=30.0)
    frame_max_pixels: int = _opt(
        230_400, "largest model frame area in pixels (640x360); sides are rounded to multiples "
        "of 32 as Qwen3-VL does, so a 16:9 frame becomes 640x352 = 220 visual tokens",
        lo=1024, hi=16_777_216)
    frame_min_pixels: int = _opt(4096, "smallest model frame area in pixels (64x64)",
                                 lo=1024, hi=16_777_216)
    fast: bool = _opt(True, "skip decoding non-reference frames and the loop filter (about 2x "
                      "faster on B-frame streams; times stay exact, images lose a little sharpness)")
    threads: int = _opt(0, "ffmpeg decoder threads (0: all cores but one, at most 8; the spare "
                        "core runs the key-frame analysis)", lo=0, hi=64)


@dataclass(frozen=True)
class SelectConfig:
    """Scene detection and the key-frame policy."""

    policy: str = _opt("scenes", "which sampled frames become key frames: scenes (scene starts, "
                       "changes and intervals: vidqa's policy) or uniform (every sampled frame, "
                       "the baseline it is measured against)", choices=("scenes", "uniform"),
                       added=True)
    detector: str = _opt("content+adaptive", "PySceneDetect detector run on the sampled frames "
                         "(content+adaptive: the cuts either finds)",
                         choices=("content+adaptive", "content", "adaptive", "histogram", "hash"))
    threshold: float = _opt(0.0, "detector threshold (0: vidqa's default for 2 fps samples: "
                            "content 44, adaptive 3.0, histogram 0.20, hash 0.35; for "
                            "content+adaptive it sets the content one)", lo=0.0, hi=255.0)
    min_scene_s: float = _opt(1.0, "shortest scene in seconds; a cut closer to the last one is "
                              "merged into it", lo=0.0, hi=600.0)
    change_level: float = _opt(20.0, "mean difference in edge strength (Sobel, on 0-255 grey) "
                               "that marks one of a frame's 16x9 blocks as changed", lo=1.0,
                               hi=2040.0)
    color_level: float = _opt(40.0, "mean colour difference (0-255) that also marks a block as "
                              "changed", lo=1.0, hi=255.0)
    change_area: float = _opt(0.03, "fraction of blocks that changed against the last key frame "
                              "and then held still for two samples, that makes a new key frame",
                              lo=0.0, hi=1.0)
    motion_factor: float = _opt(2.0, "in a busy shot a change must cover this many times the "
                                "running share of blocks that hold still by chance", lo=0.0,
                                hi=100.0)
    duplicate_area: float = _opt(0.005, "a frame with no more changed blocks than this is a near-"
                                 "duplicate of the last key frame and is never kept", lo=0.0, hi=1.0)
    min_gap_s: float = _opt(1.0, "least time between two change key frames (scene starts ignore it)",
                            lo=0.0, hi=600.0)
    max_gap_s: float = _opt(30.0, "most time without a key frame while the picture still changes a "
                            "little", lo=1.0, hi=3600.0)


@dataclass(frozen=True)
class ChunkConfig:
    """How key frames are grouped for the model."""

    max_tokens: int = _opt(8192, "visual-token budget of one chunk", lo=64, hi=1_048_576)
    max_span_s: float = _opt(300.0, "longest stretch of video one chunk covers, in seconds",
                             lo=1.0, hi=86_400.0)


@dataclass(frozen=True)
class ModelConfig:
    """Which model writes captions and answers, and how it is reached."""

    backend: str = _opt("transformers", "transformers (local Qwen3-VL) or openai (an OpenAI-"
                        "compatible server); also $VIDQA_BACKEND", choices=("transformers", "openai"))
    model: str = _opt("", "hub id, local directory or served model name; empty: "
                      "Qwen/Qwen3-VL-8B-Instruct on a CUDA GPU with 24 GiB or more, else "
                      "Qwen/Qwen3-VL-2B-Instruct; also $VIDQA_MODEL")
    max_new_tokens: int = _opt(1024, "most tokens the model writes per chunk", lo=16, hi=32768)
    temperature: float = _opt(0.0, "sampling temperature (0: greedy, repeatable)", lo=0.0, hi=2.0)
    base_url: str = _opt("", "openai backend: server URL such as http://localhost:8000/v1; "
                         "empty: $OPENAI_BASE_URL")
    concurrency: int = _opt(4, "openai backend: chunks in flight at once", lo=1, hi=64)
    timeout_s: float = _opt(120.0, "openai backend: seconds one request may take, the whole "
                            "reply included; one past it is not retried (vidqa asks whether the "
                            "server still answers and says so), so a hung server costs this "
                            "long, not this times the retries", lo=1.0, hi=3600.0)
    retries: int = _opt(3, "openai backend: retries with backoff on 408, 409, 429, 5xx and "
                        "refused or dropped connections (never on a timeout)", lo=0, hi=20)
    load_in_4bit: bool = _opt(False, "transformers backend: 4-bit weights (bitsandbytes, CUDA "
                              "only) for the 32B and larger models")
    attention: str = _opt("auto", "transformers backend: attention kernel (auto: flash-"
                          "attention 2 when installed on CUDA, else sdpa)",
                          choices=("auto", "sdpa", "flash_attention_2", "eager"))


@dataclass(frozen=True)
class IndexConfig:
    """The on-screen text track and the search index."""

    ocr: str = _opt("auto", "read on-screen text on key frames (auto: when the OCR package is "
                    "installed)", choices=("auto", "on", "off"))
    ocr_threads: int = _opt(1, "threads OCR may use (onnxruntime takes every core otherwise)",
                            lo=1, hi=64)
    embedder: str = _opt("minilm", "sentence embeddings: minilm (offline, shipped in a package) "
                         "or any sentence-transformers model id in the Hugging Face cache")
    refine_top: int = _opt(3, "top hits whose time `find` pins by decoding again at 8 fps",
                           lo=0, hi=50)


STAGES: dict[str, type] = {"decode": DecodeConfig, "select": SelectConfig, "chunk": ChunkConfig,
                           "model": ModelConfig, "index": IndexConfig}


@dataclass(frozen=True)
class Config:
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    index: IndexConfig = field(default_factory=IndexConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in STAGES}

    def replace(self, stage: str, **values: Any) -> Config:
        """A copy with some settings of one stage changed (validated; None values ignored)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        current = getattr(self, stage)
        updated = _validated(STAGES[stage], {**dataclasses.asdict(current), **values}, source="")
        return dataclasses.replace(self, **{stage: updated})

    def key(self, *stages: str, version: str = "") -> str:
        """A short hash of the named stages' settings (and an algorithm `version`), for cache
        keys."""
        payload = json.dumps({"version": version, **{s: _keyed(getattr(self, s)) for s in stages}},
                             sort_keys=True)
        return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


def _keyed(settings: Any) -> dict[str, Any]:
    """One stage's settings as cache keys see them (`added` settings only when changed)."""
    return {f.name: getattr(settings, f.name) for f in fields(settings)
            if not (f.metadata.get("added") and getattr(settings, f.name) == f.default)}


def scalar(kind: type, value: Any) -> Any:
    """`value` as a setting of type `kind`; TypeError or ValueError when it is not one (a
    mapping or list where a scalar belongs, a non-finite or fractional count, ...)."""
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError
    if kind is int:
        number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise ValueError
        return int(number)
    if kind is float:
        number = float(value)
        if math.isnan(number):
            raise ValueError
        return number
    return str(value)


def _describe(value: Any) -> str:
    """A setting's value as a person wrote it, kept short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validated(cls: type, values: dict[str, Any], *, source: str) -> Any:
    where = f" in {source}" if source else ""
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = known.get(name)
        if spec is None:
            raise ConfigError(f"unknown setting '{name}'{where}; valid: {', '.join(known)}")
        kind = type(spec.default)
        meta = spec.metadata
        if value is None:
            raise ConfigError(f"setting '{name}'{where} has no value; give one "
                              f"(default: {spec.default!r}) or remove the line")
        try:
            value = scalar(kind, value)
        except (TypeError, ValueError, OverflowError):
            shape = {dict: "a mapping", list: "a list"}.get(type(value))
            got = shape or _describe(value)
            kind_name = {"str": "text", "int": "a whole number", "float": "a number",
                         "bool": "true or false"}[kind.__name__]
            raise ConfigError(f"setting '{name}'{where} must be {kind_name}, got {got}") \
                from None
        if meta["choices"] and value not in meta["choices"]:
            raise ConfigError(f"setting '{name}'{where} must be one of "
                              f"{', '.join(meta['choices'])}; got {_describe(value)}")
        lo, hi = meta["lo"], meta["hi"]
        if lo is not None and not (lo <= value <= hi):
            raise ConfigError(f"setting '{name}'{where} must be between {lo:g} and {hi:g}; "
                              f"got {_describe(value)}")
        out[name] = value
    return cls(**out)


# --- settings files -------------------------------------------------------------------------

MAX_SETTINGS_FILE_BYTES = 1 << 20  # config, sweep and needle files are a few hundred bytes


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases (`*name`, `<<: *name`): a few hundred bytes of
    nested aliases expand to gigabytes, and settings files have no use for them."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not allowed in vidqa's files; "
                "write the value out", event.start_mark)
        return super().compose_node(parent, index)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong, and where, on one line."""
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())[:200]
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def read_yaml(path: str | os.PathLike, *, what: str, fix: str) -> Any:
    """The data of a small YAML (or JSON) settings file: `what` names it in errors ("config
    file"), `fix` says what to do about a missing or broken one. Refused with one ConfigError
    line: a missing file or a folder, over 1 MiB, not UTF-8, aliases, invalid YAML."""
    source = Path(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read(MAX_SETTINGS_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} '{source}' does not exist; {fix}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} '{source}' is a folder; pass the file itself") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} '{source}': {exc.strerror or exc}; {fix}") \
            from None
    if len(raw) > MAX_SETTINGS_FILE_BYTES:
        raise ConfigError(f"{what} '{source}' is larger than 1 MiB; a settings file is a few "
                          "lines, check that this is the right file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} '{source}' is not UTF-8 text (byte {exc.start} is "
                          f"0x{raw[exc.start]:02x}); save it as UTF-8") from None
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} '{source}' is not valid YAML: {_yaml_problem(exc)}; {fix}") \
            from None
    except RecursionError:
        raise ConfigError(f"{what} '{source}' is nested too deeply; {fix}") from None


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Defaults, overlaid by the config file (`path`, else the user's config file if it exists),
    overlaid by $VIDQA_MODEL and $VIDQA_BACKEND."""
    config = _load_file(path)
    env = {"model": os.environ.get("VIDQA_MODEL"), "backend": os.environ.get("VIDQA_BACKEND")}
    return config.replace("model", **{k: v for k, v in env.items() if v})


def _load_file(path: str | os.PathLike | None) -> Config:
    if path is None:
        path = config_file()
        if not path.exists():
            return Config()
    path = Path(path)
    data = read_yaml(path, what="config file", fix="configs/default.yaml shows the format "
                     "(or drop --config)")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of stages "
                          f"({', '.join(STAGES)}); see configs/default.yaml")
    stages = {}
    for stage, values in data.items():
        if stage not in STAGES:
            raise ConfigError(f"unknown section '{stage}' in {path}; valid: {', '.join(STAGES)}")
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"section '{stage}' in {path} must be a mapping of settings")
        defaults = dataclasses.asdict(STAGES[stage]())
        stages[stage] = _validated(STAGES[stage], {**defaults, **values}, source=str(path))
    return Config(**stages)


def render_default_yaml() -> str:
    """The commented default config, as kept in `configs/default.yaml`."""
    lines = ["# vidqa settings with their defaults. Copy to $VIDQA_HOME/config.yaml (or the path",
             "# `vidqa paths` prints) and keep only what you change. Command-line flags win.", ""]
    for stage, cls in STAGES.items():
        lines.append(f"{stage}:  # {cls.__doc__.strip()}")
        for f in fields(cls):
            meta = f.metadata
            if meta["choices"]:
                valid = " | ".join(meta["choices"])
            elif meta["lo"] is not None:
                num = (lambda v: str(int(v))) if isinstance(f.default, int) else "{:g}".format
                valid = f"{num(meta['lo'])} .. {num(meta['hi'])}"
            elif isinstance(f.default, bool):
                valid = "true | false"
            else:
                valid = "text"
            lines.append(f"  # {meta['help']} [{valid}]")
            value = yaml.safe_dump(f.default).splitlines()[0]
            lines.append(f"  {f.name}: {value if f.default != '' else chr(39) * 2}")
        lines.append("")
    return "\n".join(lines)


def setting_help(stage: str, name: str) -> str:
    """The help text of one setting, with its default, for click options."""
    spec = {f.name: f for f in fields(STAGES[stage])}[name]
    return f"{spec.metadata['help']} [default: {spec.default}]"


def home_dir() -> Path | None:
    home = os.environ.get("VIDQA_HOME")
    return Path(home).expanduser() if home else None


def cache_dir() -> Path:
    """Where per-video work directories live."""
    home = home_dir()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME))


def config_file() -> Path:
    home = home_dir()
    return home / "config.yaml" if home else Path(platformdirs.user_config_dir(APP_NAME)) / "config.yaml"
