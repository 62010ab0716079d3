"""Export a finished run in the layout of Neuronpedia's public exports (`neuronpedia-datasets/v1/`):

    <out>/config/{explanation_type,explanation_model_type,explanation_score_type,explanation_score_model}.jsonl
    <out>/<modelId>/<sourceId>/{model,source,sourceset,release}.jsonl
    <out>/<modelId>/<sourceId>/{features,activations,explanations,explanation_scores}/batch-<N>.jsonl.gz

Batch N holds the latents with index in [N * batch_size, (N + 1) * batch_size), as Neuronpedia's
exporter batches activations (1,024 latents a batch). `explanation_scores/` is ours: Neuronpedia's
public exports carry no scores, so the ExplanationScore rows go beside the explanations they score.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autointerp.export import files, naming, types
from autointerp.export import neuronpedia as np_rows
from autointerp.io import read_json
from autointerp.latents.format import MANIFEST
from autointerp.report.load import LatentData, RunData, load_run
from autointerp.run_folder import RunPaths

logger = logging.getLogger(__name__)

FORMATS = ("neuronpedia",)
"""The formats `autointerp export --format` writes."""

BATCH_SIZE = 1024
"""Latents per batch file, as Neuronpedia's exporter writes them."""

TABLES = {"features": "features", "activations": "activations", "explanations": "explanations",
          "scores": "explanation_scores"}
"""Row kind -> its folder in a source folder."""


@dataclass
class ExportOptions:
    """How our names become Neuronpedia's (None: derived from the run, see `autointerp.export.naming`)."""

    model_id: str | None = None
    source_set: str | None = None
    release: str | None = None
    creator_name: str = "autointerp"
    batch_size: int = BATCH_SIZE


@dataclass
class _Seen:
    """What the exported rows name in the config tables, and how many rows went out."""

    explainers: set[str] = field(default_factory=set)
    explainer_models: set[str] = field(default_factory=set)
    scorers: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))


def export_run(run_dir: str | Path, out: str | Path, fmt: str = "neuronpedia", overwrite: bool = False,
               options: ExportOptions | None = None) -> dict[str, int]:
    """Write the run to `out` in format `fmt`; rows written per kind. ValueError/FileNotFoundError name the bad setting."""
    if fmt not in FORMATS:
        raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    out, options = Path(out), options or ExportOptions()
    files.check_out(out, overwrite)
    run = load_run(run_dir)
    if not run.files:
        raise FileNotFoundError(f"name: run {run.name!r} has no explanation files in {RunPaths(run.run_dir).explanations} "
                                "(has `autointerp interpret` run?)")
    manifest = read_json(RunPaths(run.run_dir).latents / MANIFEST) or {}
    names = _names(run, manifest, options)
    with files.staged(out) as tmp:
        seen = _write(tmp, run, manifest, names, options)
    logger.info("exported run %s to %s: %s", run.name, out, seen.counts)
    return seen.counts


def _names(run: RunData, manifest: dict[str, Any], options: ExportOptions) -> np_rows.Names:
    """The model id, release and source ids of this export."""
    model = run.summary.get("model") or manifest.get("model")
    per_hp = manifest.get("per_hookpoint") or {}
    hookpoints = dict.fromkeys(f.hookpoint for f in run.files)
    sizes = {hp: (per_hp.get(hp) or {}).get("d_sae") for hp in hookpoints}
    release = naming.checked_name("release", options.release) if options.release else naming.slug(f"autointerp-{run.name}")
    sparse = run.summary.get("sparse_model") or manifest.get("sparse_model")
    sources = naming.source_ids(sizes, options.source_set, naming.transcoders(sparse, list(hookpoints)))
    return np_rows.Names(model_id=naming.model_id(model, options.model_id), release=release,
                         creator_name=options.creator_name, sources=sources)


