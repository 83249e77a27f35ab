"""Agentic search: the model answers through tools vidqa runs, one call per turn, until it has
the evidence (as Microsoft's Deep Video Discovery does on LVBench).

Tools: `search` the index (every track's lines, with times), read a time range of a track
(each track declares its reader: `summaries` for the captions, `transcript` for speech,
`screen_text` for on-screen text), `inspect` a short range's frames at a higher frame rate
(they come back as images, each after its time). Calls are JSON objects in the
reply text, `{"tool": NAME, "args": {...}}`, or `{"answer": "..."}`, so they work over every
backend (a local model and any OpenAI-compatible server alike). A reply that is neither is asked
again once, then the run stops and says so; so does a run that reaches its step limit. Every
step is kept in the answer's `trace`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from vidqa.model.answers import Answer, Citation, citations_in, generate_answer
from vidqa.model.backends.base import Backend
from vidqa.model.captions import strip_reasoning
from vidqa.model.messages import timestamp_label
from vidqa.model.prompts import AGENT_PROMPT, AGENT_RETRY, SYSTEM

MAX_STEPS = 8
MAX_RESULT_CHARS = 4000  # a tool's result is cut to this, so a step stays within the context
INSPECT_MAX_FRAMES = 16
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@dataclass
class AgentTools:
    """What the agent may call, over one video: `search`, the tracks' readers (tool name ->
    (what it reads, for the prompt; the lines of a time range)), and `inspect` (None for a
    recording with no picture)."""

    duration_s: float
    search: Callable[[str], list[str]]
    inspect: Callable[[float, float], list[tuple[float, str]]] | None  # (pts_s, JPEG path)
    readers: dict[str, tuple[str, Callable[[float, float], list[str]]]]

    def names(self) -> tuple[str, ...]:
        return ("search", *self.readers, *(("inspect",) if self.inspect else ()))

    def listing(self) -> str:
        """The readers' lines of the agent's prompt, and inspect's when there are frames."""
        lines = [f'- {name}: {{"tool": "{name}", "args": {{"start_s": 0, "end_s": 300}}}} '
                 f"{about}\n" for name, (about, _read) in self.readers.items()]
        if self.inspect is not None:
            lines.append('- inspect: {"tool": "inspect", "args": {"start_s": 40, "end_s": 45}} '
                         "shows the frames of a short range at a higher frame rate\n")
        return "".join(lines)


class _Malformed(Exception):
    pass


def parse_call(reply: str, tools: tuple[str, ...]) -> dict:
    """The JSON object of a reply: {"answer": ...} or {"tool": one of `tools`, "args": {...}}."""
    text = strip_reasoning(reply).strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.DOTALL)
    found = fenced.group(1) if fenced else (_OBJECT.search(text).group(0)
                                            if _OBJECT.search(text) else None)
    if found is None:
        raise _Malformed("no JSON object")
    try:
        call = json.loads(found)
    except ValueError as exc:
        raise _Malformed(f"invalid JSON: {exc.msg}") from None
    if not isinstance(call, dict):
        raise _Malformed("not a JSON object")
    if "answer" in call:
        return {"answer": str(call["answer"])}
    if call.get("tool") not in tools:
        raise _Malformed(f"unknown tool {call.get('tool')!r}")
    args = call.get("args") if isinstance(call.get("args"), dict) else {}
    return {"tool": call["tool"], "args": args}


def _range(args: dict, duration_s: float) -> tuple[float, float]:
    try:
        start, end = float(args.get("start_s", 0.0)), float(args.get("end_s", duration_s))
    except (TypeError, ValueError):
        raise _Malformed("start_s and end_s must be numbers of seconds") from None
    start, end = max(0.0, min(start, end)), min(duration_s, max(start, end))
    return start, end


def run_tool(tools: AgentTools, call: dict) -> tuple[list[dict], str]:
    """(content items for the model, a short text for the trace) of one tool call."""
    name, args = call["tool"], call["args"]
    if name == "search":
        query = str(args.get("query", "")).strip()
        if not query:
            raise _Malformed("search needs a query")
        lines = tools.search(query)
    elif name == "inspect":
        start, end = _range(args, tools.duration_s)
        frames = tools.inspect(start, end)
        items: list[dict] = [{"type": "text", "text": f"Frames of {start:.1f}-{end:.1f} s:"}]
        for pts_s, path in frames[:INSPECT_MAX_FRAMES]:
            items += [{"type": "text", "text": timestamp_label(pts_s)},
                      {"type": "image", "path": path, "pts_s": pts_s}]
        return items, f"{len(frames[:INSPECT_MAX_FRAMES])} frames of {start:.1f}-{end:.1f} s"
    else:
        start, end = _range(args, tools.duration_s)
        lines = tools.readers[name][1](start, end)
    text = "\n".join(lines) or "(nothing)"
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + "\n(cut short)"
    return [{"type": "text", "text": f"Result of {name}:\n{text}"}], text


def ask_agent(tools: AgentTools, backend: Backend, question: str, *, max_steps: int = MAX_STEPS,
              max_new_tokens: int = 512, temperature: float = 0.0) -> Answer:
    """The model's answer after at most `max_steps` tool calls; the trace of every step."""
    messages = [{"role": "system", "content": [{"type": "text", "text": SYSTEM.text}]},
                {"role": "user", "content": [{"type": "text", "text": AGENT_PROMPT.format(
                    duration=tools.duration_s, readers=tools.listing(), question=question)}]}]
    trace: list[dict] = []
    retried = False
    warning = None
    for step in range(1, max_steps + 1):
        reply, warning = generate_answer(backend, messages, max_new_tokens=max_new_tokens,
                                         temperature=temperature)
        messages.append({"role": "assistant", "content": [{"type": "text", "text": reply}]})
        try:
            call = parse_call(reply, tools.names())
            if "answer" in call:
                trace.append({"step": step, "answer": call["answer"]})
                cited = citations_in(call["answer"], 0.0, tools.duration_s) or \
                    [Citation(0.0, tools.duration_s)]
                return Answer(question, call["answer"], cited, [], backend.model, warning,
                              f"agent: answered after {step - 1} tool calls", trace=trace)
            items, summary = run_tool(tools, call)
        except _Malformed as problem:
            trace.append({"step": step, "malformed": str(problem), "reply": reply[:500]})
            if retried:
                return Answer(question, reply, [Citation(0.0, tools.duration_s)], [],
                              backend.model, f"the model's tool call was malformed twice "
                              f"({problem}); its last reply is given as it is",
                              "agent: stopped (malformed tool calls)", trace=trace)
            retried = True
            messages.append({"role": "user", "content": [{"type": "text", "text":
                             AGENT_RETRY.format(problem=problem)}]})
            continue
        retried = False
        trace.append({"step": step, "tool": call["tool"], "args": call["args"],
                      "result": summary[:500]})
        messages.append({"role": "user", "content": items})
    return Answer(question, "", [Citation(0.0, tools.duration_s)], [], backend.model,
                  f"the model did not answer within {max_steps} steps (its tool calls are in "
                  "the trace); raise the step limit or ask with --scope chunks",
                  f"agent: stopped at the step limit ({max_steps})", trace=trace)
