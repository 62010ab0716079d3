"""Best-of-k and revision: choose each latent's explanation on the select split, never on test.

`Selector.choose(record)` draws k candidates (the first is the explainer's own, single-shot call),
scores each with the selection scorer on a view of the record whose scored examples are the select
split, keeps the best, then runs up to `rounds` revisions from the select examples the scorer got
wrong, each kept only if it scores better on select. Every step is saved atomically to
`selection/<hookpoint>/<latent>.json` as it finishes, so a resumed run redoes none of it; the
interpret stage then scores the kept explanation on the test split as usual.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from dataclasses import replace
from typing import Any

import numpy as np

from autointerp.clients.accounting import usage_stage
from autointerp.clients.base import Client, Response
from autointerp.explainers.base import Explainer, ExplanationError
from autointerp.explainers.revision import revise
from autointerp.io import read_json, write_json
from autointerp.pipeline.outputs import RunPaths
from autointerp.pipeline.selection_config import SelectionConfig
from autointerp.records import Explanation, LatentRecord, ScoreResult
from autointerp.scorers.base import Scorer

logger = logging.getLogger(__name__)


def progress_path(paths: RunPaths, latent: Any) -> Any:
    """`selection/<hookpoint>/<latent>.json`: the latent's candidates and rounds so far."""
    return paths.root / "selection" / latent.hookpoint / f"{latent.index}.json"


def select_view(record: LatentRecord) -> LatentRecord:
    """The record as the selection scorer sees it: its select split in the places scorers read
    (`test`, `negatives`); the test split and the scorers' negatives are not in it at all."""
    return replace(record, test=list(record.select), negatives=list(record.select_negatives),
                   select=[], select_negatives=[])


class _Draw(Client):
    """The run's client with one candidate's sampling: its temperature and its own draw number (cache key)."""

    def __init__(self, client: Client, temperature: float, sample: int) -> None:
        self.client, self.temperature, self.sample = client, temperature, sample
        self.model = getattr(client, "model", "")

    async def generate(self, messages: Any, **settings: Any) -> Response:
        """The wrapped client's answer at this draw's temperature and number."""
        settings.update(temperature=self.temperature, sample=self.sample)
        return await self.client.generate(messages, **settings)


def _value(result: dict[str, Any] | None, metric: str) -> float:
    """The candidate's select score; -inf when missing, failed or NaN (never chosen over a real one)."""
    value = ((result or {}).get("metrics") or {}).get(metric)
    if (result or {}).get("error") or not isinstance(value, (int, float)) or math.isnan(value):
        return -math.inf
    return float(value)


def chosen_index(state: dict[str, Any], metric: str) -> int | None:
    """The kept candidate: the best draw (ties: the earliest, so the single-shot one), then each
    round's revision when it scores strictly better on select. None when no draw succeeded."""
    return _replay(state, metric)[0]


def _replay(state: dict[str, Any], metric: str) -> tuple[int | None, list[bool]]:
    """(the kept candidate, whether each round's revision replaced the one kept before it)."""
    cands = state["candidates"]
    draws = [i for i, c in enumerate(cands) if c["origin"] != "revision" and c.get("error") is None]
    if not draws:
        return None, [False] * len(state["rounds"])
    best, kept = max(draws, key=lambda i: (_value(cands[i].get("select"), metric), -i)), []
    for rnd in state["rounds"]:
        new = rnd.get("candidate")
        kept.append(new is not None and _value(cands[new].get("select"), metric) > _value(cands[best].get("select"), metric))
        best = new if kept[-1] else best
    return best, kept


