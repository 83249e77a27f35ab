"""Multiple-choice questions: the options in a question's text, and the letter in a reply.

Benchmarks (Video-MME, LVBench, MLVU, ...) and the tools that run them (lmms-eval's
`openai_compatible` model) put the options in the question, one per line ("A. a red car",
"(B) a bus", "C) ..."), and ask for the letter. The letter is read from the reply the way
lmms-eval and the Qwen evaluation scripts do: the first option letter standing on its own
after any reasoning block, preferring "answer is (X)" forms, else an option's text quoted.
"""

from __future__ import annotations

import re

from vidqa.model.captions import strip_reasoning

_OPTION = re.compile(r"^\s*[\(\[]?([A-Z])[\)\]\.:：]\s*(\S.*)$")
_ASKS_LETTER = re.compile(r"\b(?:option'?s? letter|letter of|with the letter|only the letter|"
                          r"single letter|answer with (?:the )?(?:option|letter|choice))",
                          re.IGNORECASE)
_STATED = re.compile(r"(?:answer|option|choice)\s*(?:is|:|would be|=)?\s*[:\s]*[\(\[\*]*"
                     r"([A-Z])\b(?![a-z'])", re.IGNORECASE)
_ALONE = re.compile(r"(?<![A-Za-z'])[\(\[\*]*([A-Z])[\)\]\.\*:]*(?![A-Za-z'])")


def parse_options(text: str) -> dict[str, str]:
    """{letter: option text} of the lines of `text` that list options, when there are at least
    two with letters in order from A ("A. ...", "(B) ...", "C) ..."); else {}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _OPTION.match(line)
        if match and match.group(1) == chr(ord("A") + len(found)):
            found[match.group(1)] = match.group(2).strip()
    return found if len(found) >= 2 else {}


def asks_for_letter(text: str) -> bool:
    """Whether the question asks to be answered with the option's letter."""
    return bool(_ASKS_LETTER.search(text))


def extract_letter(reply: str, options: dict[str, str]) -> str | None:
    """The option letter a reply chooses, or None: after any `<think>` block, "the answer is
    (B)" forms first, then the first letter of the options standing alone ("B", "**C**",
    "B. a red car"), then an option's own text."""
    text = strip_reasoning(reply).strip()
    letters = set(options)
    for match in _STATED.finditer(text):
        if match.group(1).upper() in letters and match.group(1).isupper():
            return match.group(1)
    for match in _ALONE.finditer(text):
        if match.group(1) in letters:
            return match.group(1)
    lowered = text.lower()
    named = [letter for letter, option in options.items() if option.lower() in lowered]
    return named[0] if len(named) == 1 else None
