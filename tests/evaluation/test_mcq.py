"""`vidqa eval mcq`: every published format read from small fixture files (written here from the
formats' documentation), questions answered through the real pipeline by a model whose answer
pattern is known, accuracy as computed by hand, resume, budgets on every line."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from helpers.openai_server import OpenAIServer
from helpers.scripted import ANSWERING, AnsweringBackend
from vidqa.cli import cli
from vidqa.config import Config
from vidqa.evaluation.mcq import VideoFiles, format_table, load_questions, mcq_eval
from vidqa.model.backends import REGISTRY, get_backend
from vidqa.pipeline import Pipeline

OPTIONS = ["a red car", "a fire alarm test", "a budget table", "nothing"]


def write(path, data, lines: bool = False):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in data) + "\n" if lines else json.dumps(data))
    return path


@pytest.fixture
def benchmarks(tmp_path):
    """One small annotation file per format; every video id names a copy of one clip."""
    root = tmp_path / "bench"
    videomme = write(root / "videomme" / "test.json", [
        {"video_id": "001", "duration": "short", "domain": "Knowledge", "videoID": "fFjv93ACGo8",
         "question_id": "001-1", "task_type": "Counting Problem", "question": "What shows?",
         "options": [f"{'ABCD'[i]}. {o}" for i, o in enumerate(OPTIONS)], "answer": "B"},
        {"video_id": "001", "duration": "short", "domain": "Knowledge", "videoID": "fFjv93ACGo8",
         "question_id": "001-2", "task_type": "OCR Problems", "question": "Which text?",
         "options": [f"{'ABCD'[i]}. {o}" for i, o in enumerate(OPTIONS)], "answer": "C"}])
    lvbench = write(root / "lvbench" / "video_info.meta.jsonl", [
        {"key": "lv0001", "type": "cartoon", "video_info": {"duration_minutes": 66.2},
         "qa": [{"uid": "7", "question": "What happens first?\n(A) a red car\n(B) a fire alarm "
                                         "test\n(C) a budget table\n(D) nothing",
                 "answer": "B", "question_type": ["key information retrieval"],
                 "time_reference": "00:41-00:43"}]}], lines=True)
    longvideobench = write(root / "lvb" / "lvb_val.json", [
        {"id": "86CxyhFV9MI_0", "video_id": "86CxyhFV9MI", "video_path": "86CxyhFV9MI.mp4",
         "question": "What is on screen?", "candidates": OPTIONS, "correct_choice": 0,
         "duration_group": 600, "question_category": "TOS"}])
    mlvu = write(root / "mlvu" / "json" / "1_plotQA.json", [
        {"video": "movie101_66.mp4", "duration": 798.0, "question": "What appears?",
         "candidates": OPTIONS, "answer": "a fire alarm test", "question_type": "plotQA"}])
    ego_questions = write(root / "egoschema" / "questions.json", [
        {"q_uid": "0074f737-11cb-497d-8d07-77c3a8127391", "google_drive_id": "x",
         "question": "What is the overall activity?", "option 0": "cooking",
         "option 1": "a fire alarm test", "option 2": "reading", "option 3": "driving",
         "option 4": "sleeping"},
        {"q_uid": "no-answer", "question": "unscored", "option 0": "a", "option 1": "b"}])
    write(root / "egoschema" / "subset_answers.json",
          {"0074f737-11cb-497d-8d07-77c3a8127391": 1})
    plain = write(root / "mine.jsonl", [
        {"id": "q1", "video": "meeting", "question": "When?", "options": OPTIONS, "answer": 1,
         "task": "temporal", "duration": "short"},
        {"id": "q2", "video": "meeting", "question": "What?", "options": dict(zip("ABCD", OPTIONS)),
         "answer": "D", "task": "perception", "duration": "short"}], lines=True)
    return {"videomme": videomme, "lvbench": lvbench, "longvideobench": longvideobench,
            "mlvu": mlvu.parent, "egoschema": ego_questions, "jsonl": plain}


@pytest.fixture
def videos(tmp_path, event_video):
    folder = tmp_path / "videos"
    (folder / "nested").mkdir(parents=True)
    for name in ("fFjv93ACGo8.mp4", "lv0001.mp4", "86CxyhFV9MI.mp4", "movie101_66.mp4",
                 "0074f737-11cb-497d-8d07-77c3a8127391.mp4", "nested/meeting.mkv"):
        shutil.copyfile(event_video[0], folder / name)
    return folder


def test_every_published_format_is_read_with_its_answer_as_a_letter(benchmarks):
    read = {fmt: load_questions(path) for fmt, path in benchmarks.items()}  # formats guessed
    assert [(q.id, q.video, q.answer, q.task, q.duration) for q in read["videomme"]] == [
        ("001-1", "fFjv93ACGo8", "B", "Counting Problem", "short"),
        ("001-2", "fFjv93ACGo8", "C", "OCR Problems", "short")]
    assert read["videomme"][0].options == tuple(OPTIONS)  # "A. " taken off
    (lv,) = read["lvbench"]
    assert (lv.question, lv.options, lv.answer, lv.task, lv.duration) == (
        "What happens first?", tuple(OPTIONS), "B", "key information retrieval", "66 min")
    (lvb,) = read["longvideobench"]
    assert (lvb.video, lvb.answer, lvb.duration, lvb.task) == ("86CxyhFV9MI.mp4", "A", "600",
                                                                "TOS")
    (ml,) = read["mlvu"]
    assert (ml.answer, ml.task, ml.duration) == ("B", "plotQA", "medium")
    (ego,) = read["egoschema"]  # the question without a published answer is left out
    assert (ego.answer, len(ego.options)) == ("B", 5)
    assert [q.answer for q in read["jsonl"]] == ["B", "D"]
    prompt = read["jsonl"][0].prompt()
    assert prompt.splitlines() == ["When?", "A. a red car", "B. a fire alarm test",
                                   "C. a budget table", "D. nothing",
                                   "Answer with the option's letter from the given choices "
                                   "directly."]


def test_a_bad_file_is_one_line_with_the_fix(tmp_path):
    from vidqa.errors import VidqaError

    bad = write(tmp_path / "mine.jsonl", [{"id": "q1", "video": "v", "question": "?"}],
                lines=True)
    with pytest.raises(VidqaError, match="has no 'options'"):
        load_questions(bad)
    wrong = write(tmp_path / "x.jsonl", [{"video": "v", "question": "?", "options": ["a", "b"],
                                         "answer": "E"}], lines=True)
    with pytest.raises(VidqaError, match="none of the 2 options"):
        load_questions(wrong)


def test_accuracy_per_task_and_duration_is_what_the_known_answers_give(
        benchmarks, videos, tmp_path, monkeypatch):
    """The model always answers (B): every question whose answer is B is right."""
    monkeypatch.setitem(REGISTRY, "answering", ANSWERING)
    monkeypatch.setattr(AnsweringBackend, "answer", "<think>Looking.</think> The answer is (B).")
    config = Config().replace("speech", mode="off")
    pipeline = Pipeline(config, backend=get_backend("answering", "answering-model"))
    questions = [q for path in benchmarks.values() for q in load_questions(path)]
    assert len(questions) == 8
    report = mcq_eval(questions, VideoFiles(videos), tmp_path / "out", pipeline=pipeline)
    # answers: videomme B, C; lvbench B; lvb A; mlvu B; egoschema B; jsonl B, D -> 5 of 8
    assert report.accuracy()["all"] == (0.625, 8)
    assert report.accuracy("task")["Counting Problem"] == (1.0, 1)
    assert report.accuracy("task")["OCR Problems"] == (0.0, 1)
    assert report.accuracy("duration")["short"] == (0.5, 4)
    line = json.loads(report.results_path.read_text().splitlines()[0])
    assert line["letter"] == "B" and line["reply"].endswith("The answer is (B).")
    for budget in ("scope", "fps", "max_pixels", "frames_sent", "visual_tokens_sent",
                   "context_tokens", "model", "backend", "subtitles", "temperature"):
        assert budget in line
    assert line["frames_sent"] > 0 and line["visual_tokens_sent"] == line["frames_sent"] * 220
    assert "overall" not in format_table(report) and "task: Counting Problem" in \
        format_table(report)
    # resume: nothing is asked again
    calls = len(pipeline.backend.calls)
    again = mcq_eval(questions, VideoFiles(videos), tmp_path / "out", pipeline=pipeline)
    assert (again.ran, again.skipped) == (0, 8) and len(pipeline.backend.calls) == calls
    assert again.accuracy()["all"] == (0.625, 8)


def test_vidqa_eval_mcq_on_a_model_server_with_limit_resume_and_fail_under(
        benchmarks, videos, tmp_path, no_openai_env):
    with OpenAIServer() as base_url:
        args = ["eval", "mcq", str(benchmarks["jsonl"]), "--videos", str(videos), "-o",
                str(tmp_path / "out"), "-b", "openai", "-m", "tiny-vl", "--base-url", base_url,
                "--api-key", "secret", "--ocr", "off", "--json"]
        first = CliRunner().invoke(cli, [*args, "--limit", "1"])
        assert first.exit_code == 0, first.output
        summary = json.loads(first.stdout)
        assert (summary["questions"], summary["ran"]) == (1, 1)
        second = CliRunner().invoke(cli, [*args, "--fail-under", "95"])
        assert second.exit_code == 3, second.output  # the captioner never names a letter
        summary = json.loads(second.stdout)
        assert (summary["ran"], summary["skipped"], summary["accuracy"]) == (1, 1, 0.0)
        assert "below --fail-under 95.0%" in second.stderr
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["q1", "q2"]
    assert json.loads(lines[0])["backend"] == "openai"


def test_the_benchmarks_own_subtitle_files_come_among_the_frames(benchmarks, videos, tmp_path,
                                                                  monkeypatch):
    """Video-MME ships its subtitles in a folder of their own (subtitle/<videoID>.srt):
    `--subtitles DIR` reads them for each video, placed among the frames by time."""
    subtitles = tmp_path / "subtitle"
    subtitles.mkdir()
    (subtitles / "fFjv93ACGo8.srt").write_text(
        "1\n00:00:41,500 --> 00:00:43,000\nThis is only a fire alarm test.\n")
    monkeypatch.setitem(REGISTRY, "answering", ANSWERING)
    config = Config().replace("speech", mode="subtitles", subtitles_dir=str(subtitles))
    backend = get_backend("answering", "answering-model")
    questions = load_questions(benchmarks["videomme"])[:1]
    report = mcq_eval(questions, VideoFiles(videos), tmp_path / "out",
                      pipeline=Pipeline(config, backend=backend), subtitles=True)
    asked = [c for c in backend.calls
             if any("Question:" in i.get("text", "") for m in c for i in m["content"])]
    texts = [i.get("text", "") for m in asked[-1] for i in m["content"]]
    assert "<41.5 seconds> Said: This is only a fire alarm test." in texts
    assert report.records[0]["subtitles"] is True
