"""`vidqa eval mcq`: every published format read from small fixture files (written here from the
formats' documentation), questions answered through the real pipeline by a model whose answer
pattern is known, accuracy as computed by hand, resume, budgets on every line."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers.extras import need
from helpers.openai_server import OpenAIServer
from helpers.scripted import ANSWERING, AnsweringBackend
from vidqa.cli import cli
from vidqa.config import Config
from vidqa.errors import ConfigError, VidqaError
from vidqa.evaluation.benchmarks import load_questions
from vidqa.evaluation.mcq import VideoFiles, VideoOutside, format_table, mcq_eval
from vidqa.model.backends import REGISTRY, get_backend
from vidqa.pipeline import Pipeline

OPTIONS = ["a red car", "a fire alarm test", "a budget table", "nothing"]


@pytest.fixture(scope="module")
def mcq_home(tmp_path_factory):
    return tmp_path_factory.mktemp("mcq-home")


@pytest.fixture(autouse=True)
def indexed_once(mcq_home, monkeypatch):
    """The tests here ask about copies of `event_video`, indexed the same few ways: one cache
    for them all, so each way is indexed once (alone, a test indexes what it asks about).
    Results files and everything else stay each test's own."""
    monkeypatch.setenv("VIDQA_HOME", str(mcq_home))
    return mcq_home


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


# --- hostile annotation files and video ids ------------------------------------------------------

