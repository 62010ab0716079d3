"""The transformers engine of `OfflineClient`: one left-padded batch, each row with its own settings.

`model.generate` applies one set of sampling settings to a whole batch; this loop keeps each row's
own (temperature, max_tokens, logprobs, seed) and still picks every row's token in one batched
computation on the device (`pick_tokens`): greedy rows take the argmax, sampled rows invert their
temperature-scaled CDF at a uniform drawn from the row's own generator (so a request draws the same
tokens alone or in any batch). The host reads one small packed tensor per step, not [B, vocab].
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from typing import Any

from autointerp.clients.base import Message, Response, TokenLogprob
from autointerp.clients.managed import Settings
from autointerp.clients.retry import LLMRequestError

logger = logging.getLogger(__name__)


def row_seed(seed: int, messages: list[Message], settings: Settings) -> int:
    """A per-request seed: the same request and sample index always draw the same tokens."""
    blob = repr((seed, messages, settings.sample, settings.temperature)).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") & (2**63 - 1)


class TransformersEngine:
    """Greedy or sampled generation with a KV cache over a batch of chats; CPU or GPU."""

    def __init__(self, model: str, *, device: str = "cpu", dtype: str | None = None, max_model_len: int | None = None,
                 seed: int = 0) -> None:
        """model: a hub id, a local folder, a .gguf file or `embedded:SmolLM2-135M-Instruct`; dtype None:
        bfloat16 on CUDA, float32 elsewhere."""
        from autointerp.models.subject import load_subject

        if dtype is None and str(device).startswith("cuda"):
            dtype = "bfloat16"  # float32 doubles the memory and halves the speed of generation on a GPU
        self.model, self.tokenizer = load_subject(model, dtype=dtype, device=device)
        self.device = device
        self.seed = seed
        config_len = getattr(self.model.config, "max_position_embeddings", None) or 2048
        self.max_model_len = max_model_len or config_len
        eos = self.model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.stop_ids = set(eos) | ({self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set())
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.stop_ids, default=0)
        self.batch_sizes: list[int] = []  # one entry per batch run, for tests and logs
        # transformers 5 renamed the KV cache argument `past_key_values` to `cache`
        self.cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of a chat rendered with the model's chat template, ready for the reply."""
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def check(self, prompt: list[int], settings: Settings) -> None:
        """Reject a request that cannot fit the model's context."""
        if len(prompt) + settings.max_tokens > self.max_model_len:
            raise LLMRequestError(
                f"prompt of {len(prompt)} tokens plus max_tokens={settings.max_tokens} exceeds the "
                f"offline model's context of {self.max_model_len} tokens"
            )

    def run(self, items: list[tuple[list[int], Settings, int]]) -> list[Response]:
        """Generate for (prompt ids, settings, seed) rows in one batch."""
        import torch

        self.batch_sizes.append(len(items))
        prompts = [ids for ids, _, _ in items]
        settings = [s for _, s, _ in items]
        generators = [torch.Generator().manual_seed(seed) for _, _, seed in items]
        width = max(len(p) for p in prompts)
        # [B, width], left padded so every row's next token sits in the last column
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        tokens: list[list[int]] = [[] for _ in items]
        logprobs: list[list[TokenLogprob]] = [[] for _ in items]
        done = [False] * len(items)
        temperatures = torch.tensor([s.temperature for s in settings], dtype=torch.float32, device=self.device)
        sampled = any(s.temperature > 0 for s in settings)
        top = max((s.top_logprobs for s in settings if s.logprobs), default=0)
        past = None
        with torch.inference_mode():
            for _ in range(max(s.max_tokens for s in settings)):
                positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -input_ids.shape[1]:]
                out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                 use_cache=True, logits_to_keep=1, **{self.cache_arg: past})
                past = out[self.cache_arg]
                # one uniform per sampled row from its own CPU generator: no device involved
                uniforms = torch.tensor([float(torch.rand((), generator=g)) if s.temperature > 0 else 0.0
                                         for g, s in zip(generators, settings)], device=self.device)
                # [B, 2 + 2 * top] on the host: ONE device sync per step for the whole batch
                picked = pick_tokens(out.logits[:, -1, :], temperatures, uniforms, top, sampled).cpu()
                chosen = [self._step(b, picked[b], settings[b], top, tokens, logprobs, done) for b in range(len(items))]
                if all(done):
                    break
                input_ids = torch.tensor(chosen, device=self.device).unsqueeze(1)  # [B, 1]
                mask = torch.cat([mask, torch.ones_like(input_ids)], dim=1)
        return [self._response(prompts[b], tokens[b], logprobs[b], settings[b]) for b in range(len(items))]

    def _step(self, b: int, row: Any, s: Settings, top: int, tokens: list[list[int]],
              logprobs: list[list[TokenLogprob]], done: list[bool]) -> int:
        """Take row b's picked token (a row of `pick_tokens`); mark the row done at a stop token or its max_tokens."""
        if done[b]:
            return self.pad_id
        token = int(row[0])
        if token in self.stop_ids:
            done[b] = True
            return self.pad_id
        tokens[b].append(token)
        if s.logprobs:
            k = s.top_logprobs
            values, indices = row[2 : 2 + k].tolist(), row[2 + top : 2 + top + k].tolist()
            alternatives = {self.tokenizer.decode([int(i)]): float(v) for v, i in zip(values, indices)}
            logprobs[b].append(TokenLogprob(self.tokenizer.decode([token]), float(row[1]), alternatives))
        done[b] = len(tokens[b]) >= s.max_tokens
        return token

    def _response(self, prompt: list[int], tokens: list[int], logprobs: list[TokenLogprob], s: Settings) -> Response:
        return Response(
            text=self.tokenizer.decode(tokens, skip_special_tokens=True),
            logprobs=logprobs if s.logprobs else None,
            prompt_tokens=len(prompt),
            completion_tokens=len(tokens),
        )


def pick_tokens(logits: Any, temperatures: Any, uniforms: Any, top: int = 0, sampled: bool = True) -> Any:
    """Every row's next token in one batched computation, packed as float64 [B, 2 + 2 * top]:
    (token, its log-prob, `top` best log-probs, their token ids).

    logits [B, vocab]; temperatures [B] (0: greedy); uniforms [B] in [0, 1), used by rows with a
    temperature: the token is the first whose cumulative probability exceeds the uniform."""
    import torch

    logprobs = torch.log_softmax(logits.float(), dim=-1)  # [B, vocab]
    token = logprobs.argmax(dim=-1)
    if sampled:  # greedy rows get a harmless scale and keep their argmax below
        cdf = torch.softmax(logprobs / temperatures.clamp(min=1e-6)[:, None], dim=-1).cumsum(dim=-1)
        target = (uniforms * cdf[:, -1])[:, None]
        draw = torch.searchsorted(cdf, target, right=True).squeeze(1).clamp(max=logits.shape[-1] - 1)
        token = torch.where(temperatures > 0, draw, token)
    columns = [token[:, None].double(), logprobs.gather(1, token[:, None]).double()]
    if top:
        best = logprobs.topk(top, dim=-1)
        columns += [best.values.double(), best.indices.double()]
    return torch.cat(columns, dim=1)