class Selector:
    """Chooses one latent's explanation on the select split (see the module docstring)."""

    def __init__(self, config: SelectionConfig, explainer: Explainer, scorer_name: str, scorer: Scorer,
                 client: Client, paths: RunPaths, fingerprint: str, seed: int, accounting: Any = None,
                 start_over: bool = False) -> None:
        """fingerprint: the explanation protocol's (a saved state of another protocol is started over);
        start_over: ignore saved states (`overwrite: [explanations]`)."""
        self.config, self.explainer, self.client, self.start_over = config, explainer, client, start_over
        self.scorer_name, self.scorer = scorer_name, scorer
        self.paths, self.fingerprint, self.seed, self.accounting = paths, fingerprint, seed, accounting

    async def choose(self, record: LatentRecord) -> tuple[Explanation, dict[str, Any]]:
        """The kept explanation and the selection block for the explanation file; raises the first
        draw's error when no draw gave an explanation."""
        state = self._load(record)
        await self._draw(record, state)
        await self._score_unscored(record, state)
        while len(state["rounds"]) < self.config.rounds and not self._budget_spent(state):
            await self._revise(record, state)
            await self._score_unscored(record, state)
        best = chosen_index(state, self.config.metric)
        if best is None:
            raise ExplanationError(f"no candidate explanation: {state['candidates'][0].get('error')}")
        return _explanation(record, state["candidates"][best]), self._block(state, best)

    def _load(self, record: LatentRecord) -> dict[str, Any]:
        saved = None if self.start_over else read_json(progress_path(self.paths, record.latent))
        if saved and saved.get("fingerprint") == self.fingerprint:
            return saved
        return {"fingerprint": self.fingerprint, "candidates": [], "rounds": [], "stopped": None}

    def _save(self, record: LatentRecord, state: dict[str, Any]) -> None:
        write_json(progress_path(self.paths, record.latent), state)

    def _budget_spent(self, state: dict[str, Any]) -> bool:
        spent = bool(self.accounting is not None and self.accounting.budget_exhausted)
        if spent:
            state["stopped"] = "budget_usd/budget_tokens spent"
        return spent

    async def _draw(self, record: LatentRecord, state: dict[str, Any]) -> None:
        """Draw the candidates not yet on disk (and retry failed ones), concurrently; save."""
        cands = state["candidates"]
        todo = [i for i in range(self.config.k) if i >= len(cands) or cands[i].get("error") is not None]
        if not todo:
            return
        if len(cands) and self._budget_spent(state):
            return
        drawn = await asyncio.gather(*(self._one_draw(record, i) for i in todo))
        for i, candidate in zip(todo, drawn):
            if i < len(cands):
                cands[i] = candidate
            else:
                cands.append(candidate)
        self._save(record, state)

    async def _one_draw(self, record: LatentRecord, i: int) -> dict[str, Any]:
        """Candidate i: the explainer's own call for i = 0; a sampled draw on a train subset otherwise."""
        origin = {"origin": "single-shot"} if i == 0 else {
            "origin": "draw", "temperature": self.config.temperature, "train_fraction": self.config.train_fraction}
        client = self.client if i == 0 else _Draw(self.client, self.config.temperature, i)
        shown = record if i == 0 else self._train_subset(record, i)
        try:
            with usage_stage("explain"):
                explanation = await self.explainer.explain(shown, client)
        except Exception as exc:  # recorded with the candidate; the other draws go on
            logger.warning("candidate %d of %s failed: %s", i, record.latent, exc)
            return {**origin, "error": f"{type(exc).__name__}: {exc}"}
        return {**origin, "error": None, "explanation": explanation.to_dict(), "select": None}

    def _train_subset(self, record: LatentRecord, i: int) -> LatentRecord:
        """The record with a seeded `train_fraction` of its train examples (all when 1.0)."""
        if self.config.train_fraction >= 1.0 or len(record.train) < 2:
            return record
        rng = np.random.default_rng([self.seed, zlib.crc32(str(record.latent).encode()), i])
        n = max(1, round(self.config.train_fraction * len(record.train)))
        keep = np.sort(rng.choice(len(record.train), size=n, replace=False))
        return replace(record, train=[record.train[j] for j in keep])

    async def _score_unscored(self, record: LatentRecord, state: dict[str, Any]) -> None:
        """Score every candidate without a select score on the select split, concurrently; save."""
        todo = [c for c in state["candidates"] if c.get("error") is None and c.get("select") is None]
        if not todo:
            return
        view = select_view(record)
        results = await asyncio.gather(*(self._score(view, _explanation(record, c)) for c in todo))
        for candidate, result in zip(todo, results):
            candidate["select"] = result
        self._save(record, state)

    async def _score(self, view: LatentRecord, explanation: Explanation) -> dict[str, Any]:
        """One select-split score (a failure is the result's error, and that candidate is never chosen)."""
        try:
            with usage_stage(f"select/{self.scorer_name}"):
                result = await self.scorer.score(view, explanation, self.client)
        except Exception as exc:
            logger.warning("scoring a candidate of %s on select failed: %s", view.latent, exc)
            result = ScoreResult(latent=view.latent, scorer=self.scorer_name, explanation=explanation.text,
                                 error=f"{type(exc).__name__}: {exc}")
        return result.to_dict()

    async def _revise(self, record: LatentRecord, state: dict[str, Any]) -> None:
        """One round: revise the kept candidate from its select mistakes; save the round (and the revision)."""
        best = chosen_index(state, self.config.metric)
        rnd: dict[str, Any] = {"round": len(state["rounds"]) + 1, "from": best, "candidate": None, "error": None}
        if best is None:
            rnd["error"] = "no candidate to revise"
        else:
            judged = state["candidates"][best].get("select") or {}
            missed, alarms = self._mistakes(record, judged)
            if judged.get("error"):
                rnd["error"] = f"its select score failed ({judged['error']}): nothing to revise from"
            elif not missed and not alarms:
                rnd["error"] = "no mistakes on select: nothing to revise"
            else:
                await self._ask_revision(record, state, best, missed, alarms, rnd)
        state["rounds"].append(rnd)
        self._save(record, state)

    async def _ask_revision(self, record: LatentRecord, state: dict[str, Any], best: int, missed: list, alarms: list,
                            rnd: dict[str, Any]) -> None:
        try:
            with usage_stage("revise"):
                revised = await revise(self.explainer, record, _explanation(record, state["candidates"][best]),
                                       missed, alarms, self.client)
        except Exception as exc:  # recorded on the round; the kept explanation stays
            logger.warning("revising the explanation of %s failed: %s", record.latent, exc)
            rnd["error"] = f"{type(exc).__name__}: {exc}"
            return
        state["candidates"].append({"origin": "revision", "round": rnd["round"], "error": None,
                                    "explanation": revised.to_dict(), "select": None})
        rnd["candidate"] = len(state["candidates"]) - 1
        rnd["n_missed"], rnd["n_false_alarms"] = len(missed), len(alarms)

    def _mistakes(self, record: LatentRecord, result: dict[str, Any] | None) -> tuple[list, list]:
        """Select examples the scorer got wrong: (missed activating ones, false alarms), at most
        `max_mistakes` together, missed first; each window once."""
        by_place = {(ex.row, ex.start): ex for ex in record.select + record.select_negatives}
        missed, alarms, seen = [], [], set()
        for sample in (result or {}).get("samples") or []:
            place = (sample["row"], sample["start"])
            if sample.get("prediction") is None or sample["prediction"] == sample["activating"] or place in seen:
                continue
            example = by_place.get(place)
            if example is None:
                continue
            seen.add(place)
            (missed if sample["activating"] else alarms).append(example)
        limit = self.config.max_mistakes
        return missed[:limit], alarms[: max(0, limit - len(missed[:limit]))]

    def _block(self, state: dict[str, Any], best: int) -> dict[str, Any]:
        """What the explanation file records: every candidate with its select score, the rounds, the choice."""
        metric = self.config.metric
        candidates = [{
            "origin": c["origin"], "text": (c.get("explanation") or {}).get("text"), "error": c.get("error"),
            "select_score": _plain(_value(c.get("select"), metric)) if c.get("error") is None else None,
            "select_error": (c.get("select") or {}).get("error"),
        } for c in state["candidates"]]
        revisions = [{**rnd, "kept": kept} for rnd, kept in zip(state["rounds"], _replay(state, metric)[1])]
        return {
            "scorer": self.scorer_name, "metric": metric, "k": self.config.k, "rounds": self.config.rounds,
            "candidates": candidates, "revisions": revisions, "chosen": best,
            "chosen_select_score": candidates[best]["select_score"], "stopped": state.get("stopped"),
            "note": "select_score is measured on the select split only; the reported scores are on test",
        }


