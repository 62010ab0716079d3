"""Run folders for the pipeline, resume and end-to-end tests: caches made from real text, and output scans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autointerp.latents.format import MANIFEST, build_shard_arrays, hookpoint_dir, save_arrays, shard_name, write_tokens
from autointerp.io import write_json

EMBEDDED_MODEL = "embedded:SmolLM2-135M-Instruct"


TEXT = (
    "The river runs through the old town, past the market and the stone bridge. Farmers bring apples, "
    "cheese and bread on Saturday mornings, and the square fills with music. In winter the water freezes "
    "and children skate under the bridge while their parents drink hot cider. The town council meets every "
    "Tuesday to discuss roads, schools and the new library, which opened in March after two years of work. "
)


def text_tokens(tokenizer, n_rows: int, ctx_len: int) -> np.ndarray:
    """int32 [n_rows, ctx_len]: plain English text, repeated, tokenized by the subject model's tokenizer."""
    ids = tokenizer(TEXT)["input_ids"]
    ids = ids * (n_rows * ctx_len // len(ids) + 1)
    return np.asarray(ids[: n_rows * ctx_len], dtype=np.int32).reshape(n_rows, ctx_len)


def make_token_cache(run_dir: Path, tokens: np.ndarray, d_sae: int = 8, hookpoint: str = "layers.15",
                     model: str = EMBEDDED_MODEL) -> Path:
    """A cache where latent j fires on every token whose id is j modulo d_sae (a token-level concept),
    with an activation that grows along the row; written in two shards like a two-flush predict."""
    n_rows, ctx_len = tokens.shape
    flat = tokens.reshape(-1).astype(np.int64)
    token_index = np.arange(len(flat))
    latents = flat % d_sae
    values = (1.0 + (token_index % ctx_len) / ctx_len).astype(np.float32)
    latents_dir = run_dir / "latents"
    shards, half = [], (n_rows // 2) * ctx_len
    for k, part in enumerate([slice(0, half), slice(half, None)]):
        arrays = build_shard_arrays(token_index[part], latents[part], values[part], d_sae, "float32")
        save_arrays(hookpoint_dir(latents_dir, hookpoint) / shard_name(0, k), arrays)
        shards.append(f"{hookpoint}/{shard_name(0, k)}")
    write_tokens(latents_dir, 0, np.arange(n_rows), tokens)
    write_json(latents_dir / MANIFEST, {
        "format_version": 1, "model": model, "sparse_model": "token-id-latents", "hookpoints": [hookpoint],
        "ctx_len": ctx_len, "n_rows": n_rows, "n_tokens": n_rows * ctx_len, "token_files": ["tokens-rank0.safetensors"],
        "per_hookpoint": {hookpoint: {"d_sae": d_sae, "shards": shards, "nnz": len(flat)}},
    })
    return run_dir


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under `root` whose bytes contain `needle`."""
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def result_files(run_dir: Path) -> dict[str, dict]:
    """{relative path: JSON} of every explanation and score file of a run."""
    out = {}
    for sub in ("explanations", "scores"):
        for path in sorted((run_dir / sub).rglob("*.json")):
            out[str(path.relative_to(run_dir))] = json.loads(path.read_text())
    return out


def write_detection_config(path: Path, client_init: dict, **extra) -> Path:
    """A small run config (YAML is a superset of JSON): the llama.cpp client with `client_init`, structured
    default explainer and detection on 3 train / 2 test / 2 silent windows, one latent at a time, no MLflow
    or report; `extra` adds interpret settings (e.g. serve_gguf)."""
    interpret = {
        "client": {"class_path": "autointerp.clients.LlamaCppClient", "init_args": client_init},
        "explainer": {"class_path": "autointerp.explainers.DefaultExplainer", "init_args": {"structured": True}},
        "scorers": [{"class_path": "autointerp.scorers.DetectionScorer",
                     "init_args": {"n_examples_per_prompt": 4, "structured": True}}],
        "pipeline_num_proc": 1,
        "mlflow": False, "report": False,
        "examples": {"min_examples": 2, "n_examples_train": 3, "n_examples_test": 2, "n_non_activating": 2,
                     "example_ctx_len": 10},
        **extra,
    }
    path.write_text(json.dumps({"interpret": interpret}))
    return path
