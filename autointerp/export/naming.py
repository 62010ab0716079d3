"""Neuronpedia's names for our run: a model id from the subject model, a source id per hookpoint.

Neuronpedia files every latent under (modelId, layer, index), where `layer` is a *source id*
`<layer number>-<source set name>` (e.g. `15-res-4608`, or `6-res-jb`): the source set groups the
layers of one SAE family, and the web app reads the layer number back from the text before the
first `-` (webapp lib/utils/source.ts). Our hookpoint `layers.15` is block 15's output, the
residual stream (`res`); `layers.5.mlp` is an MLP output (`mlp`); `layers.3.self_attn` an attention
output (`att`); any other submodule keeps its own name. A transcoder (its sparsify `cfg.json` says
`transcode: true`) is `transcoder`, as in Neuronpedia's `gemmascope-transcoder-16k`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
"""What Neuronpedia accepts in a model id (its zod rule, at most 128 characters) and in a source set name."""

SET_DELIMITER = "__"
"""Neuronpedia's delimiter between a source set name and extra text in a source id: not allowed inside a set name."""

KINDS = {"": "res", "mlp": "mlp", "self_attn": "att", "attn": "att", "attention": "att"}
"""Hookpoint submodule -> the hook kind Neuronpedia's set names use."""


def slug(text: str) -> str:
    """Lower case; every run of characters outside [a-z0-9_-] becomes one `-`."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")


def model_id(model: str | None, override: str | None = None) -> str:
    """The Neuronpedia model id: `override`, else the subject model's last name part (`embedded:SmolLM2-135M-Instruct`
    and `HuggingFaceTB/SmolLM2-135M-Instruct` both give `smollm2-135m-instruct`)."""
    if override is not None:
        return checked_name("model_id", override).lower()
    name = re.split(r"[:/\\]", model or "")[-1]
    name = re.sub(r"\.gguf$", "", name, flags=re.IGNORECASE)
    found = slug(name)[:128]
    if not found:
        raise ValueError(f"model_id: cannot derive a Neuronpedia model id from the run's model {model!r}; pass --model_id")
    return found


def owner(model: str | None) -> str:
    """The organisation of a hub id `org/name`; "" when the model names none (Neuronpedia's converter default)."""
    parts = (model or "").split("/")
    return parts[0] if len(parts) == 2 and ":" not in model and parts[0] else ""


def checked_name(setting: str, value: str) -> str:
    """`value` when Neuronpedia accepts it as an id; ValueError naming `setting` otherwise."""
    if not ID_PATTERN.match(value) or len(value) > 128 or SET_DELIMITER in value:
        raise ValueError(f"{setting}: {value!r} must be 1-128 letters, digits, '-' or '_' (no '{SET_DELIMITER}')")
    return value


def layer_and_kind(hookpoint: str) -> tuple[int, str]:
    """(layer number, hook kind) of a hookpoint: `layers.15` -> (15, res), `layers.5.mlp` -> (5, mlp)."""
    parts = hookpoint.split(".")
    numbers = [i for i, p in enumerate(parts) if p.isdigit()]
    if not numbers:
        raise ValueError(f"hookpoint {hookpoint!r}: no layer number in it, and a Neuronpedia source id starts with one "
                         "(e.g. 15-res-...)")
    at = numbers[0]
    rest = ".".join(parts[at + 1:])
    return int(parts[at]), KINDS.get(rest, slug(rest.replace(".", "-")))


def width(d_sae: int | None) -> str:
    """The latent count as set names write it: `16k` for 16384, else the number."""
    if not d_sae:
        return ""
    return f"{d_sae // 1024}k" if d_sae % 1024 == 0 else str(d_sae)


def source_ids(hookpoints: dict[str, int | None], source_set: str | None = None,
               transcoders: frozenset[str] = frozenset()) -> dict[str, tuple[str, str]]:
    """{hookpoint: (source id, source set name)} from {hookpoint: d_sae}; ValueError when two hookpoints
    would share a source id."""
    if source_set is not None:
        checked_name("source_set", source_set)
    out: dict[str, tuple[str, str]] = {}
    for hookpoint, d_sae in hookpoints.items():
        layer, kind = layer_and_kind(hookpoint)
        kind = "transcoder" if hookpoint in transcoders else kind
        set_name = source_set or "-".join(p for p in (kind, width(d_sae)) if p)
        out[hookpoint] = (f"{layer}-{set_name}", set_name)
    seen: dict[str, str] = {}
    for hookpoint, (source, _) in out.items():
        if source in seen:
            raise ValueError(f"source_set: hookpoints {seen[source]!r} and {hookpoint!r} would both become source "
                             f"{source!r} (same layer and hook kind), and a Neuronpedia source holds one hookpoint")
        seen[source] = hookpoint
    return out


def transcoders(sparse_model: str | None, hookpoints: list[str]) -> frozenset[str]:
    """The hookpoints whose coder is a transcoder, read from a local sparsify folder's `<hookpoint>/cfg.json`
    (no weights load; a hub id or another layout gives none)."""
    found = set()
    for hookpoint in hookpoints:
        cfg = Path(sparse_model or "") / hookpoint / "cfg.json"
        try:
            if sparse_model and json.loads(cfg.read_text()).get("transcode") is True:
                found.add(hookpoint)
        except (OSError, ValueError):
            continue
    return frozenset(found)
