"""Multiple-choice questions: the options in the question, the letter in realistic replies."""

from __future__ import annotations

import pytest

from vidqa.model.choices import asks_for_letter, extract_letter, parse_options

QUESTION = """What is shown on the slide after the cut?
A. A red car
B. A bus stop
C. A budget table
D. Nothing
Answer with the option's letter from the given choices directly."""
OPTIONS = parse_options(QUESTION)


def test_options_are_read_in_the_forms_benchmarks_write_them():
    assert OPTIONS == {"A": "A red car", "B": "A bus stop", "C": "A budget table", "D": "Nothing"}
    assert parse_options("Which?\n(A) one\n(B) two\n(C) three") == {"A": "one", "B": "two",
                                                                   "C": "three"}
    assert parse_options("Which?\nA) one\nB) two") == {"A": "one", "B": "two"}
    assert parse_options("When is the budget shown?") == {}
    assert parse_options("A. only one option") == {}
    assert asks_for_letter(QUESTION)
    assert not asks_for_letter("When is the budget shown?")


@pytest.mark.parametrize("reply, letter", [
    ("B", "B"),
    ("The answer is (B).", "B"),
    ("B. A bus stop", "B"),
    ("**C**", "C"),
    ("<think>The slide shows numbers in rows, so not a car.</think>\nC", "C"),
    ("Looking at the frames at 12.0 s, a table of figures appears. Answer: D", "D"),
    ("(A) A red car drives past.", "A"),
    ("I think it is a budget table.", "C"),  # no letter: the option's own words
    ("None of these fit.", None),
])
def test_the_letter_is_read_from_realistic_replies(reply, letter):
    assert extract_letter(reply, OPTIONS) == letter