def _plain(value: float) -> float | None:
    return None if math.isinf(value) else value


def _explanation(record: LatentRecord, candidate: dict[str, Any]) -> Explanation:
    """The candidate's stored explanation as an `Explanation`."""
    e = candidate["explanation"]
    return Explanation(latent=record.latent, text=e["text"], explainer=e["explainer"], model=e.get("model", ""),
                       raw_response=e.get("raw_response", ""), prompt_tokens=e.get("prompt_tokens", 0),
                       completion_tokens=e.get("completion_tokens", 0))


def make_selector(config: Any, explainer: Explainer, scorers: dict[str, Scorer], client: Client, paths: RunPaths,
                  fingerprint: str, accounting: Any = None) -> Selector | None:
    """The stage's selector, or None when selection is off; `config` is the InterpretConfig (its
    `overwrite: [explanations]` or `[cache]` starts every latent's selection over)."""
    selection = config.selection
    if not selection.active:
        return None
    names = list(scorers)
    needs = {n: s.needs_explanation for n, s in scorers.items()}
    name = selection.scorer_name(names, needs)
    if name not in scorers:  # scorers passed in by a caller, not the config's
        raise ValueError(f"selection.scorer={selection.scorer!r} is not one of the run's scorers {names}")
    start_over = bool({"explanations", "cache"} & set(config.overwrite))
    return Selector(selection, explainer, name, scorers[name], client, paths, fingerprint, config.seed, accounting,
                    start_over)
