"""The options the commands share, each with its help from the settings table, and how they
become a `Config` and a `Pipeline`."""

from __future__ import annotations

import dataclasses
import os
import sys

import click

from vidqa.config import STAGES, Config, load_config, setting_help
from vidqa.errors import ConfigError, UsageError, VidqaError, printable


def fail(message: str) -> None:
    click.echo(f"Error: {printable(message)}", err=True)


def call(func, *args, **kwargs):
    """Call into the library; a VidqaError becomes one line on stderr and its exit status."""
    try:
        return func(*args, **kwargs)
    except VidqaError as exc:
        fail(str(exc))
        sys.exit(exc.exit_code)


class VideoCommand(click.Command):
    """A command whose arguments are file names: an existing file whose name starts with '-'
    is taken as a file, not as an unknown option (e.g. `vidqa ingest -clip.mp4`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        known = {name for p in self.get_params(ctx) for name in (*p.opts, *p.secondary_opts)}
        fixed, literal = [], False
        for arg in args:
            literal = literal or arg == "--"
            if (not literal and arg.startswith("-") and arg != "-"
                    and arg.split("=", 1)[0] not in known and os.path.isfile(arg)):
                arg = os.path.join(".", arg)
            fixed.append(arg)
        return super().parse_args(ctx, fixed)


def _apply(options: list):
    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


# (option, stage, setting): the flags that set one setting each
_SETTING_FLAGS = [
    ("--fps", "decode", "fps", float),
    ("--max-pixels", "decode", "frame_max_pixels", int),
    ("--fast/--no-fast", "decode", "fast", None),
    ("--detector", "select", "detector", None),
    ("--policy", "select", "policy", None),
    ("--threshold", "select", "threshold", float),
    ("--min-scene", "select", "min_scene_s", float),
    ("--max-gap", "select", "max_gap_s", float),
    ("--max-tokens", "chunk", "max_tokens", int),
    ("--max-span", "chunk", "max_span_s", float),
    ("--max-new-tokens", "model", "max_new_tokens", int),
    ("--ocr", "ocr", "mode", None),
    ("--ocr-size", "ocr", "detect_size", int),
    ("--embedder", "index", "embedder", str),
    ("--visual-model", "index", "visual_model", str),
    ("--speech", "speech", "mode", None),
    ("--speech-model", "speech", "model", str),
    ("--language", "speech", "language", str),
    ("--audio-stream", "speech", "audio_stream", int),
    ("--max-subtitles-mb", "speech", "max_subtitles_mb", float),
    ("--host", "serve", "host", str),
    ("--port", "serve", "port", int),
    ("--cors-origins", "serve", "cors_origins", str),
    ("--allowed-hosts", "serve", "allowed_hosts", str),
    ("--max-body-mb", "serve", "max_body_mb", float),
    ("--max-upload-mb", "serve", "max_upload_mb", float),
]


def _setting_option(flag: str, stage: str, name: str, kind):
    spec = {f.name: f for f in dataclasses.fields(STAGES[stage])}[name]
    extra = {}
    if "/" in flag:
        extra["default"] = None
    elif spec.metadata["choices"]:
        extra["type"] = click.Choice(list(spec.metadata["choices"]))
    else:
        extra["type"] = kind
    return click.option(flag, f"{stage}__{name}", help=setting_help(stage, name), **extra)


def _flags(stages: tuple[str, ...]):
    return [_setting_option(*f) for f in _SETTING_FLAGS if f[1] in stages]


ingest_options = _apply(_flags(("decode", "select", "chunk")) + [
    click.option("--allow-errors", is_flag=True,
                 help="keep the frames of a truncated or corrupt file instead of failing")])

index_options = _apply(_flags(("ocr", "index", "speech")))
speech_options = _apply(_flags(("speech",)))


def _backend_names() -> list[str]:
    from vidqa.model.backends import backend_names

    return backend_names()


def _model_flags(key: str = "--api-key") -> list:
    return [
        click.option("-m", "--model", "model__model", help="hub id, local directory, preset (2b, "
                     "8b, 30b-a3b-thinking, ...) or served model name; also $VIDQA_MODEL "
                     "[default: by hardware]"),
        click.option("-b", "--backend", "model__backend", type=click.Choice(_backend_names()),
                     help="where the model runs; also $VIDQA_BACKEND [default: transformers]"),
        click.option("--base-url", "model__base_url", multiple=True,
                     help="openai backend: server URL; several times (or a file of URLs, one a "
                     "line) for a pool: each request goes to the least busy server that "
                     "answers; also $OPENAI_BASE_URL"),
        click.option(key, "api_key", help="openai backend: API key; also $OPENAI_API_KEY"),
        *_flags(("model",)),
    ]


model_options = _apply(_model_flags())
# `vidqa serve` keeps --api-key for its own key: the model server's is --backend-api-key.
serve_model_options = _apply(_model_flags("--backend-api-key"))
serve_options = _apply(_flags(("serve",)))


def serve_key_option(about: str):
    """`--api-key` of a server vidqa runs (`serve`, `mcp --http`): `about` says what it guards."""
    return click.option("--api-key", "serve_key", envvar="VIDQA_API_KEY",
                        help=f"{about}; needed to listen on any address but loopback; also "
                        "$VIDQA_API_KEY")


def check_exposed(host: str, key: str | None) -> None:
    """A usage error for a server on an address others reach, with no key asked of them."""
    from vidqa.serve.guard import is_loopback

    if not is_loopback(host) and not key:
        raise click.UsageError(f"--host {host} is not a loopback address: anyone who reaches "
                               "it could read the videos; pass --api-key KEY (or set "
                               "$VIDQA_API_KEY) so that every request must carry the key")


def settings(ctx: click.Context, options: dict) -> Config:
    """The config file (or defaults) with every `stage__name` option the user gave set."""
    config = call(load_config, ctx.obj.get("config_path"))
    by_stage: dict[str, dict] = {}
    for key, value in options.items():
        if "__" in key and value is not None and value != ():  # () : a list flag not given
            stage, name = key.split("__", 1)
            by_stage.setdefault(stage, {})[name] = value
    for stage, values in by_stage.items():
        config = call(with_flags, config, stage, values)
    return config


def with_flags(config: Config, stage: str, values: dict) -> Config:
    """`config` with settings of one stage given as flags: a value it refuses is a usage error
    (exit status 2) with the same message."""
    try:
        return config.replace(stage, **values)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def model_named(config: Config) -> bool:
    """Whether a model was named (flag, environment or config file), not left to the default."""
    return config.is_set("model", "model") and bool(config.model.model.strip())


def pipeline(ctx: click.Context, options: dict, *, load_model: bool, tracks=None,
             resolve: bool = True, config: Config | None = None, pooled: bool = False):
    """The `Pipeline` for a command: the settings, with the model resolved (`resolve`: the
    hardware default, a preset's values under the user's settings), the backend when
    `load_model` (the model is loaded), progress bars on stderr. `config`: the settings when
    the command has read them already; `pooled`: even one server is a pool (a Ray job)."""
    from vidqa.cli.progress import bars
    from vidqa.model.presets import resolve_model
    from vidqa.pipeline import Pipeline

    config = config or settings(ctx, options)
    config = resolve_model(config) if resolve else config
    backend = None
    if load_model:
        from vidqa.model.backends import open_backend

        backend = call(open_backend, config, api_key=options.get("api_key"), pooled=pooled)
        report_servers(ctx, backend)
    return Pipeline(config, backend=backend, tracks=tracks,
                    allow_errors=options.get("allow_errors", False),
                    progress=bars(ctx.obj.get("quiet", False)),
                    warn=lambda text: click.echo(f"warning: {printable(text)}", err=True))


def report_servers(ctx: click.Context, backend) -> None:
    """When the command ends, however it ends, what each server of a pool did (stderr)."""
    if not hasattr(backend, "report"):
        return

    def report() -> None:
        try:
            lines = backend.report()
        except Exception:  # noqa: BLE001 - the counts went with a cluster that stopped
            return
        if lines:
            click.echo("servers:", err=True)
            for line in lines:
                click.echo(f"  {printable(line)}", err=True)

    ctx.call_on_close(report)


def report_failures(failures: list[str], total: int) -> None:
    """Every failure of a batch at the end, then exit status 1."""
    if not failures:
        return
    if total > 1:
        fail(f"{len(failures)} of {total} videos failed:")
        for message in failures:
            click.echo(f"  {printable(message)}", err=True)
    else:
        fail(failures[0])
    sys.exit(1)