def _write(root: Path, run: RunData, manifest: dict[str, Any], names: np_rows.Names, options: ExportOptions) -> _Seen:
    """Every file of the export under `root`."""
    seen = _Seen()
    model = run.summary.get("model") or manifest.get("model")
    llm = run.summary.get("explainer_model")
    judges = types.score_models(run.scorers, llm, run.run_config)
    latents = (lt for lt in run.latents() if lt.record is not None)  # no record: nothing to show for it
    for hookpoint, group in itertools.groupby(latents, key=lambda lt: lt.hookpoint):
        folder = root / names.model_id / names.sources[hookpoint][0]
        _metadata(folder, run, manifest, names, hookpoint, model)
        for batch, members in itertools.groupby(group, key=lambda lt: lt.index // options.batch_size):
            _batch(folder, batch, list(members), names, llm, judges, seen)
    _config(root / "config", run, seen, judges, llm)
    return seen


def _metadata(folder: Path, run: RunData, manifest: dict[str, Any], names: np_rows.Names, hookpoint: str,
              model: str | None) -> None:
    """model, release, sourceset and source .jsonl of one source folder (one line each, as Neuronpedia writes them)."""
    sparse = run.summary.get("sparse_model") or manifest.get("sparse_model")
    data = run.run_config.get("data") or {}
    files.write_jsonl(folder / "model.jsonl", [np_rows.model_row(names, model, naming.owner(model))])
    files.write_jsonl(folder / "release.jsonl", [np_rows.release_row(
        names, f"autointerp run {run.name}: explanations and scores of the latents of {sparse} on {model}",
        f"autointerp run {run.name}")])
    files.write_jsonl(folder / "sourceset.jsonl", [np_rows.sourceset_row(names, hookpoint, f"{hookpoint} of {sparse}")])
    notes = (f"autointerp run {run.name}; hookpoint {hookpoint}; sparse model {sparse}; dataset split "
             f"{data.get('dataset_split')}; an activation is a window of cached row dataIndex")
    files.write_jsonl(folder / "source.jsonl", [np_rows.source_row(names, hookpoint, manifest, data.get("dataset_repo"), notes)])


def _batch(folder: Path, batch: int, latents: list[LatentData], names: np_rows.Names, llm: str | None,
           judges: dict[str, str | None], seen: _Seen) -> None:
    """The four batch files of one batch of latents."""
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in TABLES}
    for latent in latents:
        rows["features"].append(np_rows.feature_row(names, latent))
        rows["activations"].extend(np_rows.activation_rows(names, latent))
        explanation = np_rows.explanation_row(names, latent, llm)
        if explanation is None:
            continue
        rows["explanations"].append(explanation)
        seen.explainers.add(str((latent.explanation or {}).get("explainer") or "default"))
        if explanation["explanationModelName"]:
            seen.explainer_models.add((latent.explanation or {}).get("model") or llm)
        for score in np_rows.score_rows(latent, explanation, judges):
            rows["scores"].append(score)
            scorer = score["explanationScoreTypeName"].removeprefix(np_rows.SCORE_TYPE_PREFIX)
            seen.scorers.setdefault(scorer, set()).add(json.loads(score["jsonDetails"])["metric"])
    for kind, folder_name in TABLES.items():
        seen.counts[kind] += files.write_batch(folder / folder_name, batch, rows[kind])


def _config(folder: Path, run: RunData, seen: _Seen, judges: dict[str, str | None], llm: str | None) -> None:
    """The four config tables, with the names the exported rows point to."""
    tables = {
        "explanation_type": [types.explanation_type_row(e, run.run_config) for e in sorted(seen.explainers)],
        "explanation_model_type": _unique([types.model_type_row(m, "Explainer LLM") for m in sorted(seen.explainer_models)]),
        "explanation_score_type": [types.score_type_row(s, m, run.run_config) for s, m in sorted(seen.scorers.items())],
        "explanation_score_model": _unique([types.model_type_row(m, "Scoring model") for m in
                                            sorted({str(judges[s]) for s in seen.scorers if judges.get(s)})]),
    }
    for name, rows in tables.items():
        if rows:
            files.write_jsonl(folder / f"{name}.jsonl", rows)


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first row of each name (two models may share a short name)."""
    return list({row["name"]: row for row in reversed(rows)}.values())[::-1]
