"""The `vidqa` command line: click commands only; the work happens in `vidqa.pipeline`."""

from vidqa.cli import evaluate  # noqa: F401 - registers `vidqa eval`
from vidqa.cli import mcp  # noqa: F401 - registers `vidqa mcp`
from vidqa.cli.commands import cli, main

__all__ = ["cli", "main"]
