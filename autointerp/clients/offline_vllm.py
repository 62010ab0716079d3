"""The vLLM engine of `OfflineClient` (GPU only; vllm is imported here and nowhere else).

Each request in a batch gets its own `SamplingParams`: vLLM's `generate` takes one per prompt.
"""

from __future__ import annotations

import logging
from typing import Any

from autointerp.clients.base import Message, Response, TokenLogprob
from autointerp.clients.managed import Settings
from autointerp.clients.retry import LLMRequestError

logger = logging.getLogger(__name__)


def _structured(schema_format: dict[str, Any] | None) -> dict[str, Any]:
    """SamplingParams keyword for a JSON response format, for recent and older vLLM releases."""
    if schema_format is None:
        return {}
    if schema_format.get("type") == "json_schema":
        spec: dict[str, Any] = {"json": schema_format.get("json_schema", {}).get("schema", {})}
    else:  # json_object: any JSON object
        spec = {"json_object": True}
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(**spec)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(**spec)}


class VLLMEngine:
    """In-process vLLM; `run` sends one batch with per-request sampling parameters."""

    def __init__(self, model: str, *, max_model_len: int | None = None, seed: int = 0,
                 vllm_kwargs: dict[str, Any] | None = None) -> None:
        """model: a hub id or local folder vLLM can load; vllm_kwargs go to `vllm.LLM`."""
        try:
            import vllm
        except ImportError as err:
            raise ImportError("OfflineClient(backend='vllm') needs vllm installed (a CUDA machine)") from err
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("OfflineClient(backend='vllm') needs a CUDA device; use backend='transformers' on CPU")
        kwargs = {"max_model_len": max_model_len, "seed": seed, **(vllm_kwargs or {})}
        self.llm = vllm.LLM(model=model, **{k: v for k, v in kwargs.items() if v is not None})
        self.tokenizer = self.llm.get_tokenizer()
        model_config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        self.max_model_len = getattr(model_config, "max_model_len", None) or max_model_len or 2**31
        self.batch_sizes: list[int] = []

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        """Token ids of the chat rendered with the model's template."""
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def check(self, prompt: list[int], settings: Settings) -> None:
        """Reject a request that cannot fit the model's context."""
        if len(prompt) + settings.max_tokens > self.max_model_len:
            raise LLMRequestError(f"prompt of {len(prompt)} tokens plus max_tokens={settings.max_tokens} "
                                  f"exceeds max_model_len={self.max_model_len}")

    def params(self, settings: Settings, seed: int) -> Any:
        """The request's own SamplingParams."""
        from vllm import SamplingParams

        return SamplingParams(
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            seed=seed,
            logprobs=settings.top_logprobs if settings.logprobs else None,
            **_structured(settings.response_format),
        )

    def run(self, items: list[tuple[list[int], Settings, int]]) -> list[Response]:
        """Generate for (prompt ids, settings, seed) rows in one vLLM call."""
        self.batch_sizes.append(len(items))
        prompts = [{"prompt_token_ids": ids} for ids, _, _ in items]
        params = [self.params(s, seed) for _, s, seed in items]
        outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        return [self._response(out, s) for out, (_, s, _) in zip(outputs, items)]

    def _response(self, output: Any, settings: Settings) -> Response:
        completion = output.outputs[0]
        logprobs = None
        if settings.logprobs:
            logprobs = []
            for token_id, alternatives in zip(completion.token_ids, completion.logprobs or []):
                chosen = alternatives[token_id]
                top = {lp.decoded_token: float(lp.logprob) for lp in alternatives.values()
                       if lp.rank is not None and lp.rank <= settings.top_logprobs}
                logprobs.append(TokenLogprob(chosen.decoded_token or "", float(chosen.logprob), top))
        return Response(text=completion.text, logprobs=logprobs, prompt_tokens=len(output.prompt_token_ids),
                        completion_tokens=len(completion.token_ids))
