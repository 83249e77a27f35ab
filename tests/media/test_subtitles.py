"""Subtitles as the speech track reads them: which times are times, cues cut to the video's
length, the encodings subtitle files come in, links and sizes that are refused, and parsing
that holds little beyond the cues it gives."""

from __future__ import annotations

import random
import subprocess
import tracemalloc

import pytest

from vidqa.media.ffmpeg import ffmpeg_exe
from vidqa.media.probe import probe
from vidqa.media.subtitles import (SubtitlesRefused, check_sidecar, parse_cues, read_sidecar,
                                   read_stream, sidecar, text_streams)

SRT = ("1\r\n00:00:01,000 --> 00:00:02,500\r\nGood morning, café.\r\n\r\n"
       "2\r\n00:00:08,000 --> 00:00:12,000\r\nRuns past the end\r\n\r\n"
       "3\r\n00:00:10,000 --> 00:00:11,000\r\nAfter the end\r\n")
CUES = [(1.0, 2.5, "Good morning, café."), (8.0, 12.0, "Runs past the end"),
        (10.0, 11.0, "After the end")]


def _times(cues) -> list[tuple[float, float, str]]:
    return [(c.start_s, c.end_s, c.text) for c in cues]


def test_a_cue_after_the_video_is_dropped_and_one_running_past_its_end_ends_there():
    assert _times(parse_cues(SRT)) == CUES  # length unknown: every cue as written
    assert _times(parse_cues(SRT, duration_s=10.0)) == [
        (1.0, 2.5, "Good morning, café."), (8.0, 10.0, "Runs past the end")]


def test_minutes_or_seconds_of_sixty_or_more_are_not_a_time():
    text = ("1\n00:61:00,000 --> 00:61:02,000\nNot at 1:01:00\n\n"
            "2\n00:00:75,000 --> 00:00:76,000\nNot at 1:15\n\n"
            "3\n01:01:00,000 --> 01:01:02,000\nAt 1:01:00\n\n"
            "WEBVTT\n\n59:59.000 --> 60:01.000\nNor this\n")
    assert _times(parse_cues(text)) == [(3660.0, 3662.0, "At 1:01:00")]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-8", "utf-32-le"])
def test_a_file_with_a_byte_order_mark_is_read_in_its_encoding(tmp_path, encoding):
    path = tmp_path / f"talk.{encoding}.srt"
    path.write_bytes(("\ufeff" + SRT).encode(encoding))
    assert _times(read_sidecar(path)) == CUES


def test_utf16_without_a_byte_order_mark_and_utf8_without_one_are_read():
    assert _times(parse_cues(SRT.encode("utf-16-le"))) == CUES
    assert _times(parse_cues(SRT.encode("utf-16-be"))) == CUES
    assert _times(parse_cues(SRT.encode("utf-8"))) == CUES
    # Latin-1 bytes that are not UTF-8: the cue is kept, the letter replaced.
    assert parse_cues(SRT.encode("latin-1"))[0].text == "Good morning, caf\ufffd."


def test_what_is_not_subtitles_gives_no_cues(tmp_path):
    noise = random.Random(3).randbytes(200_000)
    for i, data in enumerate((noise, b"", b"\x00" * 1000, b"\xff\xfe" + noise,
                              b"\xfe\xff\xd8\x00", b"WEBVTT\n\n",
                              b"1\n00:00:01,000 --> garbage\ntext\n")):
        path = tmp_path / f"not-{i}.srt"
        path.write_bytes(data)
        assert read_sidecar(path) == []


def test_a_sidecar_that_links_out_of_its_folder_is_refused(tmp_path, clips):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nSECRET\n",
                                        encoding="utf-8")
    folder = tmp_path / "srv"
    (folder / "subs").mkdir(parents=True)
    video = folder / "talk.mp4"
    video.write_bytes(clips["short3"].read_bytes())
    (folder / "talk.srt").symlink_to(outside / "secret.srt")
    found = sidecar(probe(video))
    assert found == folder / "talk.srt"  # found where it lies, and then refused
    with pytest.raises(SubtitlesRefused, match=r"'.*srv/talk\.srt' are a link to a file outside "
                                               r"'.*srv'.* copy the file beside the video"):
        check_sidecar(found)
    with pytest.raises(SubtitlesRefused):
        read_sidecar(found)
    # A link that stays inside the folder is read; so is a link into a folder that is itself
    # reached through a link (both sides are resolved).
    (folder / "talk.srt").unlink()
    (folder / "subs" / "talk.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nHello\n",
                                              encoding="utf-8")
    (folder / "talk.srt").symlink_to("subs/talk.srt")
    assert _times(read_sidecar(sidecar(probe(video)))) == [(0.5, 2.0, "Hello")]
    linked_folder = tmp_path / "srv-link"
    linked_folder.symlink_to(folder)
    assert _times(read_sidecar(linked_folder / "talk.srt")) == [(0.5, 2.0, "Hello")]


def test_a_sidecar_over_the_limit_is_refused_by_its_size_without_reading_it(tmp_path):
    path = tmp_path / "talk.srt"
    with open(path, "wb") as handle:  # 50 MiB that take no disk: a sparse file
        handle.truncate(50 << 20)
    with pytest.raises(SubtitlesRefused, match=r"'.*talk\.srt' are 50\.0 MiB, over the 8 MiB "
                                               r"limit.*--max-subtitles-mb"):
        check_sidecar(path, 8.0)
    with pytest.raises(SubtitlesRefused, match="over the 8 MiB limit"):
        read_sidecar(path, max_mb=8.0)
    assert read_sidecar(path, max_mb=64.0) == []  # zeros: no cues, and no error


@pytest.fixture(scope="session")
def subtitled(tmp_path_factory):
    """A 4 s video carrying a mov_text stream of 2000 cues (about 90 KiB as SubRip)."""
    folder = tmp_path_factory.mktemp("subtitled")
    srt = folder / "many.srt"
    srt.write_text("".join(f"{i + 1}\n00:00:{i * 2 // 1000:02d},{i * 2 % 1000:03d} --> "
                           f"00:00:{(i * 2 + 1) // 1000:02d},{(i * 2 + 1) % 1000:03d}\n"
                           f"Cue number {i} of the long list.\n\n" for i in range(2000)),
                   encoding="utf-8")
    video = folder / "many.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25:duration=4", "-i", str(srt), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:s", "mov_text",
                    str(video)], check=True)
    return video


def test_a_subtitle_stream_is_read_up_to_the_limit_and_no_further(subtitled):
    info = probe(subtitled)
    stream = text_streams(info)[0]
    cues = read_stream(info, stream, max_mb=8.0)
    assert len(cues) == 2000 and cues[-1].text == "Cue number 1999 of the long list."
    with pytest.raises(SubtitlesRefused, match=r"subtitle stream #1 of '.*many\.mp4' is larger, "
                                               r"over the 0\.05 MiB limit.*max_subtitles_mb"):
        read_stream(info, stream, max_mb=0.05)


@pytest.mark.slow
def test_parsing_holds_little_beyond_the_cues_it_gives(tmp_path):
    """Beyond the cues themselves, parsing a file holds less than the file's own size: no
    copies of the whole text, no list of all its lines."""
    path = tmp_path / "dense.srt"
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(f"{i + 1}\n00:00:0{i % 10},000 --> 00:00:0{i % 10},900\n"
                       f"Line {i}: good morning and welcome to the budget review.\n\n"
                       for i in range(40_000))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        cues = read_sidecar(path)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cues) == 40_000
    assert peak - held < size, (peak, held, size)
