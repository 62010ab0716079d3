"""Scripted judges for the skill-less-judge tests, and the real cache they are tested on.

The cache holds real text (Lee's news corpus from gensim's test data, SmolLM2's tokenizer); latent j
fires on one content token (a different one per latent), so the real `RecordBuilder` builds its
records. The judges are scripted clients whose behaviour is known (house rule 7): always yes, always
no, answers from mark positions only, and an oracle that reads the explanation ("latent j") and
knows where latent j fires in the cache. The oracle finds each excerpt in the cache by its text.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from autointerp.clients.base import Client, Response

CTX, N_ROWS, HP, N_LATENTS = 64, 640, "layers.4", 10
EXCERPT = re.compile(r"^Excerpt \d+: (.*)$", re.MULTILINE)


def news_tokens(tokenizer) -> np.ndarray:
    """int64 [N_ROWS, CTX] of Lee's news corpus."""
    import gensim

    text = (Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor").read_text()
    ids = np.concatenate(tokenizer(text.splitlines())["input_ids"])
    return ids[: N_ROWS * CTX].reshape(N_ROWS, CTX).astype(np.int64)


def firing_tokens(tokens: np.ndarray, tokenizer) -> list[int]:
    """N_LATENTS word tokens that each occur 100-400 times: latent j fires on the j-th."""
    counts = Counter(tokens.reshape(-1).tolist())
    words = [t for t, c in counts.most_common() if 100 <= c <= 400 and tokenizer.decode([t]).strip().isalpha()
             and len(tokenizer.decode([t]).strip()) > 3]
    return words[:N_LATENTS]


def token_latent_nonzeros(tokens: np.ndarray, chosen: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token_index, latent, value): latent j on every occurrence of chosen[j], with a value that
    varies (float16-exact) so that windows fall into different quantiles."""
    flat = tokens.reshape(-1)
    index, latent, value = [], [], []
    for j, t in enumerate(chosen):
        where = np.flatnonzero(flat == t)
        index.append(where)
        latent.append(np.full(len(where), j))
        value.append(1.0 + (where % 7) / 4.0)
    return (np.concatenate(index).astype(np.int64), np.concatenate(latent).astype(np.int64),
            np.concatenate(value).astype(np.float32))


class Oracle:
    """Where each latent fires, and where each excerpt lies in the cache (found by its text)."""

    def __init__(self, reader, records, crop: int) -> None:
        self.ctx = reader.ctx_len
        self.fires = {j: set(reader.latent(HP, j).token_index.tolist()) for j in range(reader.d_sae(HP))}
        self.where: dict[str, tuple[int, tuple[str, ...]]] = {}  # text -> (first token index, tokens)
        for record in records:
            for ex in record.train + record.test + record.negatives:
                toks = tuple(ex.str_tokens)
                for c in range(crop + 1):
                    for width in (len(toks), len(toks) - crop):
                        part = toks[c : c + width]
                        self.where.setdefault("".join(part), (int(ex.row) * self.ctx + int(ex.start) + c, part))

    def locate(self, excerpt: str) -> tuple[int, tuple[str, ...]]:
        """(cache index of the excerpt's first token, its tokens)."""
        return self.where[excerpt.replace("<<", "").replace(">>", "")]

    def firing(self, latent: int, excerpt: str) -> set[int]:
        """Positions of the excerpt where the latent fires."""
        first, toks = self.locate(excerpt)
        return {i for i in range(len(toks)) if first + i in self.fires[latent]}


def marked(excerpt: str, tokens: tuple[str, ...]) -> set[int]:
    """Token positions wrapped in << >> (read back from the characters the marks enclose)."""
    spans, plain, pos, inside = [], [], 0, None
    for part in re.split(r"(<<|>>)", excerpt):
        if part == "<<":
            inside = pos
        elif part == ">>":
            spans.append((inside, pos))
        else:
            plain.append(part)
            pos += len(part)
    out, start = set(), 0
    for i, tok in enumerate(tokens):
        end = start + len(tok)
        if any(a < end and start < b for a, b in spans):
            out.add(i)
        start = end
    return out


class Judge(Client):
    """Answers detection, fuzz and intruder prompts by a rule that sees only the prompt."""

    model = "judge"

    def __init__(self, rule: str, oracle: Oracle | None = None, position: int | None = None) -> None:
        self.rule, self.oracle, self.position = rule, oracle, position

    async def generate(self, messages, **kwargs) -> Response:
        prompt = messages[-1]["content"]
        texts = EXCERPT.findall(prompt)
        if "odd one out" in prompt:
            return Response(text=str(self.intruder(texts)))
        latent = re.search(r"Explanation of the latent: latent (\d+)", prompt)
        return Response(text=str([int(self.verdict(t, int(latent.group(1)))) for t in texts]))

    def verdict(self, text: str, latent: int) -> bool:
        if self.rule in ("yes", "no"):
            return self.rule == "yes"
        if self.rule == "position":  # marks only: yes when a mark sits at the chosen position
            return self.position in marked(text, self.oracle.locate(text)[1])
        fires = self.oracle.firing(latent, text)  # oracle: reads "latent j", knows where j fires
        if "<<" not in text:
            return bool(fires)
        return bool(fires) and marked(text, self.oracle.locate(text)[1]) == fires

    def intruder(self, texts: list[str]) -> int:
        if self.rule in ("yes", "no"):
            return 1
        shown = [marked(t, self.oracle.locate(t)[1]) for t in texts]
        if self.rule == "position":  # the excerpt whose first mark lies farthest from the others' median
            firsts = [min(m) if m else 0 for m in shown]
            return 1 + int(np.argmax([abs(f - np.median(firsts)) for f in firsts]))
        # oracle: the latent that fires exactly on the marks of most excerpts; the intruder is where it does not
        best = max(self.oracle.fires, key=lambda j: sum(self.oracle.firing(j, t) == m for t, m in zip(texts, shown)))
        return 1 + next(i for i, (t, m) in enumerate(zip(texts, shown)) if self.oracle.firing(best, t) != m)
