"""`vidqa mcp`: the MCP server (`vidqa.serve.mcp`) over stdio or streamable HTTP."""

from __future__ import annotations

import sys
import threading

import click

from vidqa.cli.commands import cli
from vidqa.cli.options import (VideoCommand, call, check_exposed, fail, index_options,
                               ingest_options, model_named, pipeline, serve_key_option,
                               serve_model_options, serve_options, settings)
from vidqa.errors import printable


@cli.command(cls=VideoCommand)
@click.argument("folders", metavar="[DIR]...", nargs=-1, type=click.Path())
@click.option("--http", "over_http", is_flag=True,
              help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
@serve_key_option("with --http: key every request must carry (Authorization: Bearer KEY)")
@serve_options
@index_options
@serve_model_options
@ingest_options
@click.pass_context
def mcp(ctx: click.Context, folders: tuple[str, ...], over_http: bool, serve_key: str | None,
        **options) -> None:
    """Serve the recordings under each DIR (default: the current folder) to agents over the
    Model Context Protocol: tools list_videos, index_video, find, transcript, events, frames
    and ask (ask needs -m MODEL), and each video's transcript and event log as resources.
    Over stdio by default (what Claude Desktop, Claude Code, Cursor and VS Code start), or
    streamable HTTP with --http, behind the same guards as `vidqa serve`."""
    try:
        from vidqa.serve.mcp import create_mcp, http_app
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "mcp"
        fail(f"vidqa mcp needs the mcp extra ({missing} is missing): pip install 'vidqa[mcp]'")
        sys.exit(1)
    from vidqa.serve.service import Service

    config = settings(ctx, options)
    host = config.serve.host
    if over_http:
        check_exposed(host, serve_key)
    if serve_key and not over_http:
        if ctx.get_parameter_source("serve_key") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--api-key guards the HTTP transport; over stdio only the "
                                   "program that started vidqa can talk to it (add --http)")
        serve_key = None  # $VIDQA_API_KEY set for `vidqa serve`: nothing to guard here
    pipe = pipeline(ctx, {**options, "api_key": options.get("api_key")},
                    load_model=model_named(config), config=config)
    service = call(Service, list(folders) or ["."], pipe.config, backend=pipe.backend)
    count = len(service.library.scan(force=True))
    roots = ", ".join(printable(str(root)) for root in service.library.roots)
    model = f"model {pipe.backend.model}" if pipe.backend is not None else \
        "no model: ask is off, -m MODEL to answer"
    server = create_mcp(service)
    plural = "" if count == 1 else "s"
    if not over_http:
        # The embedder and OCR load while the client starts up, not on its first call.
        threading.Thread(target=service.warm, daemon=True, name="vidqa-warm").start()
        click.echo(f"vidqa mcp: {count} recording{plural} from {roots} over stdio ({model})",
                   err=True)
        try:
            server.run("stdio")
        finally:
            service.close()
        return
    import uvicorn

    from vidqa.serve.app import bind

    call(service.warm)
    sock = call(bind, host, config.serve.port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"vidqa mcp: {count} recording{plural} from {roots} at "
               f"http://{shown}:{port}/mcp ({model}); Ctrl-C stops", err=True)
    app = http_app(service, server, host=host, api_key=serve_key)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                      timeout_graceful_shutdown=2)).run(sockets=[sock])
    finally:
        service.close()
