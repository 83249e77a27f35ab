"""Every prompt vidqa sends a model, in one place, each with a version.

A prompt's version enters the cache key of whatever is cached from the model's replies to it
(captions: `vidqa.model.captions.captions_key` takes the caption prompt's, the system prompt's,
and those of the speech and on-screen text lines), so rewording a prompt means bumping its
version, and the next run asks again instead of reusing replies to the old wording. The caption
prompt's version covers the retry notes it is sent with.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    text: str

    def format(self, **values) -> str:
        return self.text.format(**values)


SYSTEM = Prompt("system", "system-v2", (
    "You watch frames of a long video. Each frame comes right after its absolute time, "
    "written like <12.5 seconds>. What is said in the video comes among the frames the same "
    "way, like <13.4 seconds> Said: ... Refer to moments by those times, in seconds."))

# One line of a track among the frames: its time label, the track's label ("Said", "On
# screen"), then the text. Its version is that of the speech line it generalises, whose text for
# speech it keeps, so captions cached before keep their keys.
LINE = Prompt("line", "said-v1", "{time} {label}: {text}")

CAPTION_PROMPT = Prompt("captions", "captions-v2", (
    "These frames cover {start:.1f} to {end:.1f} seconds of the video. Describe what happens. "
    "Answer with JSON only, in this form:\n"
    '{{"summary": "two or three sentences", "events": [{{"start_s": 12.0, "end_s": 15.5, '
    '"text": "what happens"}}]}}\n'
    "List each distinct event (a person arriving, a slide or text on screen, an action) with "
    "its start and end in seconds, between {start:.1f} and {end:.1f}."))

# Asked once more after an unusable caption reply, by what was wrong with it.
CAPTION_RETRY = {
    "not JSON": Prompt("caption-retry-json", "captions-v2",
                       "That was not valid JSON. Reply with the JSON object only."),
    "too long": Prompt("caption-retry-long", "captions-v2", (
        "That reply was longer than the {limit}-token limit. Reply with the JSON object "
        "only, briefly: at most {cap} short events.")),
    "too many": Prompt("caption-retry-many", "captions-v2", (
        "That listed {count}. List at most {cap} events, the most important ones, and "
        "reply with the JSON object only.")),
}

TEXT_LINES = Prompt("text-lines", "text-lines-v1", "On-screen text (OCR):\n{rows}")

FULL_CONTEXT = Prompt("answer-full", "answer-full-v1", (
    "The whole video follows: its key frames in time order, each after its time, with what is "
    "said and what is written on screen at their times."))

HEARD_CONTEXT = Prompt("answer-heard", "answer-heard-v1", (
    "A sound recording follows (it has no picture): what is said in it, each line after its "
    "time."))

AGENT_PROMPT = Prompt("agent", "agent-v3", (
    "Answer a question about a video of {duration:.1f} seconds. You cannot see it yet: use "
    "these tools, one per turn, until you have the evidence.\n"
    "- search: {{\"tool\": \"search\", \"args\": {{\"query\": \"words\"}}}} finds moments "
    "(every track's lines: captions, on-screen text, speech, ...) with their times\n"
    "{readers}"
    "Reply with one JSON object only: a tool call as above, or {{\"answer\": \"...\"}} citing "
    "the times you rely on as ranges in seconds, like [12.0-15.5 s].\n"
    "Question: {question}"))
AGENT_RETRY = Prompt("agent-retry", "agent-v1", (
    "That was not a tool call or an answer ({problem}). Reply with one JSON object only, "
    "{{\"tool\": ..., \"args\": {{...}}}} or {{\"answer\": \"...\"}}."))

ANSWER_CONTEXT = Prompt("answer-context", "answer-v2",
                        "Summaries of the video, by time:\n{summaries}\n\n"
                        "Frames of the most relevant parts:")
ANSWER_PROMPT = Prompt("answer", "answer-v2", (
    "Question: {question}\nAnswer briefly and cite the times you rely on as ranges in "
    "seconds, like [12.0-15.5 s]."))

MAP_PROMPT = Prompt("answer-map", "answer-v2", (
    "Below are time-stamped summaries of part of a video. Question: {question}\n"
    "Note everything in them that bears on the question, with its time range in seconds "
    "like [12.0-15.5 s]. Write 'nothing' if nothing does.\n\n{summaries}"))
REDUCE_PROMPT = Prompt("answer-reduce", "answer-v2", (
    "Notes from every part of a video, in time order. Question: {question}\n"
    "Answer the question for the whole video from these notes, briefly, citing time "
    "ranges like [12.0-15.5 s].\n\n{notes}"))

REFINE_PROMPT = Prompt("refine", "refine-v1", (
    "These frames come from a video, each after its time. At which time does "
    "this begin: \"{text}\"? Answer with the time in seconds only, like 12.5."))

# Frames a client sampled itself (an evaluation harness sends frames, not the video): their
# order is known, their times are not, so none are given or asked for.
FRAMES_SYSTEM = Prompt("frames-system", "frames-v1", (
    "You see frames of a video, in order, each after its number. When each was taken is not "
    "known: do not state times."))
FRAME_LABEL = Prompt("frame-label", "frames-v1", "Frame {index} of {count}:")
FRAMES_PROMPT = Prompt("frames-question", "frames-v1", (
    "Question: {question}\nAnswer from what the frames show."))

PROMPTS = (SYSTEM, LINE, CAPTION_PROMPT, *CAPTION_RETRY.values(), TEXT_LINES,
           FULL_CONTEXT, HEARD_CONTEXT, AGENT_PROMPT, AGENT_RETRY, ANSWER_CONTEXT,
           ANSWER_PROMPT, MAP_PROMPT,
           REDUCE_PROMPT, REFINE_PROMPT, FRAMES_SYSTEM, FRAME_LABEL, FRAMES_PROMPT)