@pytest.fixture
def answering(monkeypatch):
    """A pipeline whose model answers every question with `reply` (set `AnsweringBackend.answer`
    with monkeypatch to change it), speech off; `runs` lists the files the pipeline indexed."""
    monkeypatch.setitem(REGISTRY, "answering", ANSWERING)
    monkeypatch.setattr(AnsweringBackend, "answer", "The answer is (B).")
    pipeline = Pipeline(Config().replace("speech", mode="off"),
                        backend=get_backend("answering", "answering-model"))
    pipeline.runs = []
    run = pipeline.run

    def spy(path, *args, **kwargs):
        pipeline.runs.append(path)
        return run(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run", spy)
    return pipeline


def test_a_video_id_that_leads_outside_the_folder_is_refused_and_the_others_run(
        tmp_path, event_video, answering):
    """`..`, an absolute path (also LongVideoBench's video_path), a link to a file outside and a
    link to a folder outside all reach a real video outside --videos: those questions are
    reported one line each and not run; the question inside runs."""
    videos = tmp_path / "bench" / "videos"
    videos.mkdir(parents=True)
    outside = tmp_path / "x" / "ch8.mp4"
    outside.parent.mkdir()
    shutil.copyfile(event_video[0], outside)
    shutil.copyfile(event_video[0], videos / "inside.mp4")
    (videos / "alias.mp4").symlink_to(videos / "inside.mp4")  # a link inside stays usable
    (videos / "linked.mp4").symlink_to(outside)
    (videos / "ext").symlink_to(outside.parent, target_is_directory=True)
    ids = {"q1": "inside", "q2": "../../x/ch8.mp4", "q3": str(outside), "q4": "linked",
           "q5": "ext/ch8.mp4", "q6": "alias"}
    plain = write(tmp_path / "bench" / "mine.jsonl", [
        {"id": qid, "video": video, "question": "What?", "options": OPTIONS, "answer": "B"}
        for qid, video in ids.items()], lines=True)
    lvb = write(tmp_path / "bench" / "lvb_val.json", [
        {"id": "lvb-1", "video_id": "ch8", "video_path": str(outside), "question": "What?",
         "candidates": OPTIONS, "correct_choice": 1}])
    questions = load_questions(plain) + load_questions(lvb)
    files = VideoFiles(videos)
    with pytest.raises(VideoOutside, match="leads outside --videos"):
        files.find("../../x/ch8.mp4")
    assert files.find("alias") == videos.resolve() / "alias.mp4"  # its own name: alias.srt

    report = mcq_eval(questions, files, tmp_path / "out", pipeline=answering)
    assert [r["id"] for r in report.records] == ["q1", "q6"] and report.ran == 2
    assert [Path(p).resolve() for p in answering.runs] == [videos / "inside.mp4"] * 2
    assert report.missing == []
    assert len(report.refused) == 5
    for line, (qid, video) in zip(report.refused, [("q2", "../../x/ch8.mp4"),
                                                   ("q3", str(outside)), ("q4", "linked"),
                                                   ("q5", "ext/ch8.mp4"),
                                                   ("lvb-1", str(outside))]):
        assert "\n" not in line
        assert line.startswith(f"question {qid!r}: video id {video!r} leads ")
        assert f"outside --videos '{videos}'" in line and line.endswith("(not run)")
    assert "through a link to" in report.refused[2] and "through a link to" in report.refused[3]


def test_options_past_j_are_lettered_up_to_z_and_read_back(tmp_path, videos, answering,
                                                          monkeypatch):
    twelve = [f"choice {i}" for i in range(12)]
    path = write(tmp_path / "mine.jsonl", [
        {"id": "many", "video": "meeting", "question": "Which?", "options": twelve,
         "answer": 11},
        {"id": "lettered", "video": "meeting", "question": "Which?",
         "options": [f"{chr(65 + i)}. {t}" for i, t in enumerate(twelve)], "answer": "K"}],
        lines=True)
    many, lettered = load_questions(path)
    assert (many.answer, lettered.answer, lettered.options) == ("L", "K", tuple(twelve))
    assert many.prompt().splitlines()[11:13] == ["K. choice 10", "L. choice 11"]
    lv = write(tmp_path / "lvbench" / "video_info.meta.jsonl", [
        {"key": "lv0001", "qa": [{"uid": "1", "answer": "L", "question": "Which?\n" + "\n".join(
            f"({chr(65 + i)}) {t}" for i, t in enumerate(twelve))}]}], lines=True)
    (q,) = load_questions(lv)
    assert (q.question, q.options, q.answer) == ("Which?", tuple(twelve), "L")
    monkeypatch.setattr(AnsweringBackend, "answer", "<think>hmm</think> The answer is (L).")
    report = mcq_eval([many, lettered], VideoFiles(videos), tmp_path / "out",
                      pipeline=answering)
    assert [(r["letter"], r["correct"]) for r in report.records] == [("L", True), ("L", False)]

    too_many = write(tmp_path / "27.jsonl", [
        {"id": "wide", "video": "v", "question": "?", "options": [str(i) for i in range(27)],
         "answer": 0}], lines=True)
    with pytest.raises(ConfigError) as caught:
        load_questions(too_many)
    assert str(caught.value) == (f"'{too_many}' line 1 (question 'wide') has 27 options; at "
                                 "most 26 (A-Z) can be lettered")


GOOD = {"id": "q1", "video": "v", "question": "?", "options": ["a", "b"], "answer": "A"}


@pytest.mark.parametrize("row, says", [
    ({**GOOD, "options": "A. red B. blue"}, "'options' is a string; it must be a list"),
    ({**GOOD, "options": "abc"}, "'options' is a string; it must be a list"),
    ({**GOOD, "options": 3}, "'options' is a number; it must be a list"),
    ({**GOOD, "options": []}, "has 0 options; a multiple-choice question needs at least 2"),
    ({**GOOD, "options": ["a", None]}, "option B is null; it must be text"),
    ({**GOOD, "options": ["a", "B. "]}, "option B is empty"),
    ({**GOOD, "options": {"A": "a", "C": "c"}}, "the keys of 'options' are A, C; they must be "
                                                "the letters A, B, C, ... in order"),
    ({**GOOD, "answer": -1}, "the answer -1 is none of the 2 options; give a letter A-B, an "
                             "index 0-1 or an option's text"),
    ({**GOOD, "answer": 10}, "the answer 10 is none of the 2 options"),
    ({**GOOD, "answer": "K"}, "the answer 'K' is none of the 2 options"),
    ({**GOOD, "answer": [0]}, "the answer [0] is none of the 2 options"),
    ({**GOOD, "question": 5}, "'question' is a number; it must be text"),
    ({**GOOD, "question": None}, "'question' is null; it must be text"),
    ({**GOOD, "video": None}, "'video' is null; it must be a name"),
    ({**GOOD, "video": ""}, "'video' is empty; it must be a name"),
    ({**GOOD, "id": {"a": 1}}, "'id' is an object; it must be a name"),
    (["a", "list"], "is a list, not a JSON object"),
    ("a string", "is a string, not a JSON object"),
    ("{not json", "is not valid JSON"),
])
def test_a_hostile_line_is_one_config_error_naming_the_file_and_line(tmp_path, row, says):
    path = tmp_path / "mine.jsonl"
    line = row if isinstance(row, str) and row.startswith("{") else json.dumps(row)
    path.write_text(json.dumps({**GOOD, "id": "q0"}) + "\n" + line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_questions(path)
    message = str(caught.value)
    assert message.startswith(f"'{path}' line 2") and says in message and "\n" not in message


@pytest.mark.parametrize("name, data, says", [
    ("videomme/test.json", [{"question_id": "1", "videoID": "v", "question": "?",
                             "options": "A. a B. b", "answer": "A"}],
     "question 1 (question '1'): 'options' is a string"),
    ("lvb/lvb_val.json", [{"id": "x", "video_id": "v", "question": "?", "candidates": "ab",
                           "correct_choice": 0}], "question 1 (question 'x'): 'candidates' is a "
                                                  "string"),
    ("lvb/lvb_val.json", [{"id": "x", "video_id": "v", "question": "?", "candidates": ["a", "b"],
                           "correct_choice": "first"}], "the answer 'first' is none of the 2"),
    ("mlvu/json/1_plotQA.json", [{"video": "v", "question": "?", "candidates": ["a", "b"],
                                  "answer": "c", "duration": "long"}],
     "question 1 (question '1_plotQA-0'): the answer 'c' is none"),
    ("mlvu/json/1_plotQA.json", {"not": "a list"}, "holds an object, not a list of questions"),
    ("egoschema/questions.json", [{"q_uid": "u", "question": "?", "option 0": "a",
                                   "option 2": "c"}], "has options numbered [0, 2]"),
    ("lvbench/video_info.meta.jsonl", [{"key": "k", "qa": "none"}], "'qa' is a string"),
    ("lvbench/video_info.meta.jsonl", [{"key": "k", "qa": [7]}], "line 1 qa 1 is a number"),
])
def test_every_format_refuses_hostile_shapes_in_one_line(tmp_path, name, data, says):
    path = write(tmp_path / name, data, lines=name.endswith(".jsonl"))
    write(tmp_path / "egoschema" / "subset_answers.json", {"u": 0})
    with pytest.raises(ConfigError) as caught:
        load_questions(path.parent if "mlvu" in name else path)
    message = str(caught.value)
    assert says in message and str(path) in message and "\n" not in message


def test_a_question_id_used_twice_in_a_file_is_refused_naming_both_lines(tmp_path):
    path = write(tmp_path / "mine.jsonl", [
        {"id": "q1", "video": "v", "question": "When?", "options": OPTIONS, "answer": 1},
        {"id": "q2", "video": "v", "question": "What?", "options": OPTIONS, "answer": 2},
        {"id": "q1", "video": "w", "question": "Who?", "options": OPTIONS, "answer": 3}],
        lines=True)
    with pytest.raises(ConfigError) as caught:
        load_questions(path)
    assert str(caught.value) == (f"question id 'q1' is used twice: '{path}' line 1 and "
                                 f"'{path}' line 3; give each question its own id")


def test_a_result_is_reused_only_for_the_same_question(tmp_path, videos, answering):
    """A re-run where id q1 now names another question asks it, and scores it by its own
    answer; two questions under one id in one run are refused before anything runs."""
    first = write(tmp_path / "a.jsonl", [
        {"id": "q1", "video": "meeting", "question": "When?", "options": OPTIONS,
         "answer": "B"}], lines=True)
    second = write(tmp_path / "b.jsonl", [
        {"id": "q1", "video": "meeting", "question": "Who?", "options": OPTIONS,
         "answer": "C"}], lines=True)
    out = tmp_path / "out"
    before = mcq_eval(load_questions(first), VideoFiles(videos), out, pipeline=answering)
    assert (before.ran, before.records[0]["correct"]) == (1, True)
    after = mcq_eval(load_questions(second), VideoFiles(videos), out, pipeline=answering)
    assert (after.ran, after.skipped) == (1, 0)
    assert (after.records[0]["answer"], after.records[0]["correct"]) == ("C", False)
    again = mcq_eval(load_questions(first), VideoFiles(videos), out, pipeline=answering)
    assert (again.ran, again.skipped, again.records[0]["answer"]) == (0, 1, "B")
    with pytest.raises(ConfigError, match="question id 'q1' \\(jsonl\\) comes twice"):
        mcq_eval(load_questions(first) + load_questions(second), VideoFiles(videos), out,
                 pipeline=answering)


def test_limit_reads_a_large_jsonl_no_further_than_it_needs(tmp_path):
    """200,000 lines (about 20 MB) whose last line is broken: `limit=1` reads the first line
    and returns at once; read to the end, the broken line is an error naming it."""
    path = tmp_path / "big.jsonl"
    line = '{"id": "q%d", "video": "v", "question": "?", "options": ["a", "b"], "answer": 0}\n'
    with open(path, "w") as handle:
        handle.write("".join(line % n for n in range(200_000)))
        handle.write("{broken\n")
    started = time.perf_counter()
    (q,) = load_questions(path, limit=1)
    assert q.id == "q0" and time.perf_counter() - started < 0.5
    assert [q.id for q in load_questions(path, limit=3)] == ["q0", "q1", "q2"]
    small = tmp_path / "small.jsonl"
    small.write_text(line % 0 + "{broken\n")
    with pytest.raises(ConfigError, match=f"'{small}' line 2 is not valid JSON"):
        load_questions(small)
    lv = tmp_path / "video_info.meta.jsonl"
    lv.write_text(json.dumps({"key": "k", "qa": [
        {"uid": str(n), "question": "?\n(A) a\n(B) b", "answer": "A"} for n in range(3)]})
        + "\n{broken\n")
    assert [q.id for q in load_questions(lv, limit=2)] == ["0", "1"]
    assert len(load_questions(lv, limit=3)) == 3
    with pytest.raises(ConfigError, match="line 2 is not valid JSON"):
        load_questions(lv, limit=4)


def needs_pyarrow():
    """pandas and pyarrow (extra `eval`): a skip with the reason here, a failure under CI."""
    need("pandas")
    need("pyarrow")


def write_videomme_parquet(path):
    """Video-MME's official file's columns, two questions on one video."""
    import pandas

    path.parent.mkdir(parents=True, exist_ok=True)
    pandas.DataFrame([
        {"video_id": "001", "duration": "short", "domain": "Knowledge",
         "sub_category": "Humanity & History", "url": "https://www.youtube.com/watch?v=x",
         "videoID": "fFjv93ACGo8", "question_id": f"001-{n}", "task_type": task,
         "question": text, "options": [f"{'ABCD'[i]}. {o}" for i, o in enumerate(OPTIONS)],
         "answer": answer}
        for n, task, text, answer in ((1, "Counting Problem", "What shows?", "B"),
                                      (2, "OCR Problems", "Which text?", "C"))
    ]).to_parquet(path, engine="pyarrow")
    return path


def test_videomme_official_parquet_is_read_and_evaluated(tmp_path, videos, no_openai_env):
    needs_pyarrow()
    path = write_videomme_parquet(tmp_path / "videomme" / "test-00000-of-00001.parquet")
    questions = load_questions(path)
    assert [(q.id, q.video, q.options, q.answer, q.task, q.duration) for q in questions] == [
        ("001-1", "fFjv93ACGo8", tuple(OPTIONS), "B", "Counting Problem", "short"),
        ("001-2", "fFjv93ACGo8", tuple(OPTIONS), "C", "OCR Problems", "short")]
    with OpenAIServer() as base_url:
        out = CliRunner().invoke(cli, [
            "eval", "mcq", str(path), "--videos", str(videos), "-o", str(tmp_path / "out"),
            "-b", "openai", "-m", "tiny-vl", "--base-url", base_url, "--api-key", "secret",
            "--ocr", "off", "--json"])
    assert out.exit_code == 0, out.output
    assert (json.loads(out.stdout)["questions"], json.loads(out.stdout)["ran"]) == (2, 2)


def test_a_parquet_without_its_engine_says_which_extra_to_install(tmp_path, monkeypatch):
    needs_pyarrow()
    path = write_videomme_parquet(tmp_path / "videomme" / "test-00000-of-00001.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as on an install without the extra
    monkeypatch.setitem(sys.modules, "fastparquet", None)
    with pytest.raises(VidqaError) as caught:
        load_questions(path)
    assert str(caught.value) == (f"reading '{path}' needs pandas and pyarrow: pip install "
                                 "'vidqa[eval]' (or convert the file to JSON)")


def test_vidqa_eval_mcq_reads_no_further_than_limit_and_names_refused_ids(
        tmp_path, event_video, no_openai_env):
    videos = tmp_path / "bench" / "videos"
    videos.mkdir(parents=True)
    shutil.copyfile(event_video[0], videos / "inside.mp4")
    outside = tmp_path / "x" / "ch8.mp4"
    outside.parent.mkdir()
    shutil.copyfile(event_video[0], outside)
    questions = tmp_path / "q.jsonl"
    row = {"question": "?", "options": ["a", "b"], "answer": 0}
    questions.write_text(json.dumps({"id": "in", "video": "inside", **row}) + "\n"
                         + json.dumps({"id": "out", "video": "../../x/ch8.mp4", **row}) + "\n"
                         + "{broken\n")
    with OpenAIServer() as base_url:
        args = ["eval", "mcq", str(questions), "--videos", str(videos), "-o",
                str(tmp_path / "out"), "-b", "openai", "-m", "tiny-vl", "--base-url", base_url,
                "--api-key", "secret", "--ocr", "off", "--json"]
        first = CliRunner().invoke(cli, [*args, "--limit", "1"])
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["ran"] == 1
        second = CliRunner().invoke(cli, [*args, "--limit", "2"])
        assert second.exit_code == 0, second.output
        assert json.loads(second.stdout)["refused"] == [
            f"question 'out': video id '../../x/ch8.mp4' leads outside --videos '{videos}'; "
            "video ids name files inside it (not run)"]
        assert ("warning: question 'out': video id '../../x/ch8.mp4' leads outside"
                in second.stderr)
        third = CliRunner().invoke(cli, args)
        assert third.exit_code == 1 and "line 3 is not valid JSON" in third.stderr
