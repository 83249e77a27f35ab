"""The speech track: what is said, at the second it is said, in find, the prompts, the event log
and the transcript; from the file's subtitles when it has them, else from recognition."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from helpers.media import make_video
from vidqa.cli import cli
from vidqa.config import Config
from vidqa.model.backends import get_backend
from vidqa.pipeline import Pipeline
from vidqa.tools import Tools

OCR_ON = Config().replace("ocr", mode="on")


def pipeline(whisper, config=OCR_ON, **options) -> Pipeline:
    return Pipeline(config, tools=Tools(config, asr=whisper), **options)


@pytest.fixture(scope="module")
def heard_home(tmp_path_factory):
    return tmp_path_factory.mktemp("heard-home")


@pytest.fixture
def heard(heard_home, monkeypatch):
    """This test's cache is the one the tests on `spoken_video` share: what one of them
    recognised (or read, or indexed) the others read (alone, a test recognises it itself)."""
    monkeypatch.setenv("VIDQA_HOME", str(heard_home))
    return heard_home


@pytest.mark.usefixtures("heard")
def test_what_is_said_lands_at_its_time(spoken_video, whisper):
    video, truth = spoken_video
    run = pipeline(whisper).run(str(video))
    said = run.tracks["speech"]
    assert [s.extras["from"] for s in said] == ["asr:base", "asr:base"]
    for segment, placed in zip(said, truth["speech"], strict=True):
        assert segment.start_s == pytest.approx(placed["start_s"], abs=0.5)
        assert segment.end_s == pytest.approx(placed["end_s"], abs=0.7)
        assert segment.extras["words"][0][0] == segment.start_s
        assert segment.extras["language"] == "en"
        assert all(len(w) == 4 and 0.0 <= w[3] <= 1.0 for w in segment.extras["words"])
    assert "invoices" in said[1].text.lower()
    assert run.warnings == [] and "speech" in run.seconds
    # Speech is searchable, and in the event log as its own source.
    assert {e.kind for e in run.entries()} == {"text", "speech"}
    assert [s.source for s in run.log() if s.source == "speech"] == ["speech", "speech"]


@pytest.mark.usefixtures("heard")
def test_find_pins_a_spoken_phrase_to_its_first_word(spoken_video, whisper):
    video, truth = spoken_video
    runner = pipeline(whisper)
    hit = runner.find(str(video), "please send the invoices", k=3)[0]
    assert hit.kind == "speech" and hit.refined_by == "words"
    assert hit.time_s == pytest.approx(truth["speech"][1]["start_s"], abs=0.5)
    # "invoices" is the third word: the pin moves past "Please send your" to it.
    later = runner.find(str(video), "invoices", k=3)[0]
    assert later.kind == "speech" and later.time_s > hit.time_s + 0.3
    shown = runner.find(str(video), "EVENT A", k=3)[0]
    assert shown.kind == "text" and shown.time_s == pytest.approx(10.0, abs=0.5)


@pytest.mark.usefixtures("heard")
def test_a_second_run_reads_the_cache_without_loading_a_model(spoken_video, whisper):
    from vidqa.model.asr import WhisperASR

    video, _ = spoken_video
    first = pipeline(whisper, tracks=["speech"]).run(str(video)).tracks["speech"]
    fresh = WhisperASR("base", device="cpu")
    again = pipeline(fresh, tracks=["speech"]).run(str(video)).tracks["speech"]
    assert again == first and fresh._model is None


@pytest.mark.usefixtures("heard")
def test_speech_enters_the_caption_and_ask_prompts_in_time_order(spoken_video, whisper,
                                                                  scripted):
    video, truth = spoken_video
    scripted.reply('{"summary": "a meeting about invoices", "events": []}')
    backend = get_backend("scripted", "scripted-model")
    runner = pipeline(whisper, backend=backend)
    runner.run(str(video))
    runner.ask(str(video), "who gets the invoices?")

    assert len(backend.calls) == 2  # the caption of the one chunk, then the answer
    for call in backend.calls:
        items = call[1]["content"]
        timeline = [(i, item["text"]) for i, item in enumerate(items)
                    if item["type"] == "text" and item["text"].startswith("<")]
        times = [float(text[1:].split(" seconds>")[0]) for _, text in timeline]
        assert times == sorted(times)  # frames and speech, one time line
        said = [(i, text) for i, text in timeline if " Said: " in text]
        assert len(said) == len(truth["speech"])  # one chunk: all that is said
        assert "invoices" in said[1][1].lower()
        # A speech line comes after the frame shown just before it, before the next frame.
        for i, text in said:
            t = float(text[1:].split(" seconds>")[0])
            before = [it["pts_s"] for it in items[:i] if it["type"] == "image"]
            after = [it["pts_s"] for it in items[i:] if it["type"] == "image"]
            assert all(p <= t for p in before) and all(p > t for p in after)


@pytest.mark.slow
def test_the_files_own_subtitles_are_the_speech_track(media, whisper):
    video = str(media / "torchcodec" / "nasa_13013.mp4")
    run = pipeline(whisper, config=Config(), tracks=["speech"]).run(video)
    said = run.tracks["speech"]
    assert said[0].text.startswith("NAR: This is the optical and science segment")
    assert said[0].start_s == 0.21 and len(said) == 4
    assert said[0].extras["from"].startswith("subtitles:stream ")
    heard = pipeline(whisper, config=Config().replace("speech", mode="asr"),
                     tracks=["speech"]).run(video).tracks["speech"]
    assert heard[0].extras["from"] == "asr:base" and "Goddard" in " ".join(
        s.text for s in heard)
    # --audio-stream names a stream to recognise: subtitles are then not used, and a stream
    # the file does not have is one line with the fix, before any work.
    chosen = pipeline(whisper, config=Config().replace("speech", audio_stream=4),
                      tracks=["speech"]).run(video).tracks["speech"]
    assert chosen[0].extras["from"] == "asr:base"
    out = CliRunner().invoke(cli, ["transcript", "--audio-stream", "9", video])
    assert out.exit_code == 1 and out.stderr.count("\n") == 1
    assert "has no audio stream #9" in out.stderr and "vidqa inspect" in out.stderr


def test_a_sidecar_srt_is_the_speech_track(tmp_path, clips):
    video = tmp_path / "lecture.mp4"
    shutil.copyfile(clips["short3"], video)
    (tmp_path / "lecture.srt").write_text("1\n00:00:00,400 --> 00:00:02,100\nGood morning, "
                                          "class.\n", encoding="utf-8")
    run = Pipeline(Config(), tracks=["speech"]).run(str(video))
    assert [(s.start_s, s.end_s, s.text, s.extras["from"]) for s in run.tracks["speech"]] == [
        (0.4, 2.1, "Good morning, class.", "subtitles:lecture.srt")]


def test_a_utf16_sidecar_is_read_and_its_cues_end_with_the_video(tmp_path, clips):
    video = tmp_path / "lecture.mp4"
    shutil.copyfile(clips["short3"], video)  # 3 s
    (tmp_path / "lecture.srt").write_text(
        "1\n00:00:00,400 --> 00:00:02,100\nGood morning, class.\n\n"
        "2\n00:00:02,500 --> 00:00:09,000\nRuns past the end.\n\n"
        "3\n00:00:61,000 --> 00:00:62,000\nNot a time.\n\n"
        "4\n00:00:03,000 --> 00:00:04,000\nAfter the end.\n", encoding="utf-16")
    run = Pipeline(Config(), tracks=["speech"]).run(str(video))
    assert [(s.start_s, s.end_s, s.text) for s in run.tracks["speech"]] == [
        (0.4, 2.1, "Good morning, class."), (2.5, 3.0, "Runs past the end.")]


def test_a_subtitle_stream_over_the_limit_leaves_the_track_out_with_the_fix(tmp_path):
    import subprocess

    from vidqa.media.ffmpeg import ffmpeg_exe

    srt = tmp_path / "many.srt"  # about 20 KiB as SubRip: over a 0.01 MiB limit
    srt.write_text("".join(f"{i + 1}\n00:00:00,{i:03d} --> 00:00:00,{i + 1:03d}\n"
                           f"Line {i} of many.\n\n" for i in range(500)), encoding="utf-8")
    video = tmp_path / "subbed.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=25:duration=2", "-i", str(srt), "-c:v",
                    "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:s",
                    "mov_text", str(video)], check=True)
    told: list[str] = []
    small = Config().replace("speech", max_subtitles_mb=0.01)
    run = Pipeline(small, tracks=["speech"], warn=told.append).run(str(video))
    assert "speech" not in run.tracks and len(told) == 1
    assert f"subtitle stream #1 of '{video}' is larger, over the 0.01 MiB limit" in told[0]
    assert "speech.max_subtitles_mb" in told[0]
    # Under the default limit the same stream is the speech track.
    said = Pipeline(Config(), tracks=["speech"]).run(str(video)).tracks["speech"]
    assert len(said) == 500 and said[0].text == "Line 0 of many."


def test_no_audio_means_no_speech_and_no_warning(media, whisper):
    run = pipeline(whisper, config=Config(), tracks=["speech"]).run(
        str(media / "torchcodec" / "dog_eating_854132.mp4"))
    assert run.tracks["speech"] == [] and run.warnings == []


def test_a_broken_audio_stream_warns_and_the_video_work_goes_on(tmp_path, whisper):
    made = make_video(tmp_path / "made.mkv", seconds=4, size="640x360", audio="flac",
                      source="color=c=0x204060", text="BROKEN SOUND")
    video = tmp_path / "broken.mkv"
    video.write_bytes(made.read_bytes().replace(b"A_FLAC", b"A_OPUS"))
    told: list[str] = []
    run = pipeline(whisper, warn=told.append).run(str(video))
    assert told == run.warnings and len(told) == 1
    assert "cannot decode audio stream #1" in told[0] and "--audio-stream" in told[0]
    assert "speech" not in run.tracks and any("BROKEN" in s.text for s in run.tracks["ocr"])
    out = CliRunner().invoke(cli, ["transcript", "--speech", "asr", str(video)])
    assert out.exit_code == 1 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("Error: cannot decode audio stream #1")


def test_speech_off_and_auto_without_a_source(spoken_video):
    video, _ = spoken_video
    run = Pipeline(Config().replace("speech", mode="off")).run(str(video))
    assert "speech" not in run.tracks
    # Asked for by name while off: one line with the fix.
    out = CliRunner().invoke(cli, ["events", "--tracks", "speech", "--speech", "off",
                                   str(video)])
    assert out.exit_code == 1 and "--speech auto" in out.stderr
    only_subtitles = Pipeline(Config().replace("speech", mode="subtitles"),
                              tracks=["speech"]).run(str(video))
    assert only_subtitles.tracks["speech"] == []  # no subtitles here, and no recognition asked


@pytest.mark.usefixtures("heard")
def test_the_transcript_command_writes_whispers_formats(spoken_video, tmp_path, whisper):
    video, truth = spoken_video
    tmp_path = tmp_path / "out"
    out = CliRunner().invoke(cli, ["-q", "transcript", "-f", "all", "-o", str(tmp_path),
                                   str(video)], catch_exceptions=False)
    assert out.exit_code == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "spoken.json", "spoken.srt", "spoken.txt", "spoken.vtt"]
    doc = json.loads((tmp_path / "spoken.json").read_text(encoding="utf-8"))
    assert [round(s["start"]) for s in doc["segments"]] == [
        round(s["start_s"]) for s in truth["speech"]]
    assert doc["segments"][1]["words"][0]["word"] == " Please"  # whisper's, with its space
    assert "invoices" in doc["text"].lower()
    txt = (tmp_path / "spoken.txt").read_text(encoding="utf-8").splitlines()
    assert len(txt) == 2 and "invoices" in txt[1].lower() and "-->" not in txt[1]
    srt = (tmp_path / "spoken.srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:10,") and "\n2\n00:00:2" in srt
    assert (tmp_path / "spoken.vtt").read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:10.")
    # Subtitles only, and the file has none: an empty transcript on stdout, and a note.
    none = CliRunner().invoke(cli, ["transcript", "-f", "txt", "--speech", "subtitles",
                                    str(video)])
    assert none.exit_code == 0 and none.stdout == "" and "nothing is said" in none.stderr


@pytest.mark.usefixtures("heard")
def test_without_a_recogniser_the_cache_is_read_or_the_fix_is_named(spoken_video, whisper,
                                                                    monkeypatch):
    from vidqa.model import asr

    video, _ = spoken_video
    heard = pipeline(whisper, tracks=["speech"]).run(str(video)).tracks["speech"]
    monkeypatch.setattr(asr, "asr_available", lambda: False)
    # Recognised before, on a machine with the extra: the cache is read without it.
    again = Pipeline(OCR_ON, tracks=["speech"]).run(str(video)).tracks["speech"]
    assert again == heard
    # Not recognised yet: one warning with the install command, and the run goes on.
    other = Config().replace("speech", beam_size=2)
    told: list[str] = []
    run = Pipeline(other, warn=told.append).run(str(video))
    assert "speech" not in run.tracks and len(told) == 1
    assert "has sound, but speech recognition is not installed; pip install 'vidqa[speech]'" \
        in told[0] and told[0].endswith("; the speech track is left out")


def test_text_the_guards_leave_out_is_told_with_its_time_range(spoken_video, whisper):
    """A loop Whisper invents is left out of the track with one warning line naming the file
    and the time range, said again by a run that reads the cache."""
    from vidqa.model.asr import WhisperASR, Word

    video, _ = spoken_video
    loop = tuple(Word(10.0 + i * 0.5, 10.5 + i * 0.5, f" {text}", 0.9) for i, text in
                 enumerate("See you soon. Take care. Take care. Take care. Take care. "
                           "Take care.".split()))
    fake = WhisperASR("base", device="cpu")
    fake._model = whisper.model()
    fake._by_stretch = lambda samples, forced, prior: [("en", 0.01, loop, None)]
    told: list[str] = []
    said = pipeline(fake, tracks=["speech"], warn=told.append).run(str(video)).tracks["speech"]
    assert [(s.start_s, s.end_s, s.text) for s in said] == [
        (10.0, 12.5, "See you soon. Take care.")]
    assert told == [f"speech: left out 00:00:12.500-00:00:16.500 of '{video}' (\"Take care. "
                    "Take care. Take care. Take...\"): it repeats itself (a loop Whisper "
                    "invents)"]
    again: list[str] = []
    cached = pipeline(fake, tracks=["speech"], warn=again.append).run(str(video))
    assert cached.tracks["speech"] == said and again == told


@pytest.mark.slow
def test_each_stretch_of_a_multilingual_video_is_in_its_language(whisper, tmp_path,
                                                                 tmp_path_factory):
    """German, Spanish, then English sentences (espeak-ng): each segment carries its own
    language; `speech.language` (--language) forces one."""
    import subprocess
    import wave

    from helpers.languages import session_recording
    from vidqa.media.ffmpeg import ffmpeg_exe

    path, spoken = session_recording(tmp_path_factory)
    picked = [next(s for s in spoken if s.language == language) for language in ("de", "es", "en")]
    with wave.open(str(path), "rb") as handle:
        rate = handle.getframerate()
        pcm = handle.readframes(handle.getnframes())
    gap = b"\0\0" * rate
    joined = gap[:rate] + gap.join(pcm[round(s.start_s * rate) * 2:round(s.end_s * rate) * 2]
                                   for s in picked) + gap
    sound = tmp_path / "languages.wav"
    with wave.open(str(sound), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(joined)
    video = tmp_path / "languages.mkv"  # FLAC: the samples as espeak-ng made them
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=black:s=160x120:r=5:d=14", "-i", str(sound), "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "flac", "-shortest", str(video)], check=True)
    asr_mode = Config().replace("speech", mode="asr")
    said = pipeline(whisper, config=asr_mode, tracks=["speech"]).run(str(video)).tracks["speech"]
    assert [s.extras["language"] for s in said] == ["de", "es", "en"]
    assert "zug nach" in said[0].text.lower() and "sale de la" in said[1].text.lower()
    forced = pipeline(whisper, config=asr_mode.replace("speech", language="de"),
                      tracks=["speech"]).run(str(video)).tracks["speech"]
    assert {s.extras["language"] for s in forced} == {"de"}
