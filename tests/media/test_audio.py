"""Audio and subtitles as the speech track reads them: the stream chosen like the video one,
16 kHz mono on the file's own timeline, memory flat in windows cut at quiet moments, text
subtitle streams and sidecar files read without recognition."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers.media import make_video
from vidqa.errors import VidqaError
from vidqa.media.audio import (SAMPLE_RATE, AudioError, AudioReader, audio_length,
                               choose_audio, quiet_cut)
from vidqa.media.probe import probe
from vidqa.media.subtitles import parse_cues, read_sidecar, read_stream, sidecar, text_streams


def test_the_audio_stream_is_chosen_like_the_video_one(media):
    info = probe(media / "torchcodec" / "nasa_13013.mp4")  # 2 audio streams
    streams = [s for s in info.streams if s.kind == "audio"]
    assert len(streams) == 2
    assert choose_audio(info).index == streams[0].index  # the default (else the first)
    assert choose_audio(info, streams[1].index).index == streams[1].index
    with pytest.raises(VidqaError, match=r"no audio stream #9 .*#1, #\d.*vidqa inspect"):
        choose_audio(info, 9)
    assert choose_audio(probe(media / "torchcodec" / "dog_eating_854132.mp4")) is None


def test_audio_is_16k_mono_on_the_files_timeline(spoken_video):
    video, truth = spoken_video
    info = probe(video)
    reader = AudioReader(info, choose_audio(info))
    windows = list(reader.windows(window_s=12.0))  # small windows: several cuts in 40 s
    assert len(windows) >= 3
    for a, b in zip(windows, windows[1:]):  # back to back, nothing lost or doubled
        assert b.start_s == pytest.approx(a.end_s, abs=1 / SAMPLE_RATE)
    assert windows[-1].end_s == pytest.approx(truth["duration_s"], abs=0.1)
    samples = np.concatenate([w.samples for w in windows])
    loud = np.flatnonzero(np.abs(samples) > 0.05) / SAMPLE_RATE
    first = truth["speech"][0]
    assert loud[0] == pytest.approx(first["start_s"], abs=0.3)  # speech begins where placed
    assert loud.max() < truth["speech"][-1]["end_s"] + 0.3


def test_a_window_ends_in_the_quietest_moment():
    rate = SAMPLE_RATE
    samples = np.full(rate * 20, 0.5, dtype=np.float32)
    samples[int(rate * 13.0):int(rate * 13.4)] = 0.0  # a pause at 13.0-13.4 s
    cut = quiet_cut(samples, rate * 15)
    assert 13.0 <= cut / rate <= 13.4


def test_a_broken_audio_stream_is_an_audio_error(tmp_path):
    video = make_video(tmp_path / "sound.mkv", seconds=3, size="160x120", audio="flac")
    data = video.read_bytes()
    assert data.count(b"A_FLAC") == 1
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(data.replace(b"A_FLAC", b"A_OPUS"))  # FLAC packets an Opus decoder rejects
    info = probe(broken)
    with pytest.raises(AudioError, match=r"cannot decode audio stream #1 of .*broken\.mkv"):
        list(AudioReader(info, choose_audio(info)).windows())


def test_audio_length_of_a_sound_file_and_refusals(tmp_path):
    from vidqa.evaluation.spoken import lines

    line = lines()["needle-cake"]
    assert audio_length(line.path) == pytest.approx(line.duration_s, abs=0.05)
    silent = make_video(tmp_path / "silent.mp4", seconds=1, size="160x120")
    with pytest.raises(VidqaError, match="has no audio stream; give a sound file"):
        audio_length(silent)


# --- subtitles --------------------------------------------------------------------------------

def test_the_embedded_subtitle_stream_is_read_as_cues(media):
    info = probe(media / "torchcodec" / "nasa_13013.mp4")
    streams = text_streams(info)
    assert [s.codec for s in streams] == ["mov_text", "mov_text"]
    cues = read_stream(info, streams[0])
    reference = read_sidecar(media / "torchcodec" / "nasa_13013.mov_text_stream0.srt")
    assert [c.text for c in cues] == [c.text for c in reference]
    assert [round(c.start_s, 2) for c in cues] == [round(c.start_s, 2) for c in reference]
    assert cues[0].text.startswith("NAR: This is the optical") and cues[0].start_s == 0.21


def test_cue_text_loses_tags_and_breaks():
    cues = parse_cues("1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i>\\Nthere\n{\\an8}you\n\n"
                      "WEBVTT\n\n00:01:02.250 --> 00:01:03.000 align:start\n&amp; more\n")
    assert [(c.start_s, c.end_s, c.text) for c in cues] == [
        (1.0, 2.5, "Hello there you"), (62.25, 63.0, "& more")]


def test_a_sidecar_beside_the_video_is_found(tmp_path, clips):
    video = tmp_path / "talk.mp4"
    shutil.copyfile(clips["short3"], video)
    assert sidecar(probe(video)) is None
    (tmp_path / "talk.vtt").write_text("WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHi\n",
                                       encoding="utf-8")
    assert sidecar(probe(video)).name == "talk.vtt"
    (tmp_path / "talk.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nHello\n",
                                       encoding="utf-8")
    assert sidecar(probe(video)).name == "talk.srt"  # .srt first
    # A name with glob characters; another video's part; a language tag.
    odd = tmp_path / "odd" / "talk [1080p].mp4"
    odd.parent.mkdir()
    shutil.copyfile(clips["short3"], odd)
    (odd.parent / "talk [1080p].part2.srt").write_text("", encoding="utf-8")
    assert sidecar(probe(odd)) is None
    (odd.parent / "talk [1080p].pt-BR.vtt").write_text("WEBVTT\n", encoding="utf-8")
    assert sidecar(probe(odd)).name == "talk [1080p].pt-BR.vtt"
