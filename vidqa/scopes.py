"""How `ask` answers: one table of scopes, name -> function, that the CLI, the server, the
evaluators and `Pipeline.ask` all read.

Each scope answers over one video's run, given the index's hits for the question (best first,
that video's only): "chunks" shows the model the key frames of the chunks the hits point at
(and every chunk summary); "all" answers from every chunk summary by map-reduce; "full" shows
every key frame in one request (thinned to the model's context, or answered by "chunks" when
even that does not fit: the answer says which); "agent" lets the model search, read and
inspect through tools (the functions: `vidqa.model.scopes`). Every scope places the tracks'
lines (`VideoRun.prompt_lines`: what is said, what is on screen, under each track's label)
among the frames by time. A recording with no picture has no frames and no chunks: the scopes
that show pictures answer it from what is said (`HEARD`), and the answer says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    help: str  # one line, for --help and the API's description
    target: str  # "module:function" (pipeline, run, question, hits, *, top_k, max_steps)
    pictures: bool = True  # shows key frames: a sound-only recording is answered by `HEARD`

    @property
    def answer(self) -> Callable:
        """The function that answers (imported when first asked: the table itself is light,
        so the settings and the CLI's choices read it without loading a model's code)."""
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)

    def answer_for(self, has_picture: bool) -> Callable:
        """What answers over a recording with (or without) a picture."""
        return self.answer if has_picture or not self.pictures else HEARD.answer


SCOPES: dict[str, Scope] = {s.name: s for s in (
    Scope("chunks", "the key frames of the chunks retrieval ranks first, and every chunk "
          "summary", "vidqa.model.scopes:by_chunks"),
    Scope("all", "every chunk summary, by map-reduce", "vidqa.model.scopes:by_summaries"),
    Scope("full", "every key frame of the video in one request (thinned to the context)",
          "vidqa.model.scopes:whole_video"),
    Scope("agent", "the model searches, reads and inspects through tools",
          "vidqa.model.scopes:by_agent", pictures=False),
)}
HEARD = Scope("heard", "what is said (a recording with no picture), in one request, or the "
              "stretches around the hits when it does not fit", "vidqa.model.scopes:from_speech",
              pictures=False)
