"""Explainers: prompts built from the record, parsing, the output option, names and settings."""

import asyncio

import pytest
import torch

from interp_fixtures import ScriptedClient, make_record
from autointerp.clients.base import Response
from autointerp.explainers import (ChainOfThoughtExplainer, ContrastiveExplainer, DefaultExplainer, Explainer,
                                   ExplanationError)
from autointerp.explainers.default import parse_explanation
from autointerp.explainers.logit_lens import top_output_tokens


class Reply(ScriptedClient):
    """Always answers with one fixed text."""

    def __init__(self, text):
        super().__init__()
        self.text = text

    async def generate(self, messages, **kwargs):
        self.calls.append({"messages": messages, **kwargs})
        return Response(text=self.text, prompt_tokens=30, completion_tokens=4)


def user_prompt(explainer, record=None):
    return explainer.build_messages(record or make_record())[-1]["content"]


def test_default_marks_activating_tokens_and_shows_only_training_examples():
    record = make_record()
    prompt = user_prompt(DefaultExplainer(), record)
    assert "Excerpt 1: The <<cat>> sat on the warm mat today" in prompt
    assert prompt.count(" <<cat>>") == len(record.train)
    for ex in record.test + record.negatives + record.explainer_negatives:
        assert "".join(ex.str_tokens) not in prompt


def test_contrastive_shows_explainer_negatives_never_scorer_negatives():
    record = make_record()
    prompt = user_prompt(ContrastiveExplainer(), record)
    for ex in record.explainer_negatives:
        assert "".join(ex.str_tokens) in prompt
    for ex in record.negatives + record.test:
        assert "".join(ex.str_tokens) not in prompt


def test_show_activations_lists_0_to_10_values_and_threshold_limits_marks():
    record = make_record()
    record.train[0].activations[5] = 1.0  # a weak second token: " warm" at 1/8 of the max
    record.train[0].normalized[5] = 1
    prompt = user_prompt(DefaultExplainer(show_activations=True), record)
    assert "Activations: cat (10), warm (1)" in prompt
    strict = user_prompt(DefaultExplainer(threshold=0.5), record)
    assert "<<warm>>" not in strict and "<<cat>>" in strict


def test_max_examples_and_decoding_with_a_tokenizer():
    record = make_record()
    for ex in record.train:
        ex.str_tokens = None

    class Tok:
        def decode(self, ids):
            return f"<{ids[0]}>"

    prompt = user_prompt(DefaultExplainer(max_examples=2, tokenizer=Tok()), record)
    assert prompt.count("Excerpt ") == 2 and "Excerpt 1: <100><<<101>>><102>" in prompt
    with pytest.raises(ValueError, match="tokenizer="):
        DefaultExplainer().build_messages(record)


def test_output_option_adds_top_output_tokens_to_any_explainer():
    for cls in (DefaultExplainer, ContrastiveExplainer, ChainOfThoughtExplainer):
        assert "' meow', ' kitten', ' paws'" in user_prompt(cls(output=True))
        assert "meow" not in user_prompt(cls())
    record = make_record()
    record.top_output_tokens = None
    with pytest.raises(ExplanationError, match="top_output_tokens"):
        DefaultExplainer(output=True).build_messages(record)


@pytest.mark.parametrize("text, expected", [
    ("Explanation: the word cat", "the word cat"),
    ("Let me think.\nThe marks are pets.\n**Explanation:** mentions of cats", "mentions of cats"),
    ('explanation: "cats"', "cats"),
    ("Explanation: Explanation: the word cat", "the word cat"),  # the marker repeated, any case
    ("**Explanation:** EXPLANATION: explanation:the word cat", "the word cat"),
    ('{"explanation": "Explanation: explanation: cats"}', "cats"),
    ("Explanation: the word 'said'", "the word 'said'"),  # a quote of the text stays
    ("Explanation: \"the word 'said'\"", "the word 'said'"),  # enclosing quotes go
    ("Explanation: 'said' and 'told'", "'said' and 'told'"),
])
def test_parse_good(text, expected):
    assert parse_explanation(text, require_marker=True) == expected


def test_parse_bare_line_only_without_required_marker():
    assert parse_explanation("mentions of cats\n", require_marker=False) == "mentions of cats"
    with pytest.raises(ExplanationError):
        parse_explanation("mentions of cats", require_marker=True)


@pytest.mark.parametrize("text", [
    "", "   \n", "Explanation:", "Explanation: Explanation:", "Step 1: look.\nStep 2: think harder and", "x" * 400,
])
def test_parse_garbage_and_partial_raise(text):
    with pytest.raises(ExplanationError):
        parse_explanation(text, require_marker=False)


def test_explain_uses_the_client_settings_and_records_usage():
    record = make_record()
    client = Reply("Explanation: the word cat")
    explanation = asyncio.run(DefaultExplainer(max_tokens=77, temperature=0.3).explain(record, client))
    assert explanation.text == "the word cat" and explanation.explainer == "default"
    assert explanation.model == "scripted" and explanation.prompt_tokens == 30
    assert client.calls[0]["max_tokens"] == 77 and client.calls[0]["temperature"] == 0.3


