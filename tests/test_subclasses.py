"""`subclass_named`: the one mechanism behind `explainer_class` and `scorer_class`."""

from __future__ import annotations

import pytest

from autointerp.explainers import ChainOfThoughtExplainer, explainer_class
from autointerp.scorers import RecallScorer, scorer_class
from autointerp.subclasses import named_subclasses, subclass_named


class Base:
    name = "base"


class Alpha(Base):
    name = "alpha"


class AlphaChild(Alpha):
    """Inherits `alpha` without defining a name: must not shadow Alpha."""


class Beta(AlphaChild):
    name = "beta"


def test_only_classes_defining_a_name_depth_first():
    assert named_subclasses(Base) == {"alpha": Alpha, "beta": Beta}
    assert subclass_named(Base, "beta", "kind") is Beta


def test_unknown_name_names_the_setting_and_the_choices():
    with pytest.raises(ValueError, match=r"kind: unknown name 'gamma'; choose from alpha, beta"):
        subclass_named(Base, "gamma", "kind")


def test_public_lookups_keep_their_names_and_errors():
    assert explainer_class("chain-of-thought") is ChainOfThoughtExplainer
    assert scorer_class("recall") is RecallScorer
    with pytest.raises(ValueError, match="explainer: unknown name 'nope'"):
        explainer_class("nope")
    with pytest.raises(ValueError, match="scorers: unknown name 'nope'; choose from .*detection.*fuzz"):
        scorer_class("nope")
