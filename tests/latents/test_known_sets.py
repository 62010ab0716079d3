"""Known-answer sets: chosen from a cache's own text and tokenizer, written as the calibration hookpoint
next to the real ones (the real manifest untouched), firing exactly on their tokens; and the check of
whether an explanation names a set, against hand-judged explanations."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scorers"))

from examples.examples_cache import write_cache  # noqa: E402
from judges import HP, firing_tokens, news_tokens, token_latent_nonzeros  # noqa: E402

from autointerp.latents import CacheReader  # noqa: E402
from autointerp.latents.known_answer import HOOKPOINT, known_answer_reader, read_known_sets, write_known_answer  # noqa: E402
from autointerp.latents.known_sets import MAX_COVERAGE, MONTHS, KnownSet, Vocabulary, choose_sets  # noqa: E402
from autointerp.pipeline.config import InterpretConfig  # noqa: E402

MONTH = KnownSet("months", "months", "month names", [1, 2], [" January", " March"], names=["month", "months"])
DIGITS = KnownSet("digits", "digits", "digits", [3, 4], ["1", "9"], names=["digit", "digits", "number", "numbers"])
WORD = KnownSet("word: of", "word", "the word 'of'", [5], [" of"])
COMMA = KnownSet("punctuation: ,", "punctuation", "the mark ','", [6], [","], names=["comma", "commas"])
AFTER = KnownSet("after: in", "after", "the token after 'in'", [], [" in"], after_ids=[7])
SUFFIX = KnownSet("suffix: -ing", "suffix", "-ing words", [8], [" running"], names=["-ing", "gerund"])

HAND_JUDGED = [  # (set, explanation, names it?) judged by reading each explanation
    (MONTH, "Months of the year, e.g. January", True),
    (MONTH, "dates", False),  # "dates" is close but names no month and not the word month
    (MONTH, "the word march in a parade", True),  # mentions a token of the set (it cannot tell the senses apart)
    (DIGITS, "numbers", True),
    (DIGITS, "government entities", False),
    (WORD, "names of countries", False),  # "of" as the explanation's own grammar is no mention
    (WORD, 'the word "of"', True),
    (WORD, "the token of in phrases", True),
    (WORD, "nouns", False),
    (COMMA, "commas between clauses", True),
    (COMMA, "lists, items and so on", False),  # a bare comma in the explanation is punctuation, not a mention
    (COMMA, "the ',' mark", True),
    (AFTER, "words in a sentence", False),  # mentions "in", but not as what comes before
    (AFTER, "the word right after 'in'", True),
    (AFTER, "tokens following in", True),
    (SUFFIX, "verbs ending in -ing", True),
    (SUFFIX, "verbs", False),
    (MONTH, None, False),
]


@pytest.mark.parametrize("known,text,expected", HAND_JUDGED)
def test_an_explanation_names_a_set_by_the_tokens_it_mentions(known, text, expected):
    assert known.named_by(text) is expected


def test_the_after_rule_fires_on_the_token_right_after_each_trigger():
    tokens = np.array([[7, 1, 7, 7, 2], [3, 7, 4, 5, 7]])
    expected = np.array([[0, 1, 0, 1, 1], [0, 0, 1, 0, 0]], bool)  # never across rows
    assert np.array_equal(AFTER.fires(tokens), expected)
    assert np.array_equal(WORD.fires(tokens), tokens == 5)


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    from autointerp.models.subject import load_tokenizer

    tokenizer = load_tokenizer("embedded:SmolLM2-135M-Instruct")
    tokens = news_tokens(tokenizer)
    folder = write_cache(tmp_path_factory.mktemp("known") / "latents", tokens,
                         {HP: token_latent_nonzeros(tokens, firing_tokens(tokens, tokenizer))}, {HP: 10})
    return tokenizer, tokens, folder


def test_sets_come_from_the_text_and_tokenizer_and_fire_in_enough_but_not_too_many_windows(news):
    tokenizer, tokens, _ = news
    sets = choose_sets(tokens, tokenizer, 12, width=32, min_windows=40)
    assert len(sets) == 12 and len({s.name for s in sets}) == 12
    vocab = Vocabulary(tokens, tokenizer, 32)
    for s in sets:
        count, coverage = vocab.windows(s.fires(tokens))
        assert count >= 40 and coverage <= MAX_COVERAGE, s.name
        decoded = [tokenizer.decode([t]) for t in (s.after_ids if s.kind == "after" else s.token_ids)]
        assert decoded == s.tokens
        if s.kind == "months":
            assert all(d.strip().lower() in MONTHS for d in decoded) and " January" in decoded
        if s.kind == "digits":
            assert all(d.strip().isdigit() for d in decoded)
    assert [s.kind for s in sets[:5]] == ["months", "digits", "word", "punctuation", "after"]
    # a word taken as a word set is never also a trigger: that would be one answer to two questions
    words = {s.tokens[0] for s in sets if s.kind == "word"}
    assert not words & {s.tokens[0] for s in sets if s.kind == "after"}


def test_the_calibration_hookpoint_fires_exactly_on_its_sets_and_leaves_the_real_cache_alone(news):
    tokenizer, tokens, folder = news
    real_manifest = (folder / "manifest.json").read_bytes()
    sets = write_known_answer(folder, tokenizer, 5, width=32, min_windows=40)
    assert (folder / "manifest.json").read_bytes() == real_manifest
    assert CacheReader(folder).hookpoints == [HP]
    reader = known_answer_reader(folder)
    assert reader.hookpoints == [HOOKPOINT] and reader.d_sae(HOOKPOINT) == 5
    assert np.array_equal(reader.tokens, tokens)  # the run's own token files (two ranks), through "../"
    for j, s in enumerate(sets):
        got = reader.latent(HOOKPOINT, j)
        assert np.array_equal(got.token_index, np.flatnonzero(s.fires(tokens).reshape(-1)))
        assert np.all(got.activations >= 1.0)
    assert [x.to_dict() for x in read_known_sets(folder)] == [s.to_dict() for s in sets]
    shard = folder / HOOKPOINT / "shard-r0-0.safetensors"
    before = shard.stat().st_mtime_ns
    write_known_answer(folder, tokenizer, 5, width=32, min_windows=40)  # the same sets: nothing rewritten
    assert shard.stat().st_mtime_ns == before
    first = known_answer_reader(folder).manifest.sparse_model
    assert len(write_known_answer(folder, tokenizer, 3, width=32, min_windows=40)) == 3  # other sets: rewritten
    assert known_answer_reader(folder).d_sae(HOOKPOINT) == 3
    assert known_answer_reader(folder).manifest.sparse_model != first  # so their old results read as stale


def test_bad_calibration_settings_are_clear_errors(news):
    tokenizer, _, folder = news
    with pytest.raises(ValueError, match="interpret.calibration: no known-answer set"):
        write_known_answer(folder, tokenizer, 4, width=32, min_windows=10_000)
    with pytest.raises(ValueError, match="calibration must be 0"):
        InterpretConfig(calibration=-1)
