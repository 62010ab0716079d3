"""Reply parsing: good, partial, wrong-length and garbage replies."""

import math

import pytest

from autointerp.clients.base import TokenLogprob
from autointerp.scorers.parsing import (expected_value, parse_choice, parse_simulation, parse_verdicts,
                                        probability_yes, tokens_at, verdict_spans)


@pytest.mark.parametrize("text, expected", [
    ("[1, 0, 1]", [True, False, True]),
    ("Sure! Here it is: [0,0,1]", [False, False, True]),
    ('["yes", "no", "yes"]', [True, False, True]),
    ("first [1] then final [1, 1, 0]", [True, True, False]),  # only lists of n verdicts count
    ("[1, 1, 0] I repeat: [1, 1, 0]", [True, True, False]),  # agreeing repeats
])
def test_verdicts_good(text, expected):
    assert parse_verdicts(text, 3)[0] == expected


@pytest.mark.parametrize("text", [
    "[1, 0",              # partial: cut off
    "[1, 0, 1, 1]",       # wrong length
    "[1, 0]",             # wrong length
    "[1, maybe, 0]",      # an item that is not a verdict
    "The first and third",  # garbage
    "",
    "Like the example [0, 1, 1], my answer is [1, 1, 1]",  # an echo and an answer disagree: ambiguous
])
def test_verdicts_bad(text):
    assert parse_verdicts(text, 3) is None


def test_verdict_spans_point_at_each_item():
    text = "ok [1, 0,  1]"
    _, start = parse_verdicts(text, 3)
    assert [text[i] for i in verdict_spans(text, start, 3)] == ["1", "0", "1"]


@pytest.mark.parametrize("text, n, expected", [
    ("3", 5, 3), ("Excerpt 2 is the odd one.", 5, 2), ("6", 5, None), ("0", 5, None), ("none", 5, None),
    ("Of the 5 excerpts, #3", 5, 3),  # the pointed-at number, not the first one
    ("Of the 5 excerpts, 3", 5, None),  # two numbers, neither pointed at: ambiguous
    ('{"odd_one_out": 4}', 5, 4), ("Excerpt 2, no wait, excerpt 4", 5, None),
])
def test_choice(text, n, expected):
    assert parse_choice(text, n) == expected


def test_simulation_good_and_partial():
    values, offsets = parse_simulation('{"0": 0, "1": 7, "2": 10}', 3)
    assert values == [0.0, 7.0, 10.0]
    partial, _ = parse_simulation('Here: {"1": 4}', 3)  # positions left out are 0
    assert partial == [0.0, 4.0, 0.0]


@pytest.mark.parametrize("text", [
    '{"0": 0, "5": 3}',    # position past the end (wrong length)
    '{"0": 11}',           # value out of range
    '{"0": 1, "1": ',      # cut off
    "zero, seven, ten",    # garbage
])
def test_simulation_bad(text):
    assert parse_simulation(text, 3) is None


def test_probability_yes_and_expected_value():
    tok = TokenLogprob("1", math.log(0.6), {"1": math.log(0.6), "0": math.log(0.3), "maybe": math.log(0.1)})
    assert probability_yes(tok) == pytest.approx(0.6 / 0.9)
    assert probability_yes(TokenLogprob("x", 0.0, {})) is None
    digits = TokenLogprob("3", math.log(0.5), {"3": math.log(0.5), "10": math.log(0.25), "a": math.log(0.25)})
    assert expected_value(digits) == pytest.approx((3 * 0.5 + 10 * 0.25) / 0.75)


def test_spellings_of_one_answer_add_up():
    """'1' and ' 1' are different tokens for the same answer: their probabilities add, not max."""
    tok = TokenLogprob(" 1", math.log(0.4), {" 1": math.log(0.4), "1": math.log(0.3), " 0": math.log(0.3)})
    assert probability_yes(tok) == pytest.approx(0.7)


def test_an_echo_of_the_prompts_shape_never_parses():
    from autointerp.scorers import prompts

    assert parse_verdicts(prompts.DETECTION, 2) is None and parse_verdicts(prompts.FUZZ, 2) is None
    assert parse_simulation(prompts.SIMULATION, 3) is None


def test_tokens_at_requires_tokens_that_spell_the_text():
    toks = [TokenLogprob("[", 0), TokenLogprob("1", 0), TokenLogprob(", 0", 0), TokenLogprob("]", 0)]
    assert [t.token for t in tokens_at(toks, "[1, 0]", [1, 4])] == ["1", ", 0"]
    assert tokens_at(toks, "[1, 1]", [1]) == [None]
    assert tokens_at(None, "[1]", [1]) == [None]
