"""The one ffmpeg runner: arguments as a list, its errors read one way into one line."""

from __future__ import annotations

import pytest

from vidqa.errors import DecodeError, VidqaError
from vidqa.media.ffmpeg import GLOBAL_ARGS, command, input_args, local_url, run_ffmpeg


def test_the_command_line_is_a_list_with_the_global_arguments():
    args = command(["-i", "x"])
    assert args[1:1 + len(GLOBAL_ARGS)] == list(GLOBAL_ARGS) and "-nostdin" in args
    assert args[args.index("-loglevel") + 1] == "level+error"


def test_a_failed_run_is_one_line_with_ffmpeg_s_reason_and_the_fix(tmp_path):
    out = tmp_path / "out.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "color=size=64x64:duration=0.2", local_url(out)],
               "cannot write", "retry")
    assert out.stat().st_size > 0
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    with pytest.raises(DecodeError) as info:
        run_ffmpeg([*input_args(broken), "-f", "null", "-"], f"cannot read '{broken}'",
                   "check the file", error=DecodeError)
    message = str(info.value)
    assert message.startswith(f"cannot read '{broken}': ffmpeg failed (")
    assert "(moov atom not found)" in message and message.endswith("; check the file")
    assert "\n" not in message and isinstance(info.value, VidqaError)