def test_programmatic_form_with_client_in_constructor():
    client = Reply("Explanation: cats")
    explainer = DefaultExplainer(client, tokenizer=None)
    assert asyncio.run(explainer.explain(make_record())).text == "cats"
    with pytest.raises(ValueError, match="no client"):
        asyncio.run(DefaultExplainer().explain(make_record()))


def test_chain_of_thought_needs_the_marked_last_line():
    good = Reply("1. The marks are ' cat'.\n2. All are pets.\nExplanation: the word cat")
    assert asyncio.run(ChainOfThoughtExplainer().explain(make_record(), good)).text == "the word cat"
    assert ChainOfThoughtExplainer().max_tokens == 1024
    with pytest.raises(ExplanationError):
        asyncio.run(ChainOfThoughtExplainer().explain(make_record(), Reply("the word cat")))


def test_unparseable_reply_is_an_error_not_an_explanation():
    with pytest.raises(ExplanationError):
        asyncio.run(DefaultExplainer().explain(make_record(), Reply("Step 1: hmm.\nStep 2: unclear")))


def test_names_and_custom_template(tmp_path):
    for name, cls in [("default", DefaultExplainer), ("contrastive", ContrastiveExplainer),
                      ("chain-of-thought", ChainOfThoughtExplainer)]:
        assert cls.name == name and issubclass(cls, Explainer)
    path = tmp_path / "t.txt"
    path.write_text("Look:\n$examples$output_tokens\nExplanation: please")
    assert user_prompt(DefaultExplainer(prompt_template=str(path))).startswith("Look:\nExcerpt 1: The <<cat>>")
    path.write_text("Look: $exampels")
    with pytest.raises(ValueError, match="prompt_template"):
        DefaultExplainer(prompt_template=str(path))
    with pytest.raises(ValueError, match="max_examples"):
        DefaultExplainer(max_examples=0)


def test_top_output_tokens_by_hand():
    unembedding = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])

    class Tok:
        def decode(self, ids):
            return ["a", "b", "c", "d"][ids[0]]

    assert top_output_tokens(torch.tensor([1.0, 0.2]), unembedding, Tok(), k=2) == ["a", "c"]
    with pytest.raises(ValueError, match="unembedding"):
        top_output_tokens(torch.ones(3), unembedding, Tok())


def test_mark_keeps_edge_whitespace_outside_the_delimiters():
    from autointerp.prompting import mark

    assert mark(["The", " cat", " sat", " down"], [1, 2]) == "The <<cat sat>> down"
    assert mark(["A", " ", "b"], [1]) == "A<< >>b"
    assert mark(["x", "y "], [1]) == "x<<y>> "


@pytest.mark.parametrize("cls, keys", [(DefaultExplainer, ["explanation"]),
                                       (ChainOfThoughtExplainer, ["reasoning", "explanation"])])
def test_structured_explanations(cls, keys):
    client = ScriptedClient("truth")
    explanation = asyncio.run(cls(structured=True).explain(make_record(), client))
    schema = client.calls[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == keys and explanation.text == "the word cat"
    assert parse_explanation('{"reasoning": "all cats", "explanation": "cats"}', require_marker=True) == "cats"
    assert parse_explanation('{"explanation": "Explanation: cats"}', require_marker=True) == "cats"
    with pytest.raises(ExplanationError):
        parse_explanation('{"explanation": ""}', require_marker=True)
    # llama-cpp-python's grammar lets raw newlines into a JSON string: still one whole object
    assert parse_explanation('{"explanation" : "cats and\n\nA" }', require_marker=False) == "cats and A"
    for require_marker in (True, False):  # cut off at max_tokens: an error, never an explanation
        with pytest.raises(ExplanationError, match="not one whole JSON"):
            parse_explanation('{"explanation": "cats and dogs and', require_marker=require_marker)


class CharTokenizer:
    """One token per character: an exact count to fit against."""

    def encode(self, text):
        return list(text)


@pytest.mark.parametrize("cls", [DefaultExplainer, ContrastiveExplainer])
def test_context_length_fits_the_prompt_with_fewer_examples_and_says_so(cls, caplog):
    record = make_record()
    full = cls(tokenizer=CharTokenizer(), max_tokens=50)
    whole = full.build_messages(record)
    size = full._prompt_tokens(whole)
    fitted = cls(tokenizer=CharTokenizer(), max_tokens=50, context_length=size + 50 - 200)  # 200 tokens too many
    with caplog.at_level("WARNING"):
        messages = fitted.build_messages(record)
    assert fitted._prompt_tokens(messages) <= size - 200  # the prompt plus the reply's room fit
    shown = messages[-1]["content"].count("Excerpt ")
    assert 1 <= shown < len(record.train)
    assert f"shows {shown} of {len(record.train)} examples" in caplog.text
    assert "".join(record.train[0].str_tokens).replace(" cat", " <<cat>>") in messages[-1]["content"]
    assert cls(tokenizer=CharTokenizer(), max_tokens=50, context_length=size + 50).build_messages(record) == whole


def test_context_length_too_small_for_one_example_is_an_error_naming_the_setting():
    with pytest.raises(ExplanationError, match="explainer_model_max_len"):
        DefaultExplainer(max_tokens=50, context_length=60).build_messages(make_record())
    with pytest.raises(ValueError, match="context_length"):
        DefaultExplainer(max_tokens=256, context_length=200)
