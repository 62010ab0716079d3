"""Calibration: the interpret stage on known-answer latents, to tell how far the run's judge can be trusted.

`interpret.calibration: N` writes up to N known-answer latents as the calibration hookpoint
(`autointerp.latents.known_answer`) and runs them through an `InterpretStage` of their own, with the
run's client, explainer, scorers and examples settings, and a `RecordBuilder` over that hookpoint.
Their explanations and scores go to `<run>/calibration/`, never among the real latents', so the
real hookpoints' summaries, counts, failure fractions and selection stay as they were. The summary
gets a `calibration` block: per scorer the judge's score on the known-answer latents beside the
real latents', whether each explanation names its set, and a verdict line.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from autointerp.latents.known_answer import HOOKPOINT, known_answer_reader, write_known_answer
from autointerp.latents.known_sets import KnownSet
from autointerp.pipeline.calibration_verdict import headline, verdict_line
from autointerp.pipeline.config import InterpretConfig
from autointerp.pipeline.stage import InterpretStage
from autointerp.pipeline.summary import scorer_results
from autointerp.records import Latent
from autointerp.run_folder import RunPaths

logger = logging.getLogger(__name__)

FOLDER = "calibration"
"""`<run>/calibration/`: the known-answer latents' explanations, scores and examples cache."""


def calibration_paths(run_dir: str | Path) -> RunPaths:
    """The run folder of the known-answer latents, inside the run's."""
    return RunPaths(Path(run_dir) / FOLDER)


class Calibration:
    """The known-answer latents of one run: their sets, their stage, and the summary block."""

    def __init__(self, run_dir: str | Path, config: InterpretConfig, parts: Any) -> None:
        """parts: the run's `Parts` with its builder and tokenizer built (the client may come later: the
        stage is made on first use). Writes the calibration hookpoint; a cache without any usable set
        fails here, before a server starts."""
        paths = RunPaths(run_dir)
        self.paths = calibration_paths(run_dir)
        self.config = config
        self.parts = parts
        self.builder = _builder(paths, self.paths, parts, config.calibration)
        self.sets = self.builder.sets
        self.latents = [Latent(HOOKPOINT, j) for j in range(len(self.sets))]
        self._stage: InterpretStage | None = None

    @property
    def stage(self) -> InterpretStage:
        """The calibration's own `InterpretStage`: the run's client, explainer, scorers and accounting."""
        if self._stage is None:
            p = self.parts
            self._stage = InterpretStage(
                self.paths.root, _stage_config(self.config), builder=self.builder, client=p.client,
                explainer=p.explainer, accounting=p.accounting,
                scorers={n: s for n, s in p.scorers.items() if s.reads_only_examples},  # no decoder row to steer with
                output_tokens=None,  # a known-answer latent has no decoder row: no logit lens
            )
        return self._stage

    async def run(self) -> None:
        """Explain and score every known-answer latent (finished ones are skipped, as for real latents)."""
        logger.info("calibration: %d known-answer latents (%s)", len(self.sets), ", ".join(s.name for s in self.sets))
        await self.stage.run(self.latents)

    def block(self, per_hookpoint: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The summary's `calibration` block; `per_hookpoint` is the real latents' (shown beside)."""
        scorers = list(self.stage.scorers)
        per_scorer = {}
        for name in scorers:
            by_hp, _ = scorer_results(self.paths, name, self.latents, self.stage.protocol.score(name))
            per_scorer[name] = _scorer_entry(name, by_hp.get(HOOKPOINT, []), per_hookpoint, self.config.seed)
        rows = [self._row(latent, known, scorers) for latent, known in zip(self.latents, self.sets)]
        named = sum(1 for r in rows if r["names_set"])
        explained = sum(1 for r in rows if r["explanation"] is not None)
        block = {"hookpoint": HOOKPOINT, "folder": FOLDER, "n_latents": len(rows), "n_explained": explained,
                 "n_named": named, "per_scorer": per_scorer, "latents": rows}
        block["verdict"] = verdict_line(block)
        return block

    def _row(self, latent: Latent, known: KnownSet, scorers: list[str]) -> dict[str, Any]:
        """One known-answer latent: its set, its explanation, whether that names the set, its headline scores."""
        from autointerp.io import read_json

        data = read_json(self.paths.explanation(latent)) or {}
        text = (data.get("explanation") or {}).get("text")
        scores = {}
        for name in scorers:
            metrics = (read_json(self.paths.score(name, latent)) or {}).get("metrics") or {}
            key = headline(metrics)
            scores[name] = {key: metrics[key]} if key else {}
        skipped = self.builder.skip_reasons.get(latent)
        return {"latent": latent.index, "set": known.name, "description": known.description, "explanation": text,
                "error": data.get("error") or skipped, "names_set": known.named_by(text), "scores": scores}


def _scorer_entry(name: str, results: list, per_hookpoint: dict[str, dict[str, Any]], seed: int) -> dict[str, Any]:
    """One scorer: its metrics on the known-answer latents and, beside them, on each real hookpoint."""
    from autointerp.metrics import aggregate

    agg = aggregate(results, seed=seed).get(name) or {}
    return {"known_answer": agg.get("metrics", {}), "n_scored": agg.get("n_scored", 0),
            "real": {hp: by_scorer[name] for hp, by_scorer in per_hookpoint.items() if name in by_scorer}}


def _stage_config(config: InterpretConfig) -> InterpretConfig:
    """The run's settings for the calibration stage: every known-answer latent, no shuffled control."""
    return replace(config, max_latents=None, latents=None, hookpoints=None, shuffled_baseline=False)


def _builder(paths: RunPaths, calibration: RunPaths, parts: Any, n: int) -> Any:
    """A `RecordBuilder` over the calibration hookpoint with the run's examples settings (its `sets` attached)."""
    from autointerp.examples import RecordBuilder
    from autointerp.examples.non_activating import NeighboursSource, RandomSource

    examples = parts.builder.config
    tokenizer = parts.tokenizer or getattr(parts.builder, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("interpret.calibration needs the run's tokenizer to choose the known-answer sets")
    sets = write_known_answer(paths.latents, tokenizer, n, width=examples.example_ctx_len,
                              min_windows=max(examples.min_examples, 1))
    source = parts.builder.source
    if isinstance(source, NeighboursSource) and source.neighbours_type != "co-occurrence":
        logger.info("calibration: known-answer latents have no %s; their negatives are drawn at random",
                    source.neighbours_type)
        source = RandomSource()
    builder = RecordBuilder(known_answer_reader(paths.latents), examples, tokenizer,
                            cache_dir=calibration.examples_cache, source=source)
    builder.sets = sets
    return builder
