"""Every structured-reply schema admits only bounded replies, in the grammar llama.cpp really uses.

An unbounded string lets a small model write until max_tokens cuts the JSON off (an unparseable
reply); llama-cpp-python's converter ignores integer minimum/maximum, so bounds must be enums.
"""

import json
import re

import pytest

from autointerp.prompting import (
    EXPLANATION_MAX_CHARS,
    REASONING_MAX_CHARS,
    choice_format,
    explanation_format,
    simulation_format,
    verdicts_format,
)

FORMATS = [explanation_format(False), explanation_format(True), choice_format(5), simulation_format(7),
           verdicts_format(5)]


def _unquoted(grammar: str) -> str:
    """The grammar without its quoted literals and character classes (where * and + are plain text)."""
    return re.sub(r'"(\\.|[^"\\])*"|\[(\\.|[^\]\\])*\]', "", grammar)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f["json_schema"]["name"] + str(len(json.dumps(f))))
def test_llama_cpp_grammar_of_every_schema_is_bounded(fmt):
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps(fmt["json_schema"]["schema"]))
    LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp accepts it
    body = _unquoted(grammar)
    assert "*" not in body and "+" not in body  # no unbounded repetition anywhere
    assert re.search(r"\{\d+,\}", body) is None


def test_the_bounds_are_the_documented_ones():
    props = explanation_format(True)["json_schema"]["schema"]["properties"]
    assert props["explanation"]["maxLength"] == EXPLANATION_MAX_CHARS
    assert props["reasoning"]["maxLength"] == REASONING_MAX_CHARS
    assert choice_format(4)["json_schema"]["schema"]["properties"]["odd_one_out"]["enum"] == [1, 2, 3, 4]
    assert simulation_format(2)["json_schema"]["schema"]["properties"]["1"]["enum"] == list(range(11))


def test_an_unbounded_string_would_fail_the_check():
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps({"type": "object", "properties": {"e": {"type": "string"}}}))
    assert "*" in _unquoted(grammar)
