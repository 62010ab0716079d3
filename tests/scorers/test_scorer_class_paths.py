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
