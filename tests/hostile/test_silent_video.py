"""A video without sound (and without subtitles): indexed without a model, it is indexed for
the server too, not left "not indexed" because its speech track made nothing."""

from __future__ import annotations

import shutil

from vidqa.config import Config
from vidqa.pipeline import Pipeline

# `vidqa index --no-captions`: no model; OCR off keeps the test quick (the speech track is the
# one under test).
NO_MODEL = Config().replace("ocr", mode="off")


def test_a_video_without_sound_is_indexed_and_served_as_indexed(tmp_path, clips):
    from vidqa.serve.service import Service

    folder = tmp_path / "library"
    folder.mkdir()
    video = folder / "silent.mp4"
    shutil.copyfile(clips["short3"], video)  # testsrc, no audio stream, no subtitles
    runner = Pipeline(NO_MODEL)
    run = runner.run(str(video))
    runner.index(run)
    assert run.tracks["speech"] == [] and run.warnings == []

    loaded = Pipeline(NO_MODEL).load(str(video))
    assert loaded is not None, "a video indexed without sound reads as not indexed"
    assert loaded.tracks["speech"] == [] and "captions" not in loaded.tracks

    service = Service([folder], NO_MODEL, check=False)
    try:
        entry = service.entry("silent.mp4")
        service.check(entry)
        assert entry.state == "indexed" and entry.error is None
        assert service.run_of(entry) is not None
    finally:
        service.close()
