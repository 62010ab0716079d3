"""Explainers and scorers are chosen by YAML `class_path`, their settings checked against the signature."""

import pytest
from jsonargparse import ArgumentParser

import autointerp.explainers  # noqa: F401  (subclasses must be importable by class_path)
import autointerp.scorers  # noqa: F401
from autointerp.explainers.base import Explainer
from autointerp.scorers.base import Scorer


def parser():
    p = ArgumentParser(exit_on_error=False)
    p.add_argument("--scorer", type=Scorer)
    p.add_argument("--explainer", type=Explainer)
    return p


@pytest.mark.parametrize("name", ["DetectionScorer", "RecallScorer", "FuzzScorer", "SimulationScorer",
                                  "IntruderScorer", "EmbeddingScorer", "SurprisalScorer"])
def test_every_scorer_by_class_path(name):
    p = parser()
    cfg = p.parse_args(["--scorer", f'{{"class_path": "autointerp.scorers.{name}"}}'])
    assert type(p.instantiate(cfg).scorer).__name__ == name


def test_init_args_reach_the_objects_and_bad_ones_are_refused():
    p = parser()
    cfg = p.parse_args([
        "--scorer", '{"class_path": "autointerp.scorers.FuzzScorer", "init_args": {"n_examples_per_prompt": 3}}',
        "--explainer", '{"class_path": "autointerp.explainers.ChainOfThoughtExplainer",'
                       ' "init_args": {"show_activations": true}}',
    ])
    built = p.instantiate(cfg)
    assert built.scorer.n_examples_per_prompt == 3
    assert built.explainer.show_activations is True and built.explainer.max_tokens == 1024
    with pytest.raises(Exception, match="n_examples"):
        p.parse_args(["--scorer", '{"class_path": "autointerp.scorers.FuzzScorer", "init_args": {"n_examples": 3}}'])


def test_short_class_names_work_once_the_package_is_imported():
    p = parser()
    cfg = p.parse_args(["--scorer", '{"class_path": "DetectionScorer", "init_args": {"log_probs": true}}',
                        "--explainer", "ContrastiveExplainer"])
    built = p.instantiate(cfg)
    assert type(built.scorer).__name__ == "DetectionScorer" and built.scorer.log_probs is True
    assert type(built.explainer).__name__ == "ContrastiveExplainer"


def test_bind_hands_over_the_run_tokenizer_and_seed_without_overriding_given_ones():
    from autointerp.explainers import DefaultExplainer
    from autointerp.scorers import DetectionScorer, SimulationScorer

    run_tokenizer, own = object(), object()
    scorer = DetectionScorer()
    scorer.bind(tokenizer=run_tokenizer, seed=5)
    assert scorer.tokenizer is run_tokenizer and scorer.seed == 5
    given = DetectionScorer(tokenizer=own, seed=9)
    given.bind(tokenizer=run_tokenizer, seed=5)
    assert given.tokenizer is own and given.seed == 9
    simulation = SimulationScorer()
    simulation.bind(tokenizer=run_tokenizer, seed=5)  # no seed setting: nothing to hand over
    assert simulation.tokenizer is run_tokenizer and not hasattr(simulation, "seed")
    explainer = DefaultExplainer()
    explainer.bind(tokenizer=run_tokenizer, seed=5)
    assert explainer.tokenizer is run_tokenizer
